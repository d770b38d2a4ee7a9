"""The waiting room as fans and organizers use it: settings, entering, tickets, admission checks."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .admission import AdmissionRejected
from ..catalog.browse import can_see_event, get_show
from ..errors import AdmissionRequired, Forbidden, InvalidInput, NotFound, ShowCancelled, Unauthenticated
from ..catalog.organize import require_organizer
from .queue_store import WaitingRoomUnavailable
from ..records import ShowRecord, Viewer, WaitingRoomView
from .room import ShowRoomSettings, WaitingRoom, WaitingRoomTicket


def view(ticket: WaitingRoomTicket, show_id: uuid.UUID, user_id: uuid.UUID) -> WaitingRoomView:
    """The ticket of `user_id` for `show_id` (the caller's own ids: the ticket's strings need no parsing)."""
    return WaitingRoomView(ticket_id=ticket.ticket_id, show_id=show_id,
                           user_id=user_id, status=str(ticket.status), position=ticket.position,
                           estimated_wait_seconds=ticket.estimated_wait_seconds,
                           admission_token=ticket.admission_token, admission_expires_at=ticket.admission_expires_at)


async def configure_waiting_room(engine: AsyncEngine, viewer: Viewer | None, show_id: uuid.UUID, *, enabled: bool,
                                 admit_per_minute: int, admission_ttl_seconds: int | None) -> ShowRecord:
    viewer = require_organizer(viewer)
    show = await get_show(engine, show_id)
    if show is None:
        raise NotFound("No such show.", field="showId")
    if viewer.role != "admin" and viewer.user_id != show.organizer_id:
        raise Forbidden("That show belongs to another organizer.")
    if not 1 <= admit_per_minute <= 100_000:
        raise InvalidInput("admitPerMinute is between 1 and 100,000.", field="admitPerMinute")
    ttl = show.admission_ttl_seconds if admission_ttl_seconds is None else admission_ttl_seconds
    if not 60 <= ttl <= 7200:
        raise InvalidInput("admissionTtlSeconds is between 60 and 7200.", field="admissionTtlSeconds")
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE shows SET waiting_room_enabled = :e, admit_per_minute = :r, "
                                "admission_ttl_seconds = :t WHERE id = :s"),
                           {"e": enabled, "r": admit_per_minute, "t": ttl, "s": show_id})
    updated = await get_show(engine, show_id)
    assert updated is not None
    return updated


async def enter_waiting_room(load_show: Callable[[uuid.UUID], Awaitable[ShowRecord | None]], room: WaitingRoom,
                             viewer: Viewer | None, show_id: uuid.UUID) -> WaitingRoomView:
    """`load_show` is the process's show cache (catalog.ShowCache.get): a crowd entering costs one
    Redis round trip each and no database read; a change of the room's settings reaches every
    process within the cache's second."""
    if viewer is None:
        raise Unauthenticated("Sign in to join the waiting room.")
    show = await load_show(show_id)
    if show is None or not can_see_event(viewer, show.event_status, show.organizer_id):
        raise NotFound("No such show.", field="showId")
    if show.status == "cancelled":  # the room closed with the show (booking/refunds/cancel_show.py)
        raise ShowCancelled("This show was cancelled.", field="showId")
    if not show.waiting_room_enabled:
        raise InvalidInput("This show has no waiting room: hold seats directly.", field="showId")
    try:
        ticket = await room.enter(str(show.id), str(viewer.user_id), on_sale_at=show.on_sale_at)
    except WaitingRoomUnavailable:
        raise AdmissionRequired("The waiting room is unavailable right now; please try again shortly.") from None
    return view(ticket, show.id, viewer.user_id)


async def ticket_of_viewer(room: WaitingRoom, viewer: Viewer | None, ticket_id: str) -> WaitingRoomView | None:
    """The caller's ticket, None when it is not theirs (or no ticket); WaitingRoomUnavailable when the
    queue cannot be read: "not yours" and "try again" are different answers."""
    if viewer is None:
        return None
    ticket = await room.get_ticket(ticket_id)
    if ticket is None or ticket.user_id != str(viewer.user_id):
        return None
    return view(ticket, uuid.UUID(ticket.show_id), viewer.user_id)


def admission_check(room: WaitingRoom):  # type: ignore[no-untyped-def]
    """The holdSeats guard for shows with the room enabled (needs no Redis: tokens are signed)."""
    async def check(show: ShowRecord, viewer: Viewer, token: str | None) -> None:
        try:
            room.verify_admission(token, str(viewer.user_id), str(show.id))
        except AdmissionRejected as err:
            raise AdmissionRequired(f"Admission required: {err.message}", field="admissionToken") from None
    return check


async def rooms_to_promote(engine: AsyncEngine) -> list[ShowRoomSettings]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT id, admit_per_minute, admission_ttl_seconds, on_sale_at FROM shows "
            "WHERE waiting_room_enabled AND status = 'scheduled' AND starts_at > :now"), {"now": datetime.now(timezone.utc)})).all()
    return [ShowRoomSettings(show_id=str(r.id), admit_per_minute=r.admit_per_minute,
                             admission_ttl_s=r.admission_ttl_seconds, on_sale_at=r.on_sale_at) for r in rows]
