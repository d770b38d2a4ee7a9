"""Chargebacks: a buyer who disputes the payment with their bank keeps no tickets.

Handled like a refund from Stripe's side: the order is marked `disputed`, its tickets revoked
and, if its show has not started, its seats put back on sale. A dispute the merchant later wins
is recorded but does not bring the tickets back (their places may have been sold again).
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ...payments.gateway import DisputeView
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
        # cancelled: paid too late, its refund not made yet (Stripe refuses to refund a disputed charge).
        if dispute.settled_for_merchant or order.status not in ("confirmed", "cancelled"):
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
