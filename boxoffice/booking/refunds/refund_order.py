"""refundOrder: the owner within the show's refund window, or the show's organizer at any time.

Order of operations: the database first, then Stripe.

1. ONE transaction (milliseconds): the order row locked, still 'confirmed' → 'refunded'; its tickets
   on the revocation list; its places back on sale (a live seat change); the ORDER_REFUNDED
   notification in the outbox; and an `order_refunds` row: the money owed, durable before any
   money moves.
2. Outside any transaction: the Stripe refund of the order's PaymentIntent with the order's own
   idempotency key; its outcome recorded on that row and on the payment (pay_back.py).

Why not Stripe first: between a refund at Stripe and the voiding, the fan would hold both their
money and valid tickets, and a crash there would leave them so (the tickets still admit at the door,
the seats are not for sale). The voiding cannot fail for outside reasons; the refund can (the
provider down, slow, or refusing), and then what is owed is written down: every process's refund
round retries it with the same key (never doubled: Stripe makes one refund per key; never lost:
the row stays pending until Stripe says it is done), and `boxoffice audit` reports a refunded order
whose money is still not back after 10 minutes. The cost of this order is that a fan is told
"refunded" a moment before Stripe confirms; the mail says the money can take days to appear anyway.
A refund Stripe refuses for good (the payment was charged back meanwhile) stays visible to the
audit as such.

A fan refunds only an order whose tickets are all still theirs and unused: not one handed to someone
else (the fan could otherwise sell a ticket by transfer, then take the money back and void the
buyer's ticket), not one resold (the buyer keeps it, and the refund would pay the seller back the
face value they sold below), offered in a transfer or listed for resale (end that first), or used at
the door.
The organizer's refund, like a cancellation, voids them wherever they are.

Idempotent: a refunded order answers as it is, whichever key asks again; another call while it is
still confirmed is a new decision (the window may have closed since).
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ..checkout.history import ORDER_COLS, order_record
from ..checkout.payments import PaymentContext
from ..errors import InvalidInput, NotFound, NotRefundable, Unauthenticated
from ..inventory.holds import MAX_KEY_LENGTH
from ..inventory.seatmap import lock_show_for_change
from ..records import ChangeSet, OrderRecord, Viewer
from .pay_back import pay_back_order
from .void_orders import Voiding, void_orders

_ORDER = (
    f"SELECT {', '.join('o.' + c.strip() for c in ORDER_COLS.split(','))}, e.organizer_id, "
    "s.fan_refunds_until_hours_before AS window_hours, "
    "now() <= s.starts_at - make_interval(hours => s.fan_refunds_until_hours_before) AS window_open "
    "FROM orders o JOIN shows s ON s.id = o.show_id JOIN events e ON e.id = s.event_id WHERE o.id = :o")

# The order's tickets locked in key order, after the show's lock, as every path that changes a ticket
# locks them; then, in a statement of its own (so that it sees what the holders of those locks
# committed: an offer made meanwhile locks the ticket but does not change its row), why a fan may
# not refund the order now, or null.
_LOCK_TICKETS = "SELECT 1 FROM tickets WHERE order_id = :o ORDER BY id FOR UPDATE"
_NOT_THE_FANS_TO_REFUND = (
    # A resold ticket has left the order (it is the buyer's, on the revocation list as 'resold'): the
    # seller's refund would pay back the rest of its face value while the buyer keeps it.
    "SELECT CASE WHEN EXISTS (SELECT FROM resale_listings l WHERE l.seller_order_id = :o AND l.status = 'sold') "
    "  THEN 'resold' WHEN bool_or(t.status = 'checked_in') THEN 'used' "
    "  WHEN bool_or(t.holder_id IS NOT NULL AND t.holder_id <> :u) THEN 'given' "
    "  WHEN bool_or(t.listed) THEN 'listed' "
    "  WHEN bool_or(EXISTS (SELECT FROM ticket_transfers x WHERE x.ticket_id = t.id AND x.status = 'pending')) "
    "  THEN 'offered' END "
    "FROM tickets t WHERE t.order_id = :o")
_WHY_NOT = {
    "used": "A ticket of this order was used at the door; the order can no longer be refunded.",
    "given": "A ticket of this order was transferred to someone else; the order can no longer be refunded.",
    "resold": "A ticket of this order was resold; the order can no longer be refunded.",
    "listed": "A ticket of this order is listed for resale; withdraw the listing first.",
    "offered": "A ticket of this order is offered in a transfer; cancel the transfer first.",
}


async def refund_order(engine: AsyncEngine, ctx: PaymentContext, viewer: Viewer | None, order_id: uuid.UUID,
                       key: str, *, claim_s: float = 60.0) -> tuple[OrderRecord, ChangeSet]:
    if viewer is None:
        raise Unauthenticated("Sign in to refund an order.")
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput(f"idempotencyKey has 1 to {MAX_KEY_LENGTH} characters.", field="idempotencyKey")
    async with engine.connect() as conn:
        order = (await conn.execute(text(_ORDER), {"o": order_id})).first()
    owner = order is not None and order.user_id == viewer.user_id
    organizer = order is not None and (viewer.role == "admin" or (viewer.is_organizer
                                                                  and viewer.user_id == order.organizer_id))
    if order is None or not (owner or organizer):
        raise NotFound("No such order.", field="orderId")  # someone else's order looks like none at all
    changes = ChangeSet()
    if order.status == "refunded":
        return order_record(order), changes
    if order.status != "confirmed":
        raise NotRefundable(f"Only a paid order can be refunded; this one is {order.status.replace('_', ' ')}.",
                            field="orderId")
    if not organizer:
        if order.window_hours is None:
            raise NotRefundable("Tickets for this show are not refundable.", field="orderId")
        if not order.window_open:
            raise NotRefundable(f"Refunds closed {order.window_hours} hours before the show.", field="orderId")
    why = Voiding(cause="organizer" if organizer and not owner else "fan", ticket_reason="refunded",
                  kind="ORDER_REFUNDED", requested_by=viewer.user_id, idempotency_key=key, claim_s=claim_s)
    async with engine.begin() as conn:
        # NO KEY UPDATE: a transfer's acceptance or a resale's settlement holding one of its tickets
        # writes a revocation row naming this order (a foreign key's share lock); they finish first.
        locked = (await conn.execute(text("SELECT status FROM orders WHERE id = :o FOR NO KEY UPDATE"),
                                     {"o": order_id})).scalar()
        if locked == "confirmed" and not organizer:
            await lock_show_for_change(conn, order.show_id)
            await conn.execute(text(_LOCK_TICKETS), {"o": order_id})
            why_not = (await conn.execute(text(_NOT_THE_FANS_TO_REFUND), {"o": order_id, "u": order.user_id})).scalar()
            if why_not is not None:
                raise NotRefundable(_WHY_NOT[why_not], field="orderId")
        if locked == "confirmed":
            await void_orders(conn, order.show_id, [order_id], why, changes)
    if locked not in ("confirmed", "refunded"):  # charged back or otherwise ended meanwhile
        raise NotRefundable(f"Only a paid order can be refunded; this one is {locked}.", field="orderId")
    if locked == "confirmed":
        await pay_back_order(engine, ctx, order_id)  # a failure stays owed: the refund round retries it
    async with engine.connect() as conn:
        after = (await conn.execute(text(f"SELECT {ORDER_COLS} FROM orders WHERE id = :o"), {"o": order_id})).one()
    return order_record(after), changes
