"""The typed rejections of transfers and resale (their `code` is a ProblemCode of contract/next.graphql)."""

from __future__ import annotations

from ..errors import BookingError


class TicketIsVoid(BookingError):
    """Refunded, cancelled, transferred away or resold: it admits nobody."""

    code = "TICKET_VOID"


class TicketCheckedIn(BookingError):
    code = "ALREADY_CHECKED_IN"


class ShowIsCancelled(BookingError):
    code = "SHOW_CANCELLED"


class TicketListed(BookingError):
    """Offered for resale: withdraw the listing first."""

    code = "INVALID_INPUT"


class TransferAlreadyPending(BookingError):
    """Offered to someone already: cancel that transfer first."""

    code = "INVALID_INPUT"


class TransferNotPending(BookingError):
    code = "TRANSFER_NOT_PENDING"


class AboveResaleCap(BookingError):
    code = "ABOVE_RESALE_CAP"


class ListingHeld(BookingError):
    """A buyer is checking out this listing: it cannot be withdrawn or held by another until that ends."""

    code = "SEATS_UNAVAILABLE"


class ListingGone(BookingError):
    """Sold or withdrawn."""

    code = "SEATS_UNAVAILABLE"
