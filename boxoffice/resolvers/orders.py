"""createOrder, confirmPayment, the order query and orderUpdates."""

from __future__ import annotations

from collections.abc import AsyncIterator

import strawberry

from ..booking import history
from ..booking.errors import InvalidInput
from ..schema.booking_types import Order
from ..schema.catalog_types import Info, parse_id
from ..schema.inputs import ConfirmPaymentInput, CreateOrderInput
from ..schema.results import OrderResult, rejected


async def order(info: Info, id: strawberry.ID) -> Order | None:
    viewer = info.context.viewer
    order_id = parse_id(id)
    if viewer is None or order_id is None:
        return None
    record = (await history.get_orders(info.context.engine, [order_id])).get(order_id)
    return Order(record=record) if record and record.user_id == viewer.user_id else None


async def create_order(info: Info, input: CreateOrderInput) -> OrderResult:
    return rejected(InvalidInput("Orders are not open yet."))


async def confirm_payment(info: Info, input: ConfirmPaymentInput) -> OrderResult:
    return rejected(InvalidInput("Payments are not open yet."))


async def order_updates(info: Info, order_id: strawberry.ID) -> AsyncIterator[Order]:
    return
    yield  # pragma: no cover
