"""Ending holds: released by their fan, or lapsed and swept. The seats go back on sale and a
pending order of the hold is cancelled, in one transaction.

Lock order: a release takes the hold's pending order row before anything else, as a payment
settling that order does (booking/payments.py); then the show's shared lock, the hold, and the seat
rows in primary-key order, as group-committed holds do. The sweeper takes lapsed holds first, so it
skips (SKIP LOCKED) any hold whose order row a payment holds, and ends it on a later pass.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .errors import HoldNotActive, NotFound, Unauthenticated
from .holds import get_holds
from .records import ChangeSet, HoldRecord, Viewer
from .seatmap import lock_show_for_change, move_seats


async def release_hold(engine: AsyncEngine, viewer: Viewer | None, hold_id: uuid.UUID) -> tuple[HoldRecord, ChangeSet]:
    if viewer is None:
        raise Unauthenticated("Sign in to release a hold.")
    hold = (await get_holds(engine, [hold_id])).get(hold_id)
    if hold is None or hold.user_id != viewer.user_id:
        raise NotFound("No such hold.", field="holdId")
    if hold.status == "converted":
        raise HoldNotActive("This hold was paid for; it cannot be released.", field="holdId")
    changes = ChangeSet()
    if hold.status != "active":
        return hold, changes  # releasing again, or after expiry, changes nothing
    async with engine.begin() as conn:
        # Its pending order's row first, as a payment settling that order does (order, seats, hold):
        # the two then queue on the order row instead of deadlocking on the seats and the hold.
        pending = (await conn.execute(text(
            "SELECT id FROM orders WHERE hold_id = :h AND status = 'pending_payment' FOR UPDATE"),
            {"h": hold_id})).first()
        await lock_show_for_change(conn, hold.show_id)
        ended = (await conn.execute(text(
            "UPDATE holds SET status = 'released', ended_at = now() WHERE id = :h AND status = 'active' "
            "AND expires_at > now() RETURNING id"), {"h": hold_id})).first()
        if ended is not None:
            await free_places(conn, {hold.show_id: [hold_id]}, changes)
            if pending is not None:
                await conn.execute(text("UPDATE orders SET status = 'cancelled' WHERE id = :o"), {"o": pending.id})
                changes.orders.add(pending.id)
    refreshed = (await get_holds(engine, [hold_id]))[hold_id]
    if refreshed.status == "converted":  # its payment settled while this waited for the order row
        raise HoldNotActive("This hold was paid for; it cannot be released.", field="holdId")
    return refreshed, changes


async def free_places(conn: AsyncConnection, holds_by_show: dict[uuid.UUID, list[uuid.UUID]],
                      changes: ChangeSet) -> None:
    """Puts back on sale every place still held by these holds (not those re-held by others since)."""
    for show_id, hold_ids in holds_by_show.items():
        for change in await move_seats(conn, show_id, where="ss.hold_id = ANY(:h) AND ss.status = 'H'", to="A",
                                       also_set="hold_id = NULL, hold_expires_at = NULL", params={"h": hold_ids}):
            changes.add(show_id, change)


async def release_expired_holds(engine: AsyncEngine, *, batch: int = 500) -> tuple[int, ChangeSet]:
    """Ends holds past their expiry; SKIP LOCKED lets every server process run this at once."""
    changes = ChangeSet()
    async with engine.begin() as conn:
        # A hold whose order a payment is settling right now (its order row locked) is left for the
        # next pass: the payment locks order, seats, hold; this locks hold, seats, order.
        expired = (await conn.execute(text(
            "WITH due AS (SELECT id FROM holds WHERE status = 'active' AND expires_at <= now() "
            "  ORDER BY expires_at LIMIT :n FOR UPDATE SKIP LOCKED), "
            "pending AS (SELECT hold_id FROM orders WHERE hold_id IN (SELECT id FROM due) "
            "  AND status = 'pending_payment'), "
            "free AS (SELECT hold_id FROM orders WHERE hold_id IN (SELECT id FROM due) "
            "  AND status = 'pending_payment' FOR UPDATE SKIP LOCKED) "
            "UPDATE holds SET status = 'expired', ended_at = now() WHERE id IN (SELECT id FROM due) "
            "AND id NOT IN (SELECT hold_id FROM pending EXCEPT SELECT hold_id FROM free) "
            "RETURNING id, show_id, user_id"), {"n": batch})).all()
        if not expired:
            return 0, changes
        by_show: dict[uuid.UUID, list[uuid.UUID]] = {}
        for r in expired:
            by_show.setdefault(r.show_id, []).append(r.id)
        for show_id in sorted(by_show):
            await lock_show_for_change(conn, show_id)
        await free_places(conn, by_show, changes)
        ids = [r.id for r in expired]
        cancelled_rows = (await conn.execute(text(
            "UPDATE orders SET status = 'cancelled' WHERE hold_id = ANY(:h) AND status = 'pending_payment' "
            "RETURNING id, hold_id"), {"h": ids})).all()
        cancelled = {r.hold_id for r in cancelled_rows}
        changes.orders |= {r.id for r in cancelled_rows}
        # Told through the outbox, in this transaction: the notification exists iff the expiry does.
        await conn.execute(text(
            "INSERT INTO outbox (topic, user_id, payload) SELECT 'notification', u, jsonb_build_object("
            "'kind', CASE WHEN c THEN 'ORDER_CANCELLED' ELSE 'HOLD_EXPIRED' END, 'holdId', h::text, "
            "'showId', s::text) FROM unnest(CAST(:h AS uuid[]), CAST(:u AS uuid[]), CAST(:s AS uuid[]), "
            "CAST(:c AS bool[])) AS t(h, u, s, c)"),
            {"h": ids, "u": [r.user_id for r in expired], "s": [r.show_id for r in expired],
             "c": [r.id in cancelled for r in expired]})
    return len(expired), changes
