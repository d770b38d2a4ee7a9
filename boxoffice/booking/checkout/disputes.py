"""Chargebacks: a buyer who disputes the payment with their bank keeps no tickets.

Handled like a refund from Stripe's side: the order is marked `disputed`, its tickets revoked
and, if its show has not started, its seats put back on sale. A dispute the merchant later wins
does not bring the tickets back (their places may have been sold again): the money came back to
the box office for tickets the fan could not use, so when they were voided before the show it is
owed back to the fan as a refund (cause 'dispute_won', paid by refunds/pay_back.py). One voided
after the show had started stays with the box office: the fan could have been in. And a refund
Stripe refused while the charge was disputed (a cancelled show's, an organizer's, a resale payout)
is due again.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ...payments.gateway import DisputeView
from ..after_sale.records import OWED_AFTER_RESALES
from .payments import order_row, void_order
from ..records import ChangeSet

DISPUTED_NOTICE = "the payment was disputed with your bank, so its tickets are no longer valid"


async def apply_dispute(engine: AsyncEngine, order_id: uuid.UUID, dispute: DisputeView, changes: ChangeSet) -> None:
    """Brings the order in line with the dispute as Stripe reports it (idempotent)."""
    async with engine.begin() as conn:
        order = await order_row(conn, order_id, lock=True)
        if order is None:
            return
        await conn.execute(text("UPDATE payments SET dispute_id = :d, dispute_status = :st, updated_at = now() "
                                "WHERE order_id = :o"), {"d": dispute.id, "st": dispute.status, "o": order_id})
        if dispute.settled_for_merchant:
            if await _owe_after_win(conn, order):
                changes.orders.add(order_id)
            return
        # cancelled: paid too late, its refund not made yet (Stripe refuses to refund a disputed charge).
        if order.status not in ("confirmed", "cancelled"):
            return
        if order.status == "confirmed":
            await void_order(conn, order, "disputed", changes)
        await conn.execute(text("UPDATE orders SET status = 'disputed' WHERE id = :o"), {"o": order_id})
        await conn.execute(text(
            "INSERT INTO outbox (topic, user_id, payload) VALUES ('notification', :u, jsonb_build_object("
            "'kind', 'ORDER_CANCELLED', 'orderId', CAST(:o AS text), 'showId', CAST(:s AS text), "
            "'reason', CAST(:why AS text)))"),
            {"u": order.user_id, "o": str(order_id), "s": str(order.show_id), "why": DISPUTED_NOTICE})
    changes.orders.add(order_id)


# The order voided by the dispute becomes refunded, its money owed back (less what resales of its
# tickets paid back already, as refunds/void_orders.py owes it), if its tickets were voided before
# the show started; the fan is told. One statement; nothing when the condition does not hold.
_OWE_AFTER_WIN = (
    "WITH before_show AS (SELECT bool_and(r.revoked_at < sh.starts_at) AS ok FROM revoked_tickets r "
    "  JOIN shows sh ON sh.id = r.show_id WHERE r.order_id = :o AND r.reason = 'disputed'), "
    "refunded AS (UPDATE orders o SET status = 'refunded' FROM before_show b WHERE o.id = :o "
    "  AND o.status = 'disputed' AND b.ok RETURNING o.id, o.user_id, o.show_id), "
    "owed AS (INSERT INTO order_refunds (order_id, show_id, amount_cents, currency, cause, next_attempt_at) "
    f"  SELECT r.id, r.show_id, {OWED_AFTER_RESALES}, p.currency, 'dispute_won', now() "
    "  FROM refunded r JOIN payments p ON p.order_id = r.id ON CONFLICT (order_id) DO NOTHING "
    "  RETURNING order_id, amount_cents) "
    "INSERT INTO outbox (topic, user_id, payload) SELECT 'notification', r.user_id, jsonb_build_object("
    "  'kind', 'ORDER_REFUNDED', 'orderId', r.id::text, 'showId', r.show_id::text, 'refunded', true, "
    "  'amountCents', w.amount_cents) FROM refunded r LEFT JOIN owed w ON w.order_id = r.id RETURNING id")
# A refund Stripe refused for good while the charge was disputed: due again once it is won.
_RETRY_REFUSED = (
    "UPDATE order_refunds SET status = 'pending', next_attempt_at = now(), last_error = NULL "
    "WHERE order_id = :o AND status = 'failed' AND last_error LIKE 'charge_disputed%'")
# As is the payout of a resold ticket of the order (the reconciliation round makes it).
_OWE_PAYOUTS = ("UPDATE resale_listings SET refund_status = 'pending' "
                "WHERE seller_order_id = :o AND refund_status = 'disputed'")


async def _owe_after_win(conn: AsyncConnection, order: Any) -> bool:
    """In the caller's transaction (the order locked): whether the order changed."""
    await conn.execute(text(_OWE_PAYOUTS), {"o": order.id})
    if order.status == "refunded":
        await conn.execute(text(_RETRY_REFUSED), {"o": order.id})
        return False
    if order.status != "disputed":
        return False
    return (await conn.execute(text(_OWE_AFTER_WIN), {"o": order.id})).first() is not None
