"""createOrder: an active hold becomes an order awaiting payment, keeping the hold's places.

One call of create_order_for_hold() (migration 0008): the same key's order, the hold locked, one
order per hold, the order and its payment row inserted, in one statement.
"""

from __future__ import annotations

import uuid

from asyncpg.exceptions import UniqueViolationError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..errors import HoldNotActive, IdempotencyConflict, InvalidInput, NotFound, ShowCancelled, Unauthenticated
from .history import order_record
from ..inventory.holds import MAX_KEY_LENGTH
from ..pg_calls import Attrs, driver
from ..records import OrderRecord, Viewer

_CREATE = "SELECT * FROM create_order_for_hold($1, $2, $3, $4)"
_SHOW_CANCELLED = "SELECT s.status = 'cancelled' FROM holds h JOIN shows s ON s.id = h.show_id WHERE h.id = $1"


async def create_order(engine: AsyncEngine, viewer: Viewer | None, hold_id: uuid.UUID, key: str) -> OrderRecord:
    if viewer is None:
        raise Unauthenticated("Sign in to buy tickets.")
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput(f"idempotencyKey has 1 to {MAX_KEY_LENGTH} characters.", field="idempotencyKey")
    async with driver(engine) as db:
        for _ in range(2):  # a concurrent twin may win the insert; the second pass returns its order
            try:
                row = await db.fetchrow(_CREATE, uuid.uuid4(), viewer.user_id, hold_id, key)
                break
            except UniqueViolationError:
                continue
        else:
            raise IdempotencyConflict("That idempotency key is in use by another request.", field="idempotencyKey")
    outcome = row["outcome"]
    if outcome == "key_conflict":
        raise IdempotencyConflict("That idempotency key was used for another hold.", field="idempotencyKey")
    if outcome == "not_found":
        raise NotFound("No such hold.", field="holdId")
    if outcome == "hold_ended":
        async with driver(engine) as db:  # only now: a cancelled show ends its holds (booking/refunds/)
            cancelled = await db.fetchval(_SHOW_CANCELLED, hold_id)
        if cancelled:
            raise ShowCancelled("This show was cancelled.", field="holdId")
        raise HoldNotActive("This hold has ended; hold the seats again.", field="holdId")
    return order_record(Attrs(row))
