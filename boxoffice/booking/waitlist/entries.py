"""Joining and leaving a show's waitlist, and a fan's entries with their places in line.

A fan joins only when nothing on open sale fits (fewer than `quantity` places of their tier are
available now): otherwise there is nothing to wait for, and the join is INVALID_INPUT saying so. One
live entry (waiting or offered) per fan and show (a unique index): joining again with the same
quantity and tier gives the same entry back, anything else asks them to leave first. `quantity` is
at most the show's per-fan ticket limit.

Position: 1 + the WAITING entries of the show created before this one that compete for the same
places (same tier, or either one open to every tier). It is what the offer job (offers.py) follows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ...db import reading
from ..catalog.browse import can_see_event, get_show
from ..errors import InvalidInput, NotFound, Unauthenticated
from ..inventory.hold_release import release_hold
from ..inventory.holds import check_on_sale
from ..records import ChangeSet, Viewer


@dataclass(frozen=True, slots=True)
class WaitlistRecord:
    id: uuid.UUID
    show_id: uuid.UUID
    user_id: uuid.UUID
    quantity: int
    price_tier_id: uuid.UUID | None
    status: str  # waiting | offered | fulfilled | expired | left
    position: int | None  # 1 is next; None unless waiting
    offer_hold_id: uuid.UUID | None  # the hold made for this fan, while offered
    created_at: datetime


_COLUMNS = "w.id, w.show_id, w.user_id, w.quantity, w.price_tier_id, w.status, w.offer_hold_id, w.created_at"
# Entries ahead in line: same show, waiting, earlier, competing for the same tier.
_POSITION = (
    "CASE WHEN w.status = 'waiting' THEN 1 + (SELECT count(*) FROM waitlist_entries a "
    "  WHERE a.show_id = w.show_id AND a.status = 'waiting' AND (a.created_at, a.id) < (w.created_at, w.id) "
    "  AND (a.price_tier_id IS NULL OR w.price_tier_id IS NULL OR a.price_tier_id = w.price_tier_id)) END "
    "AS position")


def _record(r: Any) -> WaitlistRecord:
    return WaitlistRecord(id=r.id, show_id=r.show_id, user_id=r.user_id, quantity=r.quantity,
                          price_tier_id=r.price_tier_id, status=r.status, position=r.position,
                          offer_hold_id=r.offer_hold_id if r.status == "offered" else None,
                          created_at=r.created_at)


def _uuid(value: str | None, field: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError):
        raise InvalidInput("That id does not name anything here.", field=field) from None


async def _entry(conn: Any, entry_id: uuid.UUID) -> WaitlistRecord | None:
    row = (await conn.execute(text(f"SELECT {_COLUMNS}, {_POSITION} FROM waitlist_entries w WHERE w.id = :e"),
                              {"e": entry_id})).first()
    return _record(row) if row is not None else None


async def join_waitlist(engine: AsyncEngine, viewer: Viewer | None, show_id: str, quantity: int,
                        price_tier_id: str | None) -> WaitlistRecord:
    if viewer is None:
        raise Unauthenticated("Sign in to join a waitlist.")
    sid = _uuid(show_id, "showId")
    tier = _uuid(price_tier_id, "priceTierId")
    assert sid is not None
    show = await get_show(engine, sid)
    if show is None or not can_see_event(viewer, show.event_status, show.organizer_id):
        raise NotFound("No such show.", field="showId")
    check_on_sale(show, datetime.now(timezone.utc))
    if not 1 <= quantity <= show.max_tickets_per_user:
        raise InvalidInput(f"Wait for 1 to {show.max_tickets_per_user} tickets.", field="quantity")
    async with engine.begin() as conn:
        state = (await conn.execute(text(
            "SELECT sh.status AS show_status, "
            "  (CAST(:t AS uuid) IS NULL OR EXISTS (SELECT 1 FROM price_tiers pt WHERE pt.id = :t AND pt.show_id = :s)) "
            "  AS tier_ok, "
            # Enough on sale to fit: counted up to `quantity` only (a sold-out show is read once through).
            "  (SELECT count(*) FROM (SELECT 1 FROM show_seats ss JOIN show_sections sc ON sc.show_id = ss.show_id "
            "     AND sc.section_id = ss.section_id AND sc.price_cents IS NOT NULL "
            "   WHERE ss.show_id = :s AND (CAST(:t AS uuid) IS NULL OR sc.price_tier_id = :t) "
            "     AND (ss.status = 'A' OR (ss.status = 'H' AND ss.hold_expires_at <= now())) LIMIT :q) free) "
            "  AS available "
            "FROM shows sh WHERE sh.id = :s"), {"s": sid, "t": tier, "q": quantity})).one()
        if state.show_status != "scheduled":
            raise InvalidInput("This show is cancelled.", field="showId")
        if not state.tier_ok:
            raise InvalidInput("That price tier is not one of this show's.", field="priceTierId")
        # Joining again answers the fan's entry (a retried request), whatever is on sale meanwhile
        # (an offer to them holds seats; others may be back on sale).
        existing = (await conn.execute(text(
            f"SELECT {_COLUMNS}, {_POSITION} FROM waitlist_entries w WHERE w.show_id = :s AND w.user_id = :u "
            "AND w.status IN ('waiting', 'offered')"), {"s": sid, "u": viewer.user_id})).first()
        if existing is None and state.available >= quantity:
            raise InvalidInput("Tickets that fit are on sale right now: pick seats instead of waiting.",
                               field="quantity")
        if existing is None:
            try:
                async with conn.begin_nested():
                    entry_id = (await conn.execute(text(
                        "INSERT INTO waitlist_entries (show_id, user_id, quantity, price_tier_id) "
                        "VALUES (:s, :u, :q, :t) RETURNING id"),
                        {"s": sid, "u": viewer.user_id, "q": quantity, "t": tier})).scalar_one()
            except IntegrityError:  # a concurrent twin joined first: that entry is the answer
                entry_id = None
            if entry_id is not None:
                record = await _entry(conn, entry_id)
                assert record is not None
                return record
            existing = (await conn.execute(text(
                f"SELECT {_COLUMNS}, {_POSITION} FROM waitlist_entries w WHERE w.show_id = :s AND w.user_id = :u "
                "AND w.status IN ('waiting', 'offered')"), {"s": sid, "u": viewer.user_id})).one()
    if existing.quantity != quantity or existing.price_tier_id != tier:
        raise InvalidInput("You are already on this show's waitlist; leave it first to change what you wait for.",
                           field="showId")
    return _record(existing)


async def leave_waitlist(engine: AsyncEngine, viewer: Viewer | None,
                         entry_id: str) -> tuple[WaitlistRecord, ChangeSet]:
    """Leaving while offered lets the offer go too: the hold is released, and its seats pass on (the
    holds trigger of migration 0014 has already marked the entry 'left')."""
    if viewer is None:
        raise Unauthenticated("Sign in to leave a waitlist.")
    eid = _uuid(entry_id, "entryId")
    async with engine.begin() as conn:
        row = (await conn.execute(text(
            "UPDATE waitlist_entries SET status = 'left', ended_at = now() WHERE id = :e AND user_id = :u "
            "AND status = 'waiting' RETURNING id"), {"e": eid, "u": viewer.user_id})).first()
        record = await _entry(conn, eid)  # type: ignore[arg-type]
    if record is None or record.user_id != viewer.user_id:
        raise NotFound("No such waitlist entry.", field="entryId")
    changes = ChangeSet()
    if row is None and record.status == "offered" and record.offer_hold_id is not None:
        _, changes = await release_hold(engine, viewer, record.offer_hold_id)  # the release path, locks and all
        async with reading(engine) as conn:
            record = await _entry(conn, record.id)
        assert record is not None
    return record, changes


async def waitlist_of_user(engine: AsyncEngine, user_id: uuid.UUID, *, first: int = 50) -> list[WaitlistRecord]:
    """Newest first: live entries, then the ended ones."""
    async with reading(engine) as conn:
        rows = (await conn.execute(text(
            f"SELECT {_COLUMNS}, {_POSITION} FROM waitlist_entries w WHERE w.user_id = :u "
            "ORDER BY (w.status IN ('waiting', 'offered')) DESC, w.created_at DESC LIMIT :n"),
            {"u": user_id, "n": first})).all()
    return [_record(r) for r in rows]
