"""Ending holds: released by their fan, or lapsed and swept. The seats go back on sale and a
pending order of the hold is cancelled, in one transaction.

Lock order: a release (one call of release_fan_hold(), migrations 0008 and 0020) first key-share locks
the hold, which waits for an order being created for it and keeps one from being created meanwhile
(a settlement's update of the hold does not conflict with that lock). It then takes the hold's pending
order row, as a payment settling that order does first (booking/checkout/payments.py); then
the show's shared lock, the hold, and the seat rows in primary-key order, as group-committed holds do. The sweeper takes lapsed holds first, so it
skips (SKIP LOCKED) any hold whose order row a payment holds, and ends it on a later pass.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..errors import HoldNotActive, NotFound, Unauthenticated
from .holds import _hold as hold_record  # the row to a record, with the clock's view of expiry
from ..pg_calls import Attrs, decoded, driver
from ..records import ChangeSet, HoldRecord, SeatChange, Viewer
from .release_batch import ReleaseBatcher
from .seatmap import lock_show_for_change, move_seats

_RELEASE = "SELECT * FROM release_fan_hold($1, $2)"


async def release_hold(engine: AsyncEngine, viewer: Viewer | None, hold_id: uuid.UUID,
                       batcher: ReleaseBatcher | None = None) -> tuple[HoldRecord, ChangeSet]:
    """One call of release_fan_hold() (migration 0008), which takes the locks in the order above;
    with a batcher, that call made with other releases in one statement (release_batch.py)."""
    if viewer is None:
        raise Unauthenticated("Sign in to release a hold.")
    if batcher is not None:
        row: Any = await batcher.release(hold_id, viewer.user_id)
    else:
        async with driver(engine) as db:
            row = await db.fetchrow(_RELEASE, hold_id, viewer.user_id)
    if row is None or row["outcome"] == "not_found":
        raise NotFound("No such hold.", field="holdId")
    if row["outcome"] == "converted":  # paid, or its payment settled while this waited for the order row
        raise HoldNotActive("This hold was paid for; it cannot be released.", field="holdId")
    changes = ChangeSet()  # empty when releasing again, or after expiry: that changes nothing
    for seat_id, section_id, version, ga in decoded(row["freed"]):
        changes.add(row["show_id"], SeatChange(seat_id, uuid.UUID(section_id), "A", version, ga))
    if row["cancelled_order"] is not None:
        changes.orders.add(row["cancelled_order"])
    return hold_record(Attrs(row)), changes


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
