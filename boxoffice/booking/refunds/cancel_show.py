"""cancelShow: sales stop at once, every hold ends, every confirmed order is refunded and voided.

Stopping sales is one transaction that takes the show's lock EXCLUSIVELY (every hold, payment
settlement and seat change takes it shared) and marks the show cancelled: it waits for what is in
flight, and whatever comes after reads the new status under that lock (the hold functions of
migration 0012_refunds and the general-admission hold check it), so no hold is ever made after the
cancellation commits, whatever a process's one-second show cache still says. Then every active hold
and pending order of the show is made due now (their own statements, no lock held across), and the
hold sweeper ends them the usual way (seats back, pending orders cancelled, a late payment
refunded by the existing path); this process sweeps at once rather than waiting for its next pass.

The refunds are a job (`show_cancellations`, one row per show) that any process resumes:
refund_rounds.py, run by every server process, voids the show's confirmed orders a batch per
transaction (rows taken FOR UPDATE SKIP LOCKED, so processes share the work and a crash loses
nothing: an order is either still confirmed or voided with its refund owed) and pays the refunds
back (pay_back.py). Nothing of the job's progress is counted separately: it is read from the
orders and refunds themselves (`cancellation_progress`).
"""

from __future__ import annotations

import logging
import unicodedata
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ..catalog.browse import get_show
from ..display_text import unreadable
from ..errors import InvalidInput
from ..inventory.hold_release import release_expired_holds
from ..inventory.seatmap import SHOW_LOCK_KEY
from ..records import ChangeSet, ShowRecord, Viewer
from .policy import owned_show
from .void_orders import Voiding, void_orders

log = logging.getLogger("boxoffice.refunds")
MAX_REASON = 500
BATCH = 100  # confirmed orders voided per transaction: a few milliseconds each


async def cancel_show(engine: AsyncEngine, viewer: Viewer | None, show_id: uuid.UUID,
                      reason: str) -> tuple[ShowRecord, ChangeSet]:
    """Idempotent: a cancelled show answers as it is (its job goes on)."""
    reason = unicodedata.normalize("NFC", " ".join(reason.split()))
    if not 1 <= len(reason) <= MAX_REASON:
        raise InvalidInput(f"reason has 1 to {MAX_REASON} characters.", field="reason")
    if problem := unreadable(reason):  # told to every ticket holder
        raise InvalidInput(f"reason {problem}", field="reason")
    viewer, show = await owned_show(engine, viewer, show_id)
    changes = ChangeSet()
    if show.status != "cancelled":
        async with engine.begin() as conn:
            await conn.execute(text(f"SELECT pg_advisory_xact_lock({SHOW_LOCK_KEY})"), {"show_id": show_id})
            await conn.execute(text(
                "UPDATE shows SET status = 'cancelled', cancelled_at = now(), cancel_reason = :r "
                "WHERE id = :s AND status = 'scheduled'"), {"r": reason, "s": show_id})
            await conn.execute(text(
                "INSERT INTO show_cancellations (show_id, reason, requested_by) VALUES (:s, :r, :u) "
                "ON CONFLICT (show_id) DO NOTHING"), {"s": show_id, "r": reason, "u": viewer.user_id})
        log.info("show %s cancelled by %s: %s", show_id, viewer.user_id, reason)
        await end_sales(engine, show_id, changes)
    updated = await get_show(engine, show_id)
    assert updated is not None
    return updated, changes


async def end_sales(engine: AsyncEngine, show_id: uuid.UUID, changes: ChangeSet) -> None:
    """Every active hold and pending order of the (cancelled) show due now, then swept. Each
    statement alone: none waits for a lock while holding one a payment or the sweeper needs."""
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE orders SET expires_at = now() WHERE show_id = :s "
                                "AND status = 'pending_payment' AND expires_at > now()"), {"s": show_id})
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE holds SET expires_at = now() WHERE show_id = :s "
                                "AND status = 'active' AND expires_at > now()"), {"s": show_id})
    while True:
        count, swept = await release_expired_holds(engine)
        changes.merge(swept)
        if count < 500:
            break


@dataclass(frozen=True, slots=True)
class CancellationProgress:
    show_id: uuid.UUID
    refunded: int  # orders voided with their money back
    owed: int  # orders voided, their refund not made yet
    confirmed: int  # orders still to void
    running: bool

    def __str__(self) -> str:
        total = self.refunded + self.owed + self.confirmed
        return (f"show {self.show_id} cancellation: {self.refunded} of {total} orders refunded, "
                f"{self.owed} refunds pending, {self.confirmed} orders to void"
                + ("" if self.running else " (done)"))


_PROGRESS = (
    "SELECT c.show_id, c.status = 'running' AS running, "
    "(SELECT count(*) FROM order_refunds r WHERE r.show_id = c.show_id AND r.cause = 'show_cancelled' "
    "  AND r.status = 'succeeded') AS refunded, "
    "(SELECT count(*) FROM order_refunds r WHERE r.show_id = c.show_id AND r.status <> 'succeeded') AS owed, "
    "(SELECT count(*) FROM orders o WHERE o.show_id = c.show_id AND o.status = 'confirmed') AS confirmed "
    "FROM show_cancellations c WHERE c.show_id = :s")


async def cancellation_progress(engine: AsyncEngine, show_id: uuid.UUID) -> CancellationProgress | None:
    async with engine.connect() as conn:
        row = (await conn.execute(text(_PROGRESS), {"s": show_id})).first()
    if row is None:
        return None
    return CancellationProgress(row.show_id, row.refunded, row.owed, row.confirmed, row.running)


async def running_cancellations(engine: AsyncEngine) -> list[uuid.UUID]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT show_id FROM show_cancellations WHERE status = 'running' ORDER BY created_at"))).scalars())


async def void_next_batch(engine: AsyncEngine, show_id: uuid.UUID, changes: ChangeSet) -> int:
    """Voids up to BATCH confirmed orders of the cancelled show (their refunds due now); 0: none left
    that no other process is voiding right now."""
    async with engine.begin() as conn:
        ids = list((await conn.execute(text(
            "SELECT id FROM orders WHERE show_id = :s AND status = 'confirmed' ORDER BY id LIMIT :n "
            "FOR NO KEY UPDATE SKIP LOCKED"), {"s": show_id, "n": BATCH})).scalars())
        reason = (await conn.execute(text("SELECT reason FROM show_cancellations WHERE show_id = :s"),
                                     {"s": show_id})).scalar()
        why = Voiding(cause="show_cancelled", ticket_reason="cancelled", kind="SHOW_CANCELLED", reason=reason)
        return len(await void_orders(conn, show_id, ids, why, changes))


async def finish_if_done(engine: AsyncEngine, show_id: uuid.UUID) -> bool:
    """Done when nothing of the show can still need a refund: no confirmed or pending order, no
    active hold (no new one can come), no refund owed."""
    async with engine.begin() as conn:
        done = (await conn.execute(text(
            "UPDATE show_cancellations SET status = 'done', finished_at = now() WHERE show_id = :s "
            "AND status = 'running' "
            "AND NOT EXISTS (SELECT 1 FROM orders WHERE show_id = :s AND status IN ('confirmed', 'pending_payment')) "
            "AND NOT EXISTS (SELECT 1 FROM holds WHERE show_id = :s AND status = 'active') "
            "AND NOT EXISTS (SELECT 1 FROM order_refunds WHERE show_id = :s AND status = 'pending') "
            "RETURNING show_id"), {"s": show_id})).first()
    return done is not None
