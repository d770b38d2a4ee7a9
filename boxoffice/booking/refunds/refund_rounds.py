"""The refund round every server process runs (app.py): advances show cancellations and makes the
refunds that are due. Safe on any number of processes at once and after any crash: voiding takes
orders FOR UPDATE SKIP LOCKED, a refund is claimed before Stripe is called, and a second call for the
same order would be harmless anyway (one Stripe idempotency key per order)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ..checkout.payments import PaymentContext
from ..records import ChangeSet
from .cancel_show import cancellation_progress, end_sales, finish_if_done, running_cancellations, void_next_batch
from .pay_back import pay_back_due

log = logging.getLogger("boxoffice.refunds")


@dataclass(frozen=True)
class RefundSettings:
    concurrency: int  # Stripe refund calls in flight per process
    claim_s: float  # how long a process owns a refund it is making


@dataclass
class RoundReport:
    voided: int = 0
    refunded: int = 0
    failed: int = 0
    left: int = 0  # of running cancellations: orders still confirmed or refunds still owed


async def refund_round(engine: AsyncEngine, ctx: PaymentContext, settings: RefundSettings,
                       publish: Callable[[ChangeSet], Awaitable[object]]) -> RoundReport:
    report = RoundReport()
    running = await running_cancellations(engine)
    for show_id in running:
        changes = ChangeSet()
        await end_sales(engine, show_id, changes)  # again: a crash may have come between cancel and this
        # Every ticket void first (the database alone, a batch per transaction): the doors refuse them
        # at once, whatever Stripe is doing; the money owed is written down with each batch.
        while (voided := await void_next_batch(engine, show_id, changes)) > 0:
            report.voided += voided
            await publish(changes)
            changes = ChangeSet()
        await publish(changes)
    paid = await pay_back_due(engine, ctx, concurrency=settings.concurrency, claim_s=settings.claim_s)
    report.refunded += paid.refunded
    report.failed += paid.failed
    if paid.failed:
        log.warning("refund round: %d refunds made, %d not made yet (each retried after its back-off)",
                    paid.refunded, paid.failed)
    for show_id in running:
        if await finish_if_done(engine, show_id):
            log.info("show %s cancellation done: every order refunded", show_id)
            continue
        progress = await cancellation_progress(engine, show_id)
        if progress is not None:
            report.left += progress.owed + progress.confirmed
            if report.voided or report.refunded:
                log.info("%s", progress)
    return report
