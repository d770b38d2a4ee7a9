"""Expected failures as data: the Problem interface and the mutations' result unions."""

from __future__ import annotations

from typing import Annotated, Union

import strawberry

from ..booking.errors import BookingError, SeatsUnavailable as SeatsUnavailableError
from .booking_types import AuthPayload, Hold, Order, WaitingRoomTicket, WaitlistEntry
from .catalog_types import Event, Show, Venue
from .door_types import CheckIn
from .enums import ProblemCode


@strawberry.interface
class Problem:
    code: ProblemCode
    message: str


@strawberry.type(description="An expected failure: what went wrong, and which input field it concerns.")
class Rejected(Problem):
    field: str | None = None
    retry_after_seconds: float | None = strawberry.field(
        default=None, description="With RATE_LIMITED: try again after this many seconds.")


@strawberry.type
class SeatsUnavailable(Problem):
    seat_ids: list[strawberry.ID] = strawberry.field(
        description="The requested seats that someone else holds or bought.")


def rejected(err: BookingError) -> Rejected:
    """The one mapping from domain errors to the contract's Rejected type."""
    return Rejected(code=ProblemCode(err.code), message=err.message, field=err.field,
                    retry_after_seconds=err.retry_after_s)


def problem(err: BookingError) -> Rejected | SeatsUnavailable:
    """For results that can say which seats were taken (HoldResult)."""
    if isinstance(err, SeatsUnavailableError):
        return SeatsUnavailable(code=ProblemCode.SEATS_UNAVAILABLE, message=err.message,
                                seat_ids=[strawberry.ID(s) for s in err.seat_ids])
    return rejected(err)


AuthResult = Annotated[Union[AuthPayload, Rejected], strawberry.union("AuthResult")]
VenueResult = Annotated[Union[Venue, Rejected], strawberry.union("VenueResult")]
EventResult = Annotated[Union[Event, Rejected], strawberry.union("EventResult")]
ShowResult = Annotated[Union[Show, Rejected], strawberry.union("ShowResult")]
HoldResult = Annotated[Union[Hold, SeatsUnavailable, Rejected], strawberry.union("HoldResult")]
OrderResult = Annotated[Union[Order, Rejected], strawberry.union("OrderResult")]
WaitingRoomResult = Annotated[Union[WaitingRoomTicket, Rejected], strawberry.union("WaitingRoomResult")]
CheckInResult = Annotated[Union[CheckIn, Rejected], strawberry.union("CheckInResult")]
WaitlistResult = Annotated[Union[WaitlistEntry, Rejected], strawberry.union("WaitlistResult")]
