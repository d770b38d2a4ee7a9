"""Notifications delivered a batch at a time (the consumer's reads): the same rows as one at a time,
each entry with its own outcome. Real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.notifications import NotificationConsumer, NotificationDeliverer, UndeliverableError
from boxoffice.notifications.relay import stream_fields

from .conftest import Fan, Names
from .test_pipeline import notifications, pending


def _payloads(fan: Fan) -> list[dict[str, Any]]:
    """The four kinds, with their context named the ways the domain names it."""
    return [{"kind": "ORDER_CONFIRMED", "orderId": str(fan.order_id), "showId": str(fan.show_id)},
            {"kind": "PAYMENT_FAILED", "orderId": str(fan.order_id), "reason": "card declined"},
            {"kind": "HOLD_EXPIRED", "holdId": str(fan.hold_id), "showId": str(fan.show_id)},
            {"kind": "ORDER_CANCELLED", "holdId": str(fan.hold_id), "showId": str(fan.show_id), "refunded": True}]


async def test_a_batch_stores_what_one_message_at_a_time_stores(engine: AsyncEngine, fan: Fan) -> None:
    deliverer = NotificationDeliverer(engine, mailer=None, public_url="https://tickets.example")
    payloads = _payloads(fan)
    alone = [10**13 + i for i in range(len(payloads))]
    together = [10**13 + 100 + i for i in range(len(payloads))]
    for outbox_id, payload in zip(alone, payloads):
        await deliverer(outbox_id, fan.user_id, payload)
    assert await deliverer.deliver_batch([(o, fan.user_id, p) for o, p in zip(together, payloads)]) == [None] * 4
    rows = {r.outbox_id: (r.kind, r.subject, r.body) for r in await notifications(engine, fan.user_id)}
    assert [rows[o] for o in together] == [rows[o] for o in alone]
    assert "Order: " + str(fan.order_id) in rows[together[3]][2]  # found by its hold, beside ones by id
    assert "2 places" in rows[together[2]][2] and "Flash" in rows[together[2]][1]


async def test_each_message_of_a_batch_gets_its_own_outcome(engine: AsyncEngine, fan: Fan) -> None:
    deliverer = NotificationDeliverer(engine, mailer=None)
    expired = {"kind": "HOLD_EXPIRED", "holdId": str(fan.hold_id), "showId": str(fan.show_id)}
    base = 10**13 + 1000
    await deliverer(base, fan.user_id, expired)  # delivered before
    outcomes = await deliverer.deliver_batch([
        (base, fan.user_id, expired),                   # delivered before: done
        (base + 1, fan.user_id, expired),               # new
        (base + 1, fan.user_id, expired),               # the same message twice in one batch: one row
        (base + 2, uuid.uuid4(), expired),              # nobody: undeliverable
        (base + 3, fan.user_id, {"kind": "NO_SUCH"}),   # undeliverable
        (base + 4, fan.user_id, {"kind": "ORDER_CANCELLED", "holdId": str(uuid.uuid4())}),  # no context: still sent
    ])
    assert outcomes[:3] == [None, None, None] and outcomes[5] is None
    assert isinstance(outcomes[3], UndeliverableError) and isinstance(outcomes[4], UndeliverableError)
    stored = [r.outbox_id for r in await notifications(engine, fan.user_id) if r.outbox_id >= base]
    assert stored == [base, base + 1, base + 4]


async def test_the_consumer_delivers_a_read_as_one_batch_and_acks_it_together(
        engine: AsyncEngine, redis: aioredis.Redis, names: Names, fan: Fan) -> None:
    deliverer = NotificationDeliverer(engine, mailer=None)
    batches: list[int] = []

    async def counted(items: Any) -> list[BaseException | None]:
        batches.append(len(items))
        return await deliverer.deliver_batch(items)

    base = 10**13 + 2000
    for i, payload in enumerate(_payloads(fan)):
        await redis.xadd(names.stream, stream_fields(base + i, fan.user_id, payload))
    await redis.xadd(names.stream, stream_fields(base + 10, uuid.uuid4(), {"kind": "HOLD_EXPIRED"}))
    await redis.xadd(names.stream, {"garbage": "1"})
    consumer = NotificationConsumer(redis, deliver=deliverer, deliver_batch=counted, stream=names.stream,
                                    group="notifiers", dead_letter_stream=names.dead, min_idle_ms=50)
    assert await consumer.run_once(block_ms=50) == 6
    assert batches == [5]  # the malformed entry never reaches the deliverer
    assert [r.outbox_id for r in await notifications(engine, fan.user_id) if r.outbox_id >= base] == \
        [base + i for i in range(4)]
    dead = [{k.decode(): v.decode() for k, v in f.items()} for _, f in await redis.xrange(names.dead)]
    assert len(dead) == 2 and all(d["error"].startswith("undeliverable") for d in dead)
    assert await pending(redis, names) == 0 and await redis.xlen(names.stream) == 0


async def test_a_batch_the_database_refuses_stays_pending_and_is_delivered_later(
        engine: AsyncEngine, redis: aioredis.Redis, names: Names, fan: Fan) -> None:
    deliverer = NotificationDeliverer(engine, mailer=None)
    down = True

    async def flaky(items: Any) -> list[BaseException | None]:
        if down:
            raise ConnectionError("database unreachable")
        return await deliverer.deliver_batch(items)

    base = 10**13 + 3000
    for i, payload in enumerate(_payloads(fan)[2:]):
        await redis.xadd(names.stream, stream_fields(base + i, fan.user_id, payload))
    consumer = NotificationConsumer(redis, deliver=deliverer, deliver_batch=flaky, stream=names.stream,
                                    group="notifiers", dead_letter_stream=names.dead, min_idle_ms=50)
    assert await consumer.run_once(block_ms=50) == 2
    assert await pending(redis, names) == 2 and await redis.xlen(names.dead) == 0
    down = False
    await asyncio.sleep(0.08)
    assert await consumer.run_once(block_ms=10) == 2  # claimed again once idle long enough
    assert [r.outbox_id for r in await notifications(engine, fan.user_id) if r.outbox_id >= base] == [base, base + 1]
    assert await pending(redis, names) == 0


async def test_a_batchs_notifications_read_newest_first(engine: AsyncEngine, fan: Fan) -> None:
    """One batch's rows share their transaction's time: the outbox's order breaks the tie (a random id
    did, and `notifications(first: 1)` could be an older event)."""
    from boxoffice.booking.checkout.history import notifications_of_user

    deliverer = NotificationDeliverer(engine, mailer=None)
    payloads = _payloads(fan)
    base = 10**13 + 4000
    assert await deliverer.deliver_batch([(base + i, fan.user_id, p) for i, p in enumerate(payloads)]) == [None] * 4
    newest = await notifications_of_user(engine, fan.user_id, first=4)
    assert len({n.created_at for n in newest}) == 1
    assert [n.kind for n in newest] == [p["kind"] for p in reversed(payloads)]
