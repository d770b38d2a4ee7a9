"""Stripe webhooks and reconciliation: both end in `apply_intent`, which is idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ..payments.gateway import PaymentProviderUnavailable, PaymentRequestRejected
from .payments import PaymentContext, apply_intent, intent_key, mark_refunded, refund_order
from .records import ChangeSet

INTENT_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
                 "payment_intent.requires_action", "payment_intent.processing")


async def handle_stripe_event(engine: AsyncEngine, ctx: PaymentContext, event: dict[str, Any]) -> ChangeSet:
    """A verified event. Its id is recorded only after it was applied, so a failure here is
    retried by Stripe; applying twice is harmless. The intent is re-read from Stripe rather than
    trusting the event's copy, so reordered events cannot move an order backwards."""
    event_id, kind = str(event.get("id", "")), str(event.get("type", ""))
    async with engine.connect() as conn:
        seen = (await conn.execute(text("SELECT 1 FROM webhook_events WHERE id = :i"), {"i": event_id})).first()
    changes = ChangeSet()
    if seen:
        return changes
    obj = (event.get("data") or {}).get("object") or {}
    if kind in INTENT_EVENTS and obj.get("id"):
        changes = await apply_intent(engine, ctx, await ctx.gateway.retrieve_intent(str(obj["id"])))
    elif kind == "charge.refunded" and obj.get("payment_intent"):
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT order_id FROM payments WHERE intent_id = :i"),
                                      {"i": str(obj["payment_intent"])})).first()
        if row is not None and obj.get("refunded", True):
            await mark_refunded(engine, row.order_id, None, changes)
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO webhook_events (id, type) VALUES (:i, :t) ON CONFLICT DO NOTHING"),
                           {"i": event_id, "t": kind})
    return changes


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
            "SELECT p.order_id, p.intent_id, p.status, p.amount_cents, p.currency, o.status AS order_status "
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
                # The intent may exist with its id never stored (its answer was lost): the same key finds it.
                intent = await ctx.gateway.create_intent(row.amount_cents, row.currency.lower(),
                                                         {"order_id": str(row.order_id)}, intent_key(row.order_id))
                intent_id = intent.id
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
        except PaymentProviderUnavailable:
            report.failed += 1
    return report, changes


async def reconcile_payments(engine: AsyncEngine, ctx: PaymentContext) -> str:
    report, _ = await reconcile(engine, ctx)
    return str(report)


