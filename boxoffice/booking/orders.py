"""createOrder: an active hold becomes an order awaiting payment, keeping the hold's places."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from .errors import HoldNotActive, IdempotencyConflict, InvalidInput, NotFound, Unauthenticated
from .history import ORDER_COLS, order_record
from .holds import MAX_KEY_LENGTH
from .records import OrderRecord, Viewer


async def create_order(engine: AsyncEngine, viewer: Viewer | None, hold_id: uuid.UUID, key: str) -> OrderRecord:
    if viewer is None:
        raise Unauthenticated("Sign in to buy tickets.")
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput(f"idempotencyKey has 1 to {MAX_KEY_LENGTH} characters.", field="idempotencyKey")
    for _ in range(2):  # a concurrent twin may win the insert; the second pass returns its order
        try:
            return await _create_once(engine, viewer, hold_id, key)
        except IntegrityError:
            continue
    raise IdempotencyConflict("That idempotency key is in use by another request.", field="idempotencyKey")


async def _create_once(engine: AsyncEngine, viewer: Viewer, hold_id: uuid.UUID, key: str) -> OrderRecord:
    async with engine.begin() as conn:
        same_key = (await conn.execute(text(f"SELECT {ORDER_COLS} FROM orders WHERE user_id = :u AND "
                                            "idempotency_key = :k"), {"u": viewer.user_id, "k": key})).first()
        if same_key is not None:
            if same_key.hold_id != hold_id:
                raise IdempotencyConflict("That idempotency key was used for another hold.", field="idempotencyKey")
            return order_record(same_key)
        hold = (await conn.execute(text(
            "SELECT id, user_id, show_id, status, expires_at > now() AS live, ticket_count, total_cents, currency, "
            "expires_at FROM holds WHERE id = :h FOR UPDATE"), {"h": hold_id})).first()
        if hold is None or hold.user_id != viewer.user_id:
            raise NotFound("No such hold.", field="holdId")
        existing = (await conn.execute(text(f"SELECT {ORDER_COLS} FROM orders WHERE hold_id = :h"),
                                       {"h": hold_id})).first()
        if existing is not None:
            return order_record(existing)  # one order per hold, whichever key asked first
        if hold.status != "active" or not hold.live:
            raise HoldNotActive("This hold has ended; hold the seats again.", field="holdId")
        row = (await conn.execute(text(
            "INSERT INTO orders (user_id, show_id, hold_id, ticket_count, total_cents, currency, idempotency_key, "
            f"expires_at) VALUES (:u, :s, :h, :n, :t, :c, :k, :e) RETURNING {ORDER_COLS}"),
            {"u": viewer.user_id, "s": hold.show_id, "h": hold_id, "n": hold.ticket_count, "t": hold.total_cents,
             "c": hold.currency, "k": key, "e": hold.expires_at})).one()
        await conn.execute(text("INSERT INTO payments (order_id, amount_cents, currency) VALUES (:o, :a, :c)"),
                           {"o": row.id, "a": hold.total_cents, "c": hold.currency})
    return order_record(row)
