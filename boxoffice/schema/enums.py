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
    SHOW_CANCELLED = "SHOW_CANCELLED"
    ORDER_REFUNDED = "ORDER_REFUNDED"
    TICKET_TRANSFERRED = "TICKET_TRANSFERRED"
    WAITLIST_OFFER = "WAITLIST_OFFER"
    RESALE_SOLD = "RESALE_SOLD"


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
    ALREADY_CHECKED_IN = "ALREADY_CHECKED_IN"
    TICKET_VOID = "TICKET_VOID"
    WRONG_SHOW = "WRONG_SHOW"
    NOT_REFUNDABLE = "NOT_REFUNDABLE"
    SHOW_CANCELLED = "SHOW_CANCELLED"
    ABOVE_RESALE_CAP = "ABOVE_RESALE_CAP"
    TRANSFER_NOT_PENDING = "TRANSFER_NOT_PENDING"


@strawberry.enum
class ShowStatus(Enum):
    SCHEDULED = "SCHEDULED"
    CANCELLED = "CANCELLED"


@strawberry.enum
class TicketStatus(Enum):
    VALID = "VALID"
    CHECKED_IN = "CHECKED_IN"
    VOID = strawberry.enum_value("VOID", description="Refunded, cancelled, transferred away or resold.")


@strawberry.enum
class TransferStatus(Enum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    CANCELLED = "CANCELLED"


@strawberry.enum
class WaitlistStatus(Enum):
    WAITING = "WAITING"
    OFFERED = "OFFERED"
    FULFILLED = "FULFILLED"
    EXPIRED = "EXPIRED"
    LEFT = "LEFT"


@strawberry.enum
class ResaleStatus(Enum):
    LISTED = "LISTED"
    SOLD = "SOLD"
    WITHDRAWN = "WITHDRAWN"
