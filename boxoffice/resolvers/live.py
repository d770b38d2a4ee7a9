"""seatChanges: the GraphQL face of the seat hub."""

from __future__ import annotations

from collections.abc import AsyncIterator

import strawberry
from graphql import GraphQLError

from ..booking.catalog.browse import can_see_event
from ..schema.catalog_types import Info, SeatChange, SeatDelta, SectionAvailability, parse_id
from ..schema.enums import SeatStatus
from ..schema.shared_events import DirectFrames
from ..subscriptions.seat_stream import HubClosed, SeatStreamClosed
from ..subscriptions.seat_stream import SeatDelta as HubDelta

_STATUS = {s.value: s for s in SeatStatus}


def _delta(d: HubDelta) -> SeatDelta:
    """The GraphQL view of a hub delta, built once however many subscribers receive it."""
    view = d.renderings.get("graphql")
    if isinstance(view, SeatDelta):
        return view
    view = SeatDelta(
        show_id=strawberry.ID(d.show_id),
        version=d.version,
        seats=[SeatChange(seat_id=strawberry.ID(c.seat_id), status=_STATUS[c.status], version=c.version)
               for c in d.seats],
        sections=[SectionAvailability(section_id=strawberry.ID(s.section_id), name=s.name,
                                      general_admission=s.general_admission, capacity=s.capacity,
                                      available=s.available) for s in d.sections])
    d.renderings["graphql"] = view
    return view


async def seat_changes(info: Info, show_id: strawberry.ID, since_version: int | None) -> AsyncIterator[SeatDelta]:
    sid = parse_id(show_id)
    show = await info.context.loaders.shows.load(sid) if sid else None
    if show is None or not can_see_event(info.context.viewer, show.event_status, show.organizer_id):
        raise GraphQLError("No such show.", extensions={"code": "NOT_FOUND"})  # drafts look missing
    if since_version is not None and since_version < 0:
        raise GraphQLError("sinceVersion is not negative.", extensions={"code": "INVALID_INPUT"})
    if show.status == "cancelled":  # nothing of it is on sale: its map offers no seat
        raise GraphQLError("This show was cancelled.", extensions={"code": "SHOW_CANCELLED"})
    # Over graphql-transport-ws the hub's flush writes live deltas to the socket itself; this
    # generator then yields only the replay and whatever could not be written at once.
    frames = info.root_value
    deliver = frames.writer(_delta) if isinstance(frames, DirectFrames) else None
    try:
        async with info.context.services.hub.subscribe(str(show.id), since_version, deliver) as deltas:
            async for delta in deltas:
                yield _delta(delta)
    except HubClosed as closed:
        raise GraphQLError(f"The server is shutting down: {closed.reason}. Reconnect with sinceVersion.",
                           extensions={"code": "SERVER_SHUTDOWN"}) from None
    except SeatStreamClosed as closed:
        raise GraphQLError(f"{closed.reason} Reload the map and subscribe again with sinceVersion.",
                           extensions={"code": "TOO_SLOW"}) from None
