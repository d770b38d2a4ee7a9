"""Waiting room: configureWaitingRoom, enterWaitingRoom, the ticket query and its subscription."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import strawberry
from graphql import GraphQLError

from ..booking.errors import RateLimited
from ..booking.waiting_room import access as waiting_access
from ..booking.waiting_room.queue_store import WaitingRoomUnavailable
from ..booking.records import ShowRecord, WaitingRoomView
from ..schema.booking_types import WaitingRoomTicket
from ..schema.catalog_types import Info, Show
from ..schema.field_errors import query_error
from ..schema.inputs import WaitingRoomInput
from ..schema.results import ShowResult, WaitingRoomResult
from .problems import attempt, id_or_reject

REFRESH_S = 5.0  # the ETA moves even when nobody is admitted: refresh now and then


def waiting_room_channel(show_id: str) -> str:
    return f"waitingroom:{show_id}"


async def configure_waiting_room(info: Info, show_id: strawberry.ID, input: WaitingRoomInput) -> ShowResult:
    ctx = info.context

    async def call() -> ShowRecord:
        sid = uuid.UUID(id_or_reject(show_id, "showId"))
        show = await waiting_access.configure_waiting_room(
            ctx.engine, ctx.viewer, sid, enabled=input.enabled, admit_per_minute=input.admit_per_minute,
            admission_ttl_seconds=input.admission_ttl_seconds)
        ctx.services.shows.clear()
        return show

    return await attempt(call, lambda s: Show(record=s))


async def enter_waiting_room(info: Info, show_id: strawberry.ID) -> WaitingRoomResult:
    ctx = info.context

    async def call() -> WaitingRoomView:
        sid = uuid.UUID(id_or_reject(show_id, "showId"))
        return await waiting_access.enter_waiting_room(ctx.services.shows.get, ctx.services.waiting_room,
                                                       ctx.viewer, sid)

    return await attempt(call, WaitingRoomTicket.of)


def _unavailable() -> GraphQLError:
    """The queue (Redis) cannot be read now: a typed, retryable refusal, not "no such ticket"."""
    return query_error(RateLimited("The waiting room cannot be read right now; try again in a moment.",
                                   retry_after_s=1))


async def waiting_room_ticket(info: Info, id: strawberry.ID) -> WaitingRoomTicket | None:
    try:
        found = await waiting_access.ticket_of_viewer(info.context.services.waiting_room, info.context.viewer, str(id))
    except WaitingRoomUnavailable:
        raise _unavailable() from None
    return WaitingRoomTicket.of(found) if found else None


async def waiting_room_updates(info: Info, ticket_id: strawberry.ID) -> AsyncIterator[WaitingRoomTicket]:
    """The ticket now, then whenever the promoter moves the queue (and every few seconds)."""
    room, viewer = info.context.services.waiting_room, info.context.viewer
    try:
        ticket = await waiting_access.ticket_of_viewer(room, viewer, str(ticket_id))
    except WaitingRoomUnavailable:
        raise _unavailable() from None
    if ticket is None:
        raise GraphQLError("No such waiting-room ticket.", extensions={"code": "NOT_FOUND"})
    async with info.context.services.bus.subscribe(waiting_room_channel(str(ticket.show_id))) as moves:
        yield WaitingRoomTicket.of(ticket)
        moved = aiter(moves)
        while ticket.status != "EXPIRED":
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(anext(moved), REFRESH_S)
            try:
                fresh = await waiting_access.ticket_of_viewer(room, viewer, str(ticket_id))
            except WaitingRoomUnavailable:  # a Redis blip: the fan keeps their place; read it next time
                continue
            if fresh is None:
                return
            if fresh != ticket:
                ticket = fresh
                yield WaitingRoomTicket.of(ticket)
