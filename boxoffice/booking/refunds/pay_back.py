"""Returning the money of voided orders through Stripe: the second half of a refund.

Each `order_refunds` row is a debt written with the order's voiding (void_orders.py). Paying it
back is one Stripe refund of exactly that amount (not "the rest of the charge": a resale payout to
the seller of one of its tickets may still be pending on the same charge, and is owed apart) of the
order's PaymentIntent with the order's own idempotency key, the same key the refund of a late
payment uses (checkout/payments.py): however often it is tried, by however many processes, before
or after a crash, Stripe makes one refund. Outcomes are recorded after the call, outside any
transaction held across it; a failure leaves the row pending with a back-off, and every process's
refund round (refund_rounds.py) retries what is due. `claim_s`: a process that takes a row pushes
its next attempt that far ahead, so others leave it alone meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ...payments.gateway import PaymentProviderUnavailable, PaymentRequestRejected
from ..checkout.payments import PaymentContext
from ..pg_calls import driver

log = logging.getLogger("boxoffice.refunds")

# Retries back off exponentially from RETRY_BASE_S to at most RETRY_CAP_S between attempts; the
# audit reports a refund still not made after 10 minutes (booking/audit.py).
RETRY_BASE_S = 2.0
RETRY_CAP_S = 300.0
# Stripe will never refund these: the buyer's bank took the money back (a dispute), or nothing was captured.
FINAL_REFUSALS = frozenset({"charge_disputed", "charge_not_refundable"})


def refund_key(order_id: uuid.UUID) -> str:
    """One Stripe refund per order, whoever asks and however often (as checkout/payments.py)."""
    return f"boxoffice-refund-{order_id}"


@dataclass
class PayBackReport:
    refunded: int = 0
    failed: int = 0


# Picked once (a materialized CTE, as booking/inventory/ga.py picks places): a LIMIT ... SKIP LOCKED
# subquery the planner runs per row claims more than the batch.
_CLAIM_DUE = (
    "WITH due AS MATERIALIZED (SELECT order_id FROM order_refunds WHERE status = 'pending' "
    "  AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) "
    "UPDATE order_refunds r SET next_attempt_at = now() + make_interval(secs => $2) FROM due, payments p "
    "WHERE r.order_id = due.order_id AND p.order_id = r.order_id "
    "RETURNING r.order_id, p.intent_id, r.amount_cents")
_OWED = ("SELECT p.intent_id, r.amount_cents FROM order_refunds r JOIN payments p ON p.order_id = r.order_id "
         "WHERE r.order_id = $1")
_SUCCEEDED = (
    "WITH done AS (UPDATE order_refunds SET status = 'succeeded', stripe_refund_id = $2, refunded_at = now(), "
    "  attempts = attempts + 1, last_error = NULL WHERE order_id = $1 AND status = 'pending' RETURNING order_id) "
    "UPDATE payments p SET status = 'refunded', refund_id = COALESCE($2, p.refund_id), updated_at = now() "
    "FROM done WHERE p.order_id = done.order_id AND p.status = 'succeeded'")
_FAILED = (
    "UPDATE order_refunds SET attempts = attempts + 1, last_error = $2, "
    "status = CASE WHEN $3 THEN 'failed' ELSE status END, "
    "next_attempt_at = now() + make_interval(secs => least($4::float8, $5::float8 * power(2, attempts))) "
    "WHERE order_id = $1 AND status = 'pending'")


@dataclass(frozen=True, slots=True)
class Owed:
    order_id: uuid.UUID
    intent_id: str | None
    amount_cents: int


async def claim_due(engine: AsyncEngine, limit: int, claim_s: float) -> list[Owed]:
    """Pending refunds whose next attempt is due, now this process's for claim_s."""
    async with driver(engine) as db:
        rows = await db.fetch(_CLAIM_DUE, limit, claim_s)
    return [Owed(r["order_id"], r["intent_id"], r["amount_cents"]) for r in rows]


async def pay_back_order(engine: AsyncEngine, ctx: PaymentContext, order_id: uuid.UUID,
                         owed: Owed | None = None) -> bool:
    """One refund at Stripe, its outcome recorded; True when the money is back."""
    if owed is None:
        async with driver(engine) as db:
            row = await db.fetchrow(_OWED, order_id)
        if row is None:
            return False
        owed = Owed(order_id, row["intent_id"], row["amount_cents"])
    if owed.intent_id is None:  # a confirmed order always has its intent; never refund what was not captured
        await _record_failure(engine, order_id, "the payment has no PaymentIntent", final=True)
        return False
    if owed.amount_cents == 0:  # resales of its tickets paid the whole charge back already
        await _record_success(engine, order_id, None)
        return True
    try:
        refund = await ctx.gateway.refund(owed.intent_id, refund_key(order_id), owed.amount_cents)
    except PaymentRequestRejected as err:
        if err.code == "charge_already_refunded":  # refunded before (another key, the dashboard): it is back
            await _record_success(engine, order_id, None)
            return True
        await _record_failure(engine, order_id, f"{err.code or err.http_status}: {err}",
                              final=err.code in FINAL_REFUSALS)
        return False
    except PaymentProviderUnavailable as err:
        await _record_failure(engine, order_id, str(err), final=False)
        return False
    await _record_success(engine, order_id, refund.id)
    return True


async def pay_back_due(engine: AsyncEngine, ctx: PaymentContext, *, concurrency: int, claim_s: float,
                       limit: int = 1000) -> PayBackReport:
    """Makes the refunds that are due, `concurrency` Stripe calls at a time, until none is due, a
    whole batch failed (Stripe is down: the next round tries again, each refund after its back-off)
    or `limit` were tried (a round stays short, so its progress is reported). A batch is only as many
    refunds as are called at once, so each starts within its claim."""
    report = PayBackReport()
    batch = max(1, concurrency)

    while True:
        due = await claim_due(engine, batch, claim_s)
        if not due:
            return report
        made = sum(await asyncio.gather(*(pay_back_order(engine, ctx, o.order_id, o) for o in due)))
        report.refunded += made
        report.failed += len(due) - made
        if made == 0 or len(due) < batch or report.refunded + report.failed >= limit:
            return report


async def _record_success(engine: AsyncEngine, order_id: uuid.UUID, refund_id: str | None) -> None:
    async with driver(engine) as db:
        await db.execute(_SUCCEEDED, order_id, refund_id)


async def _record_failure(engine: AsyncEngine, order_id: uuid.UUID, error: str, *, final: bool) -> None:
    log.warning("refund of order %s not made%s: %s", order_id, " (for good)" if final else ", will retry", error)
    async with driver(engine) as db:
        await db.execute(_FAILED, order_id, error[:500], final, RETRY_CAP_S, RETRY_BASE_S)
