"""Stripe webhooks and reconciliation: both end in `apply_intent`, which is idempotent."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ...payments.gateway import PaymentProviderUnavailable, PaymentRequestRejected
from .disputes import apply_dispute
from ..after_sale.resale_checkout import refund_pending_sellers
from .intent_creation import IntentRequest, open_order_intent
from .payments import PaymentContext, apply_intent, mark_refunded, order_of_intent, refund_order
from ..pg_calls import driver
from ..records import ChangeSet
from ..refunds.pay_back import pay_back_due

log = logging.getLogger("boxoffice.payments")

INTENT_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
                 "payment_intent.requires_action", "payment_intent.processing")
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.funds_withdrawn",
                  "charge.dispute.funds_reinstated", "charge.dispute.closed")


async def handle_stripe_event(engine: AsyncEngine, ctx: PaymentContext, event: dict[str, Any]) -> ChangeSet:
    """A verified event. Its id is recorded only after it was applied, so a failure here is
    retried by Stripe; applying twice is harmless. Only the id of the event's object is used: the
    object is read again from Stripe (outside any transaction), so neither a reordered event nor
    a body that says more than Stripe does can change an order. An intent event about an order that
    is final already (usually the confirmPayment that settled it came first) could change nothing, so
    Stripe is not asked: the event is only recorded."""
    event_id, kind = str(event.get("id", "")), str(event.get("type", ""))
    object_id = str(((event.get("data") or {}).get("object") or {}).get("id") or "")
    async with driver(engine) as db:
        seen, settled = await db.fetchrow(_SEEN_OR_SETTLED, event_id, object_id if kind in INTENT_EVENTS else None,
                                          kind)
    changes = ChangeSet()
    if seen or settled:  # a settled order's event is recorded by that statement, without asking Stripe
        return changes
    try:
        if kind in INTENT_EVENTS and object_id:
            changes = await apply_intent(engine, ctx, await ctx.gateway.retrieve_intent(object_id))
        elif kind == "charge.refunded" and object_id:
            await _apply_refund(engine, ctx, object_id, changes)
        elif kind in DISPUTE_EVENTS and object_id:
            await _apply_dispute(engine, ctx, object_id, changes)
    except PaymentRequestRejected as err:
        if not (err.http_status == 404 or err.code == "resource_missing"):
            raise
        # Nothing to apply, ever: acknowledged (a non-2xx would have Stripe retry it for days).
        log.info("stripe event %r (%r) is about %r, which Stripe does not know: ignored", event_id, kind, object_id)
    async with driver(engine) as db:
        await db.execute("INSERT INTO webhook_events (id, type) VALUES ($1, $2) ON CONFLICT DO NOTHING", event_id, kind)
    return changes


# One statement: whether the event was applied already, and whether the intent's order is final for
# every intent event (then the event is recorded at once): paid and confirmed (a success settles to
# 'confirmed', and no other state changes a final payment), or its payment cancelled or refunded. A paid
# order that was cancelled is not final: its refund is still due. Its commit does not wait for the WAL
# flush: the record only spares a repeat, which changes nothing (losing it in a database crash lets a
# redelivery be checked again), and the flush was a synchronous commit on every payment's webhook.
_SEEN_OR_SETTLED = (
    "WITH final AS (SELECT EXISTS (SELECT 1 FROM payments p JOIN orders o ON o.id = p.order_id "
    "  WHERE p.intent_id = $2 AND ((p.status = 'succeeded' AND o.status = 'confirmed') "
    "  OR p.status IN ('canceled', 'refunded'))) AS settled, "
    "  set_config('synchronous_commit', 'off', true) AS commit_mode), "
    "recorded AS (INSERT INTO webhook_events (id, type) SELECT $1, $3 FROM final WHERE settled "
    "  ON CONFLICT DO NOTHING) "
    "SELECT EXISTS (SELECT 1 FROM webhook_events WHERE id = $1) AS seen, (SELECT settled FROM final) AS settled")


async def _order_paid_by(engine: AsyncEngine, intent_id: str | None) -> uuid.UUID | None:
    if not intent_id:
        return None
    async with engine.connect() as conn:
        return await order_of_intent(conn, intent_id)


async def _apply_refund(engine: AsyncEngine, ctx: PaymentContext, charge_id: str, changes: ChangeSet) -> None:
    charge = await ctx.gateway.retrieve_charge(charge_id)
    order_id = await _order_paid_by(engine, charge.payment_intent)
    if charge.refunded and order_id is not None:  # a partial refund leaves the order as it is
        await mark_refunded(engine, order_id, None, changes)


async def _apply_dispute(engine: AsyncEngine, ctx: PaymentContext, dispute_id: str, changes: ChangeSet) -> None:
    dispute = await ctx.gateway.retrieve_dispute(dispute_id)
    intent_id = dispute.payment_intent
    if intent_id is None and dispute.charge:
        intent_id = (await ctx.gateway.retrieve_charge(dispute.charge)).payment_intent
    order_id = await _order_paid_by(engine, intent_id)
    if order_id is not None:
        await apply_dispute(engine, order_id, dispute, changes)


@dataclass
class ReconcileReport:
    checked: int = 0
    settled: int = 0
    refunded: int = 0
    cancelled: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return (f"reconcile: checked {self.checked} payments, settled {self.settled}, refunded {self.refunded}, "
                f"cancelled {self.cancelled} intents, {self.failed} still unreachable")


async def reconcile(engine: AsyncEngine, ctx: PaymentContext, *, older_than_s: float = 0.0,
                    limit: int = 500) -> tuple[ReconcileReport, ChangeSet]:
    """Settles every payment stuck in a non-final state by asking Stripe; safe to run any time."""
    report, changes = ReconcileReport(), ChangeSet()
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT p.order_id, p.intent_id, p.status, p.amount_cents, p.currency, p.first_payment_method, "
            "p.first_return_url, "
            "o.status AS order_status "
            "FROM payments p JOIN orders o ON o.id = p.order_id "
            "WHERE p.updated_at <= now() - make_interval(secs => :age) AND ("
            "  (p.status NOT IN ('succeeded', 'canceled', 'refunded') AND (o.status <> 'pending_payment' "
            "    OR p.status IN ('requires_action', 'processing') OR o.expires_at <= now())) "
            "  OR (p.status = 'succeeded' AND o.status IN ('cancelled', 'pending_payment'))) "
            "ORDER BY p.updated_at LIMIT :n"), {"age": older_than_s, "n": limit})).all()
    for row in rows:
        report.checked += 1
        try:
            intent_id = row.intent_id
            if intent_id is None:
                if row.status == "requires_payment_method" and row.order_status == "pending_payment":
                    continue  # never tried to pay yet: nothing to settle
                # The intent may exist with its id never stored (its answer was lost): the same key
                # finds it, and charges nothing (intent_creation.py).
                # Sent as the first attempt was, whatever this process's public URL is.
                request = IntentRequest(row.order_id, row.amount_cents, row.currency, ctx.secret,
                                        row.first_return_url or ctx.return_url)
                opened = await open_order_intent(ctx.gateway, request, card=None,
                                                 stored_card=row.first_payment_method)
                intent_id = opened.intent.id
            intent = await ctx.gateway.retrieve_intent(intent_id)
            if intent.status == "succeeded":
                changes.merge(await apply_intent(engine, ctx, intent))
                report.settled += 1
                if row.status == "succeeded" and row.order_status != "confirmed":
                    if await refund_order(engine, ctx, row.order_id, intent_id, changes):
                        report.refunded += 1
                continue
            if row.order_status != "pending_payment" and intent.status not in ("canceled",):
                intent = await ctx.gateway.cancel_intent(intent_id, f"boxoffice-cancel-{row.order_id}")
                report.cancelled += 1
            changes.merge(await apply_intent(engine, ctx, intent))
        except PaymentRequestRejected as err:
            if err.code == "payment_intent_unexpected_state" and row.intent_id:
                # It succeeded between our read and the cancel: settle (and refund) it instead.
                changes.merge(await apply_intent(engine, ctx, await ctx.gateway.retrieve_intent(row.intent_id)))
                report.settled += 1
            else:
                report.failed += 1
                log.warning("reconcile: the payment of order %s is not settled: %s", row.order_id, err)
        except PaymentProviderUnavailable as err:
            report.failed += 1
            log.warning("reconcile: the payment of order %s is not settled: %s", row.order_id, err)
    # Resale sellers whose refund (by the listing price) did not reach Stripe after their sale settled.
    report.refunded += await refund_pending_sellers(engine, ctx, older_than_s=older_than_s, limit=limit)
    return report, changes


async def reconcile_payments(engine: AsyncEngine, ctx: PaymentContext) -> tuple[str, bool]:
    """`boxoffice reconcile`: what it did, and whether everything it tried is settled."""
    report, _ = await reconcile(engine, ctx)
    # Refunds owed to refunded orders (booking/refunds/): the servers retry them every second too.
    owed = await pay_back_due(engine, ctx, concurrency=4, claim_s=60, limit=10_000)
    return (f"{report}; refunds owed: {owed.refunded} made, {owed.failed} not made yet",
            report.failed == 0 and owed.failed == 0)


