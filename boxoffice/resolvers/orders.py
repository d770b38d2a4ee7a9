"""createOrder, confirmPayment, the order query and orderUpdates."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import strawberry
from graphql import GraphQLError

from ..booking.checkout import history
from ..booking.checkout import orders
from ..booking.checkout import payments
from ..booking.checkout.order_view import OrderViewOnce, order_view
from ..booking.records import OrderRecord
from ..schema.booking_types import Order
from ..schema.catalog_types import Info, parse_id
from ..schema.inputs import ConfirmPaymentInput, CreateOrderInput
from ..schema.results import OrderResult
from ..subscriptions.seat_feed import order_channel
from .problems import attempt, id_or_reject


async def order(info: Info, id: strawberry.ID) -> Order | None:
    viewer = info.context.viewer
    order_id = parse_id(id)
    if viewer is None or order_id is None:
        return None
    # One statement: the order with its payment, items, tickets and their seats (booking/checkout/order_view.py).
    view = await order_view(info.context.engine, order_id)
    if view is None or view.order.user_id != viewer.user_id:
        return None
    return Order(record=view.order, view=OrderViewOnce(view))


async def create_order(info: Info, input: CreateOrderInput) -> OrderResult:
    ctx = info.context

    async def call() -> OrderRecord:
        hold_id = uuid.UUID(id_or_reject(input.hold_id, "holdId"))
        return await orders.create_order(ctx.engine, ctx.viewer, hold_id, input.idempotency_key)

    return await attempt(call, lambda o: Order(record=o))


async def confirm_payment(info: Info, input: ConfirmPaymentInput) -> OrderResult:
    ctx = info.context

    async def call() -> payments.PaidOrder:
        order_id = uuid.UUID(id_or_reject(input.order_id, "orderId"))
        await ctx.services.limits.check_payment(ctx.viewer)
        paid = await payments.confirm_payment(ctx.engine, ctx.services.payments, ctx.viewer, order_id,
                                              input.payment_method, input.idempotency_key)
        await ctx.services.live.publish(paid.changes)
        return paid

    return await attempt(call, lambda paid: Order(record=paid.order, known_payment=paid.payment))


async def order_updates(info: Info, order_id: strawberry.ID) -> AsyncIterator[Order]:
    """The order now, then again each time its status or payment changes."""
    viewer = info.context.viewer
    oid = parse_id(order_id)
    engine = info.context.engine
    record = (await history.get_orders(engine, [oid])).get(oid) if oid else None
    if viewer is None or record is None or record.user_id != viewer.user_id:
        raise GraphQLError("No such order.", extensions={"code": "NOT_FOUND"})
    async with info.context.services.bus.subscribe(order_channel(record.id)) as messages:
        yield Order(record=record)
        async for _ in messages:  # a change (or a bus resume): read the truth again
            fresh = (await history.get_orders(engine, [record.id]))[record.id]
            yield Order(record=fresh)
