"""Expected failures of the domain. The GraphQL layer maps them to the contract's Problem types."""

from __future__ import annotations

from collections.abc import Sequence


class BookingError(Exception):
    """An expected, typed rejection: `code` is a ProblemCode name of the contract."""

    code = "INVALID_INPUT"

    def __init__(self, message: str, *, field: str | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after_s = retry_after_s


class InvalidInput(BookingError):
    code = "INVALID_INPUT"


class NotFound(BookingError):
    code = "NOT_FOUND"


class Unauthenticated(BookingError):
    code = "UNAUTHENTICATED"


class Forbidden(BookingError):
    code = "FORBIDDEN"


class EmailTaken(BookingError):
    code = "EMAIL_TAKEN"


class InvalidCredentials(BookingError):
    code = "INVALID_CREDENTIALS"


class NotOnSale(BookingError):
    code = "NOT_ON_SALE"


class LimitExceeded(BookingError):
    code = "LIMIT_EXCEEDED"


class HoldNotActive(BookingError):
    code = "HOLD_NOT_ACTIVE"


class AdmissionRequired(BookingError):
    code = "ADMISSION_REQUIRED"


class IdempotencyConflict(BookingError):
    code = "IDEMPOTENCY_CONFLICT"


class PaymentDeclined(BookingError):
    code = "PAYMENT_DECLINED"


class RateLimited(BookingError):
    code = "RATE_LIMITED"


class DatabaseUnavailable(RateLimited):
    """PostgreSQL could not be reached mid-call (a failover, a pooler restart): try again, with the
    same idempotency key, which settles whether the first attempt took effect (db.database_unavailable)."""

    def __init__(self) -> None:
        super().__init__("The service is briefly unavailable; try again with the same idempotency key.",
                         retry_after_s=1.0)


class SeatsUnavailable(BookingError):
    code = "SEATS_UNAVAILABLE"

    def __init__(self, message: str, seat_ids: Sequence[str]) -> None:
        super().__init__(message)
        self.seat_ids = list(seat_ids)


class NotRefundable(BookingError):
    code = "NOT_REFUNDABLE"


class ShowCancelled(BookingError):
    code = "SHOW_CANCELLED"
