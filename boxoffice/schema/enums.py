from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum
class Role(Enum):
    FAN = "fan"
    ORGANIZER = "organizer"
    ADMIN = "admin"


@strawberry.enum
class EventStatus(Enum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


@strawberry.enum
class SeatStatus(Enum):
    AVAILABLE = "A"
    HELD = "H"
    SOLD = "S"
    BLOCKED = "B"


@strawberry.enum
class HoldStatus(Enum):
    ACTIVE = "active"
    RELEASED = "released"
    EXPIRED = "expired"
    CONVERTED = "converted"


@strawberry.enum
class OrderStatus(Enum):
    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    DISPUTED = strawberry.enum_value("disputed", description="The buyer charged the payment back: its tickets are void.")


@strawberry.enum
class PaymentStatus(Enum):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"


@strawberry.enum
class NotificationKind(Enum):
    ORDER_CONFIRMED = "ORDER_CONFIRMED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    HOLD_EXPIRED = "HOLD_EXPIRED"
    ORDER_CANCELLED = "ORDER_CANCELLED"


@strawberry.enum
class QueueStatus(Enum):
    WAITING = "WAITING"
    ADMITTED = "ADMITTED"
    EXPIRED = "EXPIRED"


@strawberry.enum
class ProblemCode(Enum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    NOT_ON_SALE = "NOT_ON_SALE"
    SEATS_UNAVAILABLE = "SEATS_UNAVAILABLE"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    HOLD_NOT_ACTIVE = "HOLD_NOT_ACTIVE"
    ADMISSION_REQUIRED = "ADMISSION_REQUIRED"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    RATE_LIMITED = "RATE_LIMITED"
