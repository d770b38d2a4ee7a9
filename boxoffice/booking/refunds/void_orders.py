"""Voiding confirmed orders for a refund: the database half of a refund, in one transaction.

The orders become 'refunded', their tickets go on the revocation list, their places go back on
sale (a live seat change) if the show has not started, the owners (and whoever holds a ticket passed
on to them) are told through the outbox, and an `order_refunds` row records the money owed back,
which booking/refunds/pay_back.py then returns through Stripe. Lock order as everywhere: the order rows (the caller locks them, in key order), then
the show's shared lock, then the tickets and the seat rows, each in key order (move_seats).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ..after_sale.records import OWED_AFTER_RESALES
from ..checkout.tickets import end_listing_holds, end_ticket_offers, lock_order_tickets, tell_ticket_holders
from ..inventory.seatmap import lock_show_for_change, move_seats
from ..records import ChangeSet


@dataclass(frozen=True, slots=True)
class Voiding:
    """Why the orders are voided: which refund cause, ticket reason and notification."""

    cause: str  # order_refunds.cause: 'fan', 'organizer' or 'show_cancelled' (or 'dispute_won': disputes.py)
    ticket_reason: str  # revoked_tickets.reason: 'refunded' or 'cancelled'
    kind: str  # the notification: ORDER_REFUNDED or SHOW_CANCELLED
    requested_by: uuid.UUID | None = None
    idempotency_key: str | None = None
    reason: str | None = None  # told to the owners (a cancellation's reason)
    claim_s: float = 0.0  # > 0: the caller pays the refund back itself now; others leave it that long


# Every ticket of the orders onto the revocation list and off `tickets`, in one statement (as
# checkout/tickets.py revoke_order_tickets does for one order), so no ticket is gone unrevoked.
_REVOKE = (
    "WITH voided AS (DELETE FROM tickets WHERE order_id = ANY(CAST(:o AS uuid[])) "
    "  RETURNING id, order_id, show_id, barcode, place_id, seat_id, section_id) "
    "INSERT INTO revoked_tickets (ticket_id, order_id, show_id, barcode, reason, place_id, seat_id, section_id) "
    "SELECT id, order_id, show_id, barcode, :r, place_id, seat_id, section_id FROM voided "
    "ON CONFLICT (barcode) DO NOTHING")
_MARK = (
    "WITH refunded AS (UPDATE orders SET status = 'refunded' WHERE id = ANY(CAST(:o AS uuid[])) "
    "  AND status = 'confirmed' RETURNING id, user_id, show_id), "
    # The payment's clock restarts: the audit gives its refund N minutes from now.
    "touched AS (UPDATE payments p SET updated_at = now() FROM refunded r WHERE p.order_id = r.id), "
    "owed AS (INSERT INTO order_refunds (order_id, show_id, amount_cents, currency, cause, requested_by, "
    "  idempotency_key, next_attempt_at) "
    f"  SELECT r.id, r.show_id, {OWED_AFTER_RESALES}, p.currency, "
    "    :cause, :by, :key, now() + make_interval(secs => :claim) "
    "  FROM refunded r JOIN payments p ON p.order_id = r.id ON CONFLICT (order_id) DO NOTHING "
    "  RETURNING order_id, amount_cents) "
    # The amount refunded told as it is: less than the order's total after a resale of its tickets.
    "INSERT INTO outbox (topic, user_id, payload) SELECT 'notification', r.user_id, jsonb_build_object("
    "  'kind', CAST(:kind AS text), 'orderId', r.id::text, 'showId', r.show_id::text, 'refunded', true, "
    "  'reason', CAST(:reason AS text), 'amountCents', w.amount_cents) "
    "FROM refunded r LEFT JOIN owed w ON w.order_id = r.id "
    "RETURNING (payload->>'orderId')::uuid")


async def void_orders(conn: AsyncConnection, show_id: uuid.UUID, order_ids: Sequence[uuid.UUID], why: Voiding,
                      changes: ChangeSet) -> list[uuid.UUID]:
    """Voids those of the orders (of one show, locked by the caller) that are still confirmed, in the
    caller's transaction; returns them."""
    if not order_ids:
        return []
    ids = sorted(order_ids)
    await lock_show_for_change(conn, show_id)
    upcoming = (await conn.execute(text("SELECT starts_at > now() FROM shows WHERE id = :s"), {"s": show_id})).scalar()
    voided = [r[0] for r in (await conn.execute(text(_MARK), {
        "o": ids, "cause": why.cause, "by": why.requested_by, "key": why.idempotency_key, "claim": why.claim_s,
        "kind": why.kind, "reason": why.reason})).all()]
    if not voided:
        return []
    await lock_order_tickets(conn, voided)
    if upcoming:  # after the show its places stay with the order, as the record of who sat there
        for change in await move_seats(conn, show_id, where="ss.order_id = ANY(CAST(:o AS uuid[])) AND ss.status = 'S'",
                                       to="A", also_set="order_id = NULL", params={"o": voided}):
            changes.add(show_id, change)
    await tell_ticket_holders(conn, voided, why.kind, why.reason)
    await end_ticket_offers(conn, voided)
    await conn.execute(text(_REVOKE), {"o": voided, "r": why.ticket_reason})
    await end_listing_holds(conn, voided)
    changes.orders.update(voided)
    return voided
