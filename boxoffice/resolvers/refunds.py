"""setRefundPolicy, refundOrder and cancelShow (booking/refunds/)."""

from __future__ import annotations

import uuid

import strawberry

from ..booking.records import OrderRecord, ShowRecord
from ..booking.refunds import cancel_show as cancelling
from ..booking.refunds import policy
from ..booking.refunds.refund_order import refund_order as refund
from ..schema.booking_types import Order
from ..schema.catalog_types import Info, Show
from ..schema.refund_types import RefundPolicyInput
from ..schema.results import OrderResult, ShowResult
from .problems import attempt, id_or_reject


def _given(value: object) -> object:
    return policy.KEEP if value is strawberry.UNSET else value


async def set_refund_policy(info: Info, show_id: strawberry.ID, input: RefundPolicyInput) -> ShowResult:
    ctx = info.context

    async def call() -> ShowRecord:
        sid = uuid.UUID(id_or_reject(show_id, "showId"))
        show, changes = await policy.set_refund_policy(
            ctx.engine, ctx.viewer, sid, fan_refunds_until_hours_before=_given(input.fan_refunds_until_hours_before),
            resale_cap_percent=_given(input.resale_cap_percent))
        ctx.services.shows.clear()
        await ctx.services.live.publish(changes)
        return show

    return await attempt(call, lambda s: Show(record=s))


async def refund_order(info: Info, order_id: strawberry.ID, idempotency_key: str) -> OrderResult:
    ctx = info.context

    async def call() -> OrderRecord:
        oid = uuid.UUID(id_or_reject(order_id, "orderId"))
        record, changes = await refund(ctx.engine, ctx.services.payments, ctx.viewer, oid, idempotency_key,
                                       claim_s=ctx.services.settings.refund_claim_s)
        await ctx.services.live.publish(changes)
        return record

    return await attempt(call, lambda o: Order(record=o))


async def cancel_show(info: Info, show_id: strawberry.ID, reason: str) -> ShowResult:
    ctx = info.context

    async def call() -> ShowRecord:
        sid = uuid.UUID(id_or_reject(show_id, "showId"))
        show, changes = await cancelling.cancel_show(ctx.engine, ctx.viewer, sid, reason)
        ctx.services.shows.clear()  # this process refuses at once; the others read it under the show's lock
        await ctx.services.live.publish(changes)
        return show

    return await attempt(call, lambda s: Show(record=s))
