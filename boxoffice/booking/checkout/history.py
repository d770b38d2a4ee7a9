"""What a fan looks back on: their orders (newest first), payments, tickets and notifications."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ...db import reading
from ..errors import InvalidInput
from ..page_cursors import NOT_OURS, decode_cursor, encode_cursor
from ..records import NotificationRecord, OrderRecord, PaymentRecord

MAX_PAGE = 100
ORDER_COLS = ("id, user_id, show_id, hold_id, status, ticket_count, total_cents, currency, expires_at, "
              "created_at")


def order_record(r: Any) -> OrderRecord:
    return OrderRecord(id=r.id, user_id=r.user_id, show_id=r.show_id, hold_id=r.hold_id, status=r.status,
                       ticket_count=r.ticket_count, total_cents=r.total_cents, currency=r.currency,
                       expires_at=r.expires_at, created_at=r.created_at)


@dataclass(frozen=True)
class OrderPage:
    orders: list[tuple[str, OrderRecord]]
    has_next_page: bool


async def orders_of_user(engine: AsyncEngine, user_id: uuid.UUID, *, first: int, after: str | None) -> OrderPage:
    if not 0 <= first <= MAX_PAGE:
        raise InvalidInput(f"first is between 0 and {MAX_PAGE}.", field="first")
    params: dict[str, Any] = {"u": user_id, "n": first + 1}
    where = "user_id = :u"
    if after:
        instant, oid = decode_cursor(after)
        if instant is None:
            raise InvalidInput(NOT_OURS, field="after")
        params.update(t=instant, o=oid)
        where += " AND (created_at, id) < (:t, :o)"
    async with reading(engine) as conn:
        rows = (await conn.execute(text(f"SELECT {ORDER_COLS} FROM orders WHERE {where} "
                                        "ORDER BY created_at DESC, id DESC LIMIT :n"), params)).all()
    orders = [order_record(r) for r in rows[:first]]
    return OrderPage(orders=[(encode_cursor(o.created_at, o.id), o) for o in orders], has_next_page=len(rows) > first)


async def get_orders(engine: AsyncEngine, ids: list[uuid.UUID]) -> dict[uuid.UUID, OrderRecord]:
    async with reading(engine) as conn:
        rows = (await conn.execute(text(f"SELECT {ORDER_COLS} FROM orders WHERE id = ANY(:ids)"),
                                   {"ids": ids})).all()
    return {r.id: order_record(r) for r in rows}


async def notifications_of_user(engine: AsyncEngine, user_id: uuid.UUID, *, first: int) -> list[NotificationRecord]:
    if not 0 <= first <= MAX_PAGE:
        raise InvalidInput(f"first is between 0 and {MAX_PAGE}.", field="first")
    async with reading(engine) as conn:
        rows = (await conn.execute(text(
            # Newest first; rows stored by one batch share their transaction's time, and then the
            # outbox's order is the order the events happened in.
            "SELECT id, kind, subject, created_at FROM notifications WHERE user_id = :u "
            "ORDER BY created_at DESC, outbox_id DESC NULLS LAST, id LIMIT :n"), {"u": user_id, "n": first})).all()
    return [NotificationRecord(id=r.id, kind=r.kind, subject=r.subject, created_at=r.created_at) for r in rows]


async def payment_of_order(engine: AsyncEngine, order_id: uuid.UUID) -> PaymentRecord | None:
    async with reading(engine) as conn:
        r = (await conn.execute(text(
            "SELECT id, order_id, provider, status, amount_cents, currency, next_action_url, failure_reason "
            "FROM payments WHERE order_id = :o"), {"o": order_id})).first()
    if r is None:
        return None
    return PaymentRecord(id=r.id, order_id=r.order_id, provider=r.provider, status=r.status,
                         amount_cents=r.amount_cents, currency=r.currency, next_action_url=r.next_action_url,
                         failure_reason=r.failure_reason)
