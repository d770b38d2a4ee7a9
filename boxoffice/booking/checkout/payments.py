"""Paying for an order with a Stripe PaymentIntent, and settling whatever Stripe says happened.

Stripe is called only outside database transactions. Every outcome, whether it arrives as
the synchronous answer, a webhook, or the reconciliation job, and in any order or number,
goes through `apply_intent`, which is idempotent: the order ends the same way.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from asyncpg.exceptions import RaiseError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ...payments.gateway import (IntentView, PaymentDeclined, PaymentProviderUnavailable, PaymentRequestRejected,
                                StripeGateway)
from ..errors import HoldNotActive, IdempotencyConflict, InvalidInput, NotFound, PaymentDeclined as Declined
from ..errors import ShowCancelled, Unauthenticated
from .history import ORDER_COLS, order_record
from .intent_creation import IntentRequest, open_order_intent, signed_order
from ..inventory.holds import MAX_KEY_LENGTH
from ..pg_calls import Attrs, decoded, driver
from ..records import ChangeSet, OrderRecord, PaymentRecord, SeatChange, Viewer
from ..inventory.seatmap import lock_show_for_change, move_seats
from .tickets import (TicketConflict, end_listing_holds, end_ticket_offers, lock_order_tickets, revoke_order_tickets,
                      signed_tickets, tell_ticket_holders)
from ..after_sale.problems import ListingGone
from ..after_sale.resale_checkout import LISTING_FOR_SALE, refund_seller

log = logging.getLogger("boxoffice.payments")
_PAYMENT_METHOD = re.compile(r"^pm_[A-Za-z0-9_]{1,100}$")
FINAL = ("succeeded", "canceled", "refunded")


@dataclass(frozen=True)
class PaymentContext:
    gateway: StripeGateway
    secret: str  # signs ticket barcodes
    return_url: str  # where 3-D Secure sends the buyer back


@dataclass(frozen=True, slots=True)
class PaidOrder:
    """confirmPayment's answer. `payment` is the order's payment as this call last wrote or read it
    (None: not known here; the order's view reads it), so that an answer asking for the payment
    costs no second read."""

    order: OrderRecord
    payment: PaymentRecord | None
    changes: ChangeSet


async def order_row(conn: AsyncConnection, order_id: uuid.UUID, *, lock: bool = False) -> Any:
    return (await conn.execute(text(f"SELECT {ORDER_COLS}, expires_at > now() AS live FROM orders "
                                    f"WHERE id = :o{' FOR NO KEY UPDATE' if lock else ''}"), {"o": order_id})).first()


async def confirm_payment(engine: AsyncEngine, ctx: PaymentContext, viewer: Viewer | None, order_id: uuid.UUID,
                          payment_method: str, key: str) -> PaidOrder:
    if viewer is None:
        raise Unauthenticated("Sign in to pay.")
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput(f"idempotencyKey has 1 to {MAX_KEY_LENGTH} characters.", field="idempotencyKey")
    if not _PAYMENT_METHOD.match(payment_method):
        raise InvalidInput("That is not a payment method id (pm_…).", field="paymentMethod")
    async with driver(engine) as db:
        found = await db.fetchrow(_ORDER_AND_PAYMENT, order_id, viewer.user_id, payment_method, key, ctx.return_url)
        if (found is not None and found["first_payment_method"] is None and found["intent_id"] is None
                and found["status"] == "pending_payment"):
            # A concurrent attempt stored its card while this statement waited for the row, after
            # its snapshot: read again, to repeat that attempt (or conflict with it) as Stripe will.
            found = await db.fetchrow(_ORDER_AND_PAYMENT, order_id, viewer.user_id, payment_method, key,
                                      ctx.return_url)
    order = None if found is None else Attrs(found)
    if order is None or order.user_id != viewer.user_id or order.payment_order is None:
        raise NotFound("No such order.", field="orderId")
    if order.status == "confirmed":  # a double submit: it is paid already
        return PaidOrder(order_record(order), _payment(order, order.payment_status, order.next_action_url,
                                                       order.failure_reason), ChangeSet())
    if order.show_status == "cancelled":  # its hold was ended with the show: nothing to pay for
        raise ShowCancelled("This show was cancelled.", field="orderId")
    if order.status != "pending_payment" or not order.live:
        raise HoldNotActive("This order can no longer be paid; hold the seats again.", field="orderId")
    if order.listing_gone:
        raise ListingGone("This ticket was voided while you checked out, so it is no longer for sale; "
                          "you were not charged.", field="orderId")
    changes = ChangeSet()
    intent_id = order.intent_id
    expected = (order.show_id, order.ticket_count)  # so the settlement's tickets are signed before its call
    confirm_key = f"boxoffice-confirm-{order_id}-{key}"
    # The first attempt's key reached Stripe only inside the creation: the same key again is that
    # attempt again, and another card under it a conflict, as Stripe would say of a confirmation.
    first_attempt = order.first_payment_key == key
    if first_attempt and order.first_payment_method != payment_method:
        raise IdempotencyConflict("That idempotency key was used with another payment method.", field="idempotencyKey")
    try:
        if intent_id is None or first_attempt:
            # The first card is charged in the creation itself; another card (the first one's answer
            # was lost, or it was declined before its intent reached us) finds the intent first.
            first_card = order.first_payment_method == payment_method
            opened = await open_order_intent(
                ctx.gateway, IntentRequest(order_id, order.total_cents, order.currency, ctx.secret,
                                           order.first_return_url or ctx.return_url),
                card=payment_method if first_card else None, stored_card=order.first_payment_method)
            intent, intent_id = opened.intent, opened.intent.id
            if not opened.charged_card and intent.status in _CONFIRMABLE:
                async with driver(engine) as db:
                    await db.execute(_STORE_INTENT, intent_id, order_id)
                intent = await ctx.gateway.confirm_intent(intent_id, payment_method, ctx.return_url, confirm_key)
        else:
            intent = await ctx.gateway.confirm_intent(intent_id, payment_method, ctx.return_url, confirm_key)
    except PaymentDeclined as err:
        changes.merge(await apply_intent(engine, ctx, err.intent))
        raise Declined(f"{err.message} Try another card.", field="paymentMethod") from None
    except PaymentProviderUnavailable:
        # The outcome is unknown: the order waits in PROCESSING for the webhook or reconciliation.
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE payments SET status = 'processing', updated_at = now() "
                                    "WHERE order_id = :o AND status NOT IN ('succeeded', 'canceled', 'refunded')"),
                               {"o": order_id})
        return PaidOrder(await _reload(engine, order_id), None, changes)
    except PaymentRequestRejected as err:
        if err.code == "idempotency_error":
            raise IdempotencyConflict("That idempotency key was used with another payment method.",
                                      field="idempotencyKey") from None
        if err.code == "payment_intent_unexpected_state" and intent_id is not None:
            changes.merge(await apply_intent(engine, ctx, await ctx.gateway.retrieve_intent(intent_id)))
            return PaidOrder(await _reload(engine, order_id), None, changes)
        raise InvalidInput(f"The payment provider refused: {err}", field="paymentMethod") from None
    settled, after = await _apply(engine, ctx, intent, expected)
    changes.merge(settled)
    if after is None:
        return PaidOrder(await _reload(engine, order_id), None, changes)
    # Sold by this very settlement, which set the payment succeeded (migration 0015's settle_intent).
    sold = after.status == "confirmed" and after.id in settled.orders
    return PaidOrder(after, _payment(order, "succeeded", None, None) if sold else None, changes)


def _payment(found: Any, status: str, next_action_url: str | None, failure_reason: str | None) -> PaymentRecord:
    """The payment _ORDER_AND_PAYMENT read (its id, provider and amount never change), in this state."""
    return PaymentRecord(id=found.payment_id, order_id=found.id, provider=found.payment_provider, status=status,
                         amount_cents=found.payment_amount, currency=found.payment_currency,
                         next_action_url=next_action_url, failure_reason=failure_reason)


# The order and its payment (all of it, for the answer), storing the card of its first payment attempt
# (if none is stored and no intent is known yet) in the same statement: intent_creation.py repeats that
# attempt exactly.
_ORDER_AND_PAYMENT = (
    "WITH card AS (UPDATE payments p SET first_payment_method = $3, first_payment_key = $4, first_return_url = $5 "
    "  FROM orders o WHERE p.order_id = $1 AND o.id = p.order_id AND o.user_id = $2 "
    "  AND o.status = 'pending_payment' AND p.intent_id IS NULL AND p.first_payment_method IS NULL "
    "  RETURNING p.first_payment_method) "
    f"SELECT {', '.join('o.' + c.strip() for c in ORDER_COLS.split(','))}, "
    "o.expires_at > now() AS live, p.order_id AS payment_order, p.intent_id, p.id AS payment_id, "
    "p.provider AS payment_provider, p.status AS payment_status, p.amount_cents AS payment_amount, "
    "p.currency AS payment_currency, p.next_action_url, p.failure_reason, "
    "coalesce((SELECT first_payment_method FROM card), p.first_payment_method) AS first_payment_method, "
    "CASE WHEN EXISTS (SELECT FROM card) THEN $4 ELSE p.first_payment_key END AS first_payment_key, "
    "CASE WHEN EXISTS (SELECT FROM card) THEN $5 ELSE p.first_return_url END AS first_return_url, "
    "(SELECT sh.status FROM shows sh WHERE sh.id = o.show_id) AS show_status, "
    # A resale order whose listing is no longer for sale (its ticket voided by a refund or a dispute
    # while the buyer checked out): refused before the card is charged, as holdResaleListing refuses.
    "EXISTS (SELECT FROM resale_holds r JOIN resale_listings l ON l.id = r.listing_id WHERE r.hold_id = o.hold_id "
    f"  AND NOT {LISTING_FOR_SALE}) AS listing_gone "
    "FROM orders o LEFT JOIN payments p ON p.order_id = o.id WHERE o.id = $1")
_CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
_STORE_INTENT = "UPDATE payments SET intent_id = $1, updated_at = now() WHERE order_id = $2 AND intent_id IS NULL"
_ORDER = f"SELECT {ORDER_COLS} FROM orders WHERE id = $1"


async def _reload(engine: AsyncEngine, order_id: uuid.UUID) -> OrderRecord:
    async with driver(engine) as db:
        return order_record(Attrs(await db.fetchrow(_ORDER, order_id)))


async def order_of_intent(conn: AsyncConnection, intent_id: str) -> uuid.UUID | None:
    """The order whose payment is this intent (by the id boxoffice stored), if any."""
    row = (await conn.execute(text("SELECT order_id FROM payments WHERE intent_id = :i"), {"i": intent_id})).first()
    return None if row is None else row.order_id  # type: ignore[no-any-return]


async def _order_of_intent(conn: AsyncConnection, secret: str, intent: IntentView) -> uuid.UUID | None:
    """The order this intent pays: by the intent id stored on its payment, or, if that id was never
    stored (its creation answer was lost), by metadata boxoffice signed, for the order's exact amount
    and currency, and only while the payment has no other intent. Metadata alone binds nothing."""
    order_id = await order_of_intent(conn, intent.id)
    if order_id is not None:
        return order_id
    claimed = signed_order(secret, intent)
    if claimed is None:
        if intent.metadata.get("order_id"):
            log.warning("payment intent %s names order %r without boxoffice's signature: not bound",
                        intent.id, intent.metadata.get("order_id"))
        return None
    bound = (await conn.execute(text(
        "UPDATE payments SET intent_id = :i, updated_at = now() WHERE order_id = :o "
        "AND (intent_id IS NULL OR intent_id = :i) "  # or bound to it meanwhile, by a settlement beside this one
        "AND amount_cents = :a AND lower(currency) = lower(:c) RETURNING order_id"),
        {"i": intent.id, "o": claimed, "a": intent.amount, "c": intent.currency})).first()
    return None if bound is None else bound.order_id  # type: ignore[no-any-return]


async def apply_intent(engine: AsyncEngine, ctx: PaymentContext, intent: IntentView, *,
                       expected: tuple[uuid.UUID, int] | None = None) -> ChangeSet:
    """Brings the order in line with the intent's state (idempotent, any order, any number of times).
    `expected`: the order's show and ticket count, if known (a success then settles in one call)."""
    return (await _apply(engine, ctx, intent, expected))[0]


async def _apply(engine: AsyncEngine, ctx: PaymentContext, intent: IntentView,
                 expected: tuple[uuid.UUID, int] | None) -> tuple[ChangeSet, OrderRecord | None]:
    """apply_intent, also answering the order as the settlement left it (None: read it again)."""
    changes = ChangeSet()
    if intent.status == "succeeded":
        refund_due, after = await _settle_success(engine, ctx, intent, changes, expected)
        if after is not None and after.id in changes.resold:
            await refund_seller(engine, ctx, after.id)  # outside the settlement; reconcile retries it
        if refund_due is not None:
            await refund_order(engine, ctx, refund_due, intent.id, changes)
            return changes, None
        return changes, after
    status = {"requires_payment_method": "failed", "requires_action": "requires_action",
              "processing": "processing", "canceled": "canceled",
              "requires_confirmation": "requires_payment_method"}.get(intent.status)
    if status is None:
        return changes, None
    if status == "failed" and not intent.failure_code and not intent.failure_message:
        status = "requires_payment_method"  # never tried yet, not a failure
    async with engine.begin() as conn:
        order_id = await _order_of_intent(conn, ctx.secret, intent)
        if order_id is None:
            return changes, None
        updated = (await conn.execute(text(
            "UPDATE payments SET status = :st, next_action_url = :url, failure_reason = :why, updated_at = now() "
            "WHERE order_id = :o AND status NOT IN ('succeeded', 'canceled', 'refunded') "
            "AND (status <> :st OR failure_reason IS DISTINCT FROM :why) RETURNING order_id"),
            {"st": status, "o": order_id,
             "url": intent.next_action_url if status == "requires_action" else None,
             "why": intent.failure_message if status == "failed" else None})).first()
        if updated is not None:
            changes.orders.add(order_id)
            if status == "failed":
                await conn.execute(text(
                    "INSERT INTO outbox (topic, user_id, payload) SELECT 'notification', user_id, jsonb_build_object("
                    "'kind', 'PAYMENT_FAILED', 'orderId', id::text, 'showId', show_id::text, 'reason', "
                    "CAST(:why AS text)) FROM orders WHERE id = :o"), {"o": order_id, "why": intent.failure_message})
    return changes, None


# settle_intent() (migration 0015) binds the intent and locks the order, then sells by the order's kind:
# the held seats of a primary sale, or the listed ticket of a resale (outcome 'resold': the seller is
# refunded next).
_SETTLE = "SELECT * FROM settle_intent($1, $2, $3, $4, $5, $6, $7)"


async def _settle_success(engine: AsyncEngine, ctx: PaymentContext, intent: IntentView, changes: ChangeSet,
                          expected: tuple[uuid.UUID, int] | None) -> tuple[uuid.UUID | None, OrderRecord | None]:
    """Confirms the order if it can still have its places (seats sold, tickets issued, the fan told
    through the outbox), else cancels it: one call of settle_intent() (migration 0015), which
    locks the order row first, then the show, the seat rows in key order, then the hold. Returns the
    order to refund, if any, and the order as it is now.

    The tickets' barcodes are signed here, for `expected` (the order's show and ticket count, when
    the caller knows them); the call answers 'tickets' without changing anything if they do not fit,
    and this signs again for what it says (a webhook that arrives first: two calls)."""
    claimed = signed_order(ctx.secret, intent)
    show_id, count = expected if expected is not None else (None, 0)
    async with driver(engine) as db:
        for _ in range(3):
            ticket_ids, barcodes = signed_tickets(ctx.secret, show_id, count)
            try:
                row = await db.fetchrow(_SETTLE, intent.id, claimed, intent.amount, intent.currency, show_id,
                                        ticket_ids, barcodes)
            except RaiseError as err:
                if str(err).startswith("ticket_conflict"):
                    raise TicketConflict(str(err)) from None
                raise
            if row["outcome"] != "tickets":
                break
            show_id, count = row["show_id"], row["ticket_count"]
        else:
            raise RuntimeError(f"payment intent {intent.id}: the order's tickets kept changing")
    outcome = row["outcome"]
    if outcome == "unbound":
        if claimed is None and intent.metadata.get("order_id"):
            log.warning("payment intent %s names order %r without boxoffice's signature: not bound",
                        intent.id, intent.metadata.get("order_id"))
        return None, None
    order = order_record(Attrs(row))
    if outcome == "confirmed":
        return None, order
    if outcome == "resold":
        changes.resold.add(order.id)
    status = "S" if outcome in ("sold", "resold") else "A"  # sold, or freed from an order that cannot have them
    for seat_id, section_id, version, ga in decoded(row["changed"]):
        changes.add(order.show_id, SeatChange(seat_id, uuid.UUID(section_id), status, version, ga))
    changes.orders.add(order.id)
    return (order.id if outcome == "refund" else None), order


async def refund_order(engine: AsyncEngine, ctx: PaymentContext, order_id: uuid.UUID, intent_id: str,
                       changes: ChangeSet) -> bool:
    """Refunds a captured payment of an order that cannot be fulfilled; retried by reconciliation."""
    try:
        refund = await ctx.gateway.refund(intent_id, f"boxoffice-refund-{order_id}")
    except (PaymentProviderUnavailable, PaymentRequestRejected):
        return False  # stays succeeded-but-cancelled: `boxoffice reconcile` refunds it later
    await mark_refunded(engine, order_id, refund.id, changes)
    return True


async def mark_refunded(engine: AsyncEngine, order_id: uuid.UUID, refund_id: str | None, changes: ChangeSet) -> None:
    async with engine.begin() as conn:
        order = await order_row(conn, order_id, lock=True)
        if order is None or order.status in ("refunded", "disputed"):  # a charged-back payment is not refunded
            return
        if order.status == "confirmed":  # refunded from Stripe's side
            await void_order(conn, order, "refunded", changes)
        await conn.execute(text("UPDATE orders SET status = 'refunded' WHERE id = :o"), {"o": order_id})
        await conn.execute(text("UPDATE payments SET status = 'refunded', refund_id = COALESCE(:r, refund_id), "
                                "updated_at = now() WHERE order_id = :o"), {"o": order_id, "r": refund_id})
        await conn.execute(text(
            "INSERT INTO outbox (topic, user_id, payload) VALUES ('notification', :u, jsonb_build_object("
            "'kind', 'ORDER_CANCELLED', 'orderId', CAST(:o AS text), 'showId', CAST(:s AS text), 'refunded', true))"),
            {"u": order.user_id, "o": str(order_id), "s": str(order.show_id)})
    changes.orders.add(order_id)


# Why a ticket passed on to someone became void, as they are told (the buyer's own notice says more).
_TOLD_HOLDERS = {"disputed": "its buyer disputed the payment with their bank",
                 "refunded": "its order was refunded to its buyer"}


async def void_order(conn: AsyncConnection, order: Any, reason: str, changes: ChangeSet) -> None:
    """A confirmed order's tickets are revoked and, if its show has not started, its seats go back
    on sale (a live change); after the show they stay with the order, as the record of who sat
    there. In the caller's transaction, which has the order locked."""
    await lock_show_for_change(conn, order.show_id)
    upcoming = (await conn.execute(text("SELECT starts_at > now() FROM shows WHERE id = :s"),
                                   {"s": order.show_id})).scalar()
    await lock_order_tickets(conn, [order.id])
    if upcoming:
        for change in await move_seats(conn, order.show_id, where="ss.order_id = :o AND ss.status = 'S'",
                                       to="A", also_set="order_id = NULL", params={"o": order.id}):
            changes.add(order.show_id, change)
    await tell_ticket_holders(conn, [order.id], "ORDER_CANCELLED", _TOLD_HOLDERS.get(reason))
    await end_ticket_offers(conn, [order.id])
    await revoke_order_tickets(conn, order.id, reason)
    await end_listing_holds(conn, [order.id])
