"""Outbox → relay → Redis Stream → consumer group → deliverer → notification row + e-mail.

Against real PostgreSQL, real Redis (a unique stream and outbox topic per test) and a real SMTP
server (aiosmtpd on a free port).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.notifications import (NotificationConsumer, NotificationDeliverer, NotificationPipeline, OutboxRelay,
                                     SmtpMailer, UndeliverableError, compose, requeue_dead_letters)
from boxoffice.notifications.deliver import ShowInfo
from boxoffice.notifications.relay import stream_fields

from .conftest import Fan, Names, Smtp, free_port

SENDER = "boxoffice <no-reply@boxoffice.local>"


# --- helpers -----------------------------------------------------------------------------------------------

async def add_outbox(engine: AsyncEngine, topic: str, user_id: uuid.UUID | None, payload: dict[str, Any],
                     n: int = 1) -> list[int]:
    async with engine.begin() as conn:
        return list((await conn.execute(text(
            "INSERT INTO outbox (topic, user_id, payload) SELECT :t, :u, CAST(:p AS jsonb) FROM generate_series(1, :n) "
            "RETURNING id"), {"t": topic, "u": user_id, "p": json.dumps(payload), "n": n})).scalars().all())


async def unrelayed(engine: AsyncEngine, topic: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(
            "SELECT count(*) FROM outbox WHERE topic = :t AND relayed_at IS NULL"), {"t": topic})).scalar_one())


async def notifications(engine: AsyncEngine, user_id: uuid.UUID) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT kind, subject, body, outbox_id FROM notifications WHERE user_id = :u ORDER BY outbox_id"),
            {"u": user_id})).all())


def consumer_for(redis: aioredis.Redis, names: Names, deliver: Any, **kw: Any) -> NotificationConsumer:
    kw.setdefault("min_idle_ms", 50)
    return NotificationConsumer(redis, deliver=deliver, stream=names.stream, group="notifiers",
                                dead_letter_stream=names.dead, **kw)


async def consume_until(consumer: NotificationConsumer, done: Any, timeout_s: float = 8.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await done():
        assert time.monotonic() < deadline, "timed out"
        await consumer.run_once(block_ms=20)


async def pending(redis: aioredis.Redis, names: Names) -> int:
    return int((await redis.xpending(names.stream, "notifiers"))["pending"])


# --- the pipeline --------------------------------------------------------------------------------------------

async def test_outbox_to_stream_to_notification_and_mail(engine: AsyncEngine, redis: aioredis.Redis, names: Names,
                                                         smtp: Smtp, fan: Fan) -> None:
    confirmed = (await add_outbox(engine, names.topic, fan.user_id,
                                  {"kind": "ORDER_CONFIRMED", "orderId": str(fan.order_id)}))[0]
    expired = (await add_outbox(engine, names.topic, fan.user_id,
                                {"kind": "HOLD_EXPIRED", "holdId": str(fan.hold_id), "showId": str(fan.show_id)}))[0]
    deliverer = NotificationDeliverer(engine, mailer=SmtpMailer.from_url(smtp.url))
    relay = OutboxRelay(engine, redis=redis, deliver=deliverer, stream=names.stream, topic=names.topic)

    assert await relay.run_once() == 2
    assert await unrelayed(engine, names.topic) == 0
    assert await relay.run_once() == 0
    entries = await redis.xrange(names.stream)
    assert [int(f[b"outbox_id"]) for _, f in entries] == [confirmed, expired]
    assert entries[0][1][b"user_id"].decode() == str(fan.user_id)

    consumer = consumer_for(redis, names, deliverer)
    assert await consumer.run_once(block_ms=100) == 2
    rows = await notifications(engine, fan.user_id)
    assert [(r.kind, r.subject, r.outbox_id) for r in rows] == [
        ("ORDER_CONFIRMED", "Your tickets for Flash are confirmed", confirmed),
        ("HOLD_EXPIRED", "Your hold on Flash expired", expired)]
    assert "2 tickets, 20.00 EUR" in rows[0].body and "Arena, Lisbon" in rows[0].body
    assert str(fan.order_id) in rows[0].body

    # One consumer read delivers its entries concurrently: the two mails may arrive in either order.
    mails = {m["Message-ID"]: m for m in smtp.inbox.to(fan.email)}
    assert {mid: m["Subject"] for mid, m in mails.items()} == {
        f"<notification-{r.outbox_id}@boxoffice.local>": r.subject for r in rows}
    assert all(m["From"] == SENDER and m["To"] == fan.email for m in mails.values())
    assert "Arena, Lisbon" in mails[f"<notification-{confirmed}@boxoffice.local>"].get_content()
    # Acked and removed: nothing pending, nothing left in the stream.
    assert await pending(redis, names) == 0 and await redis.xlen(names.stream) == 0
    assert await consumer.run_once(block_ms=20) == 0


async def test_duplicate_deliveries_make_one_notification_and_one_mail(
        engine: AsyncEngine, redis: aioredis.Redis, names: Names, smtp: Smtp, fan: Fan) -> None:
    payload = {"kind": "PAYMENT_FAILED", "orderId": str(fan.order_id), "reason": "card declined"}
    outbox_id = (await add_outbox(engine, names.topic, fan.user_id, payload))[0]
    deliverer = NotificationDeliverer(engine, mailer=SmtpMailer.from_url(smtp.url))
    for _ in range(2):  # the relay crashed after XADD, before its commit, and relayed the row again
        await redis.xadd(names.stream, stream_fields(outbox_id, fan.user_id, payload))
    consumer = consumer_for(redis, names, deliverer)
    await consume_until(consumer, lambda: _stream_empty(redis, names))
    await deliverer(outbox_id, fan.user_id, payload)  # and once more, directly

    rows = await notifications(engine, fan.user_id)
    assert [(r.kind, r.subject, r.outbox_id) for r in rows] == [
        ("PAYMENT_FAILED", "Payment failed for your order", outbox_id)]
    assert "card declined" in rows[0].body
    assert [m["Subject"] for m in smtp.inbox.to(fan.email)] == ["Payment failed for your order"]

    # Concurrent duplicates (two consumers at once): the second waits on the first's uncommitted
    # unique key, then inserts, and mails, nothing.
    other = (await add_outbox(engine, names.topic, fan.user_id, {"kind": "ORDER_CANCELLED",
                                                                 "orderId": str(fan.order_id)}))[0]
    await asyncio.gather(*(deliverer(other, fan.user_id, {"kind": "ORDER_CANCELLED", "orderId": str(fan.order_id)})
                           for _ in range(3)))
    assert [r.outbox_id for r in await notifications(engine, fan.user_id)] == [outbox_id, other]
    assert [m["Subject"] for m in smtp.inbox.to(fan.email)] == ["Payment failed for your order",
                                                                "Your order for Flash was cancelled"]


async def _stream_empty(redis: aioredis.Redis, names: Names) -> bool:
    return await redis.xlen(names.stream) == 0


async def test_a_failing_delivery_is_retried_with_growing_backoff(
        engine: AsyncEngine, redis: aioredis.Redis, names: Names, fan: Fan) -> None:
    payload = {"kind": "ORDER_CANCELLED", "holdId": str(fan.hold_id), "showId": str(fan.show_id)}
    outbox_id = (await add_outbox(engine, names.topic, fan.user_id, payload))[0]
    deliverer = NotificationDeliverer(engine, mailer=None)
    attempts: list[float] = []

    async def flaky(oid: int, user_id: uuid.UUID, p: dict[str, Any]) -> None:
        attempts.append(time.monotonic())
        if len(attempts) <= 2:
            raise ConnectionError("SMTP server unavailable")
        await deliverer(oid, user_id, p)

    await OutboxRelay(engine, redis=redis, deliver=flaky, stream=names.stream, topic=names.topic).run_once()
    consumer = consumer_for(redis, names, flaky, min_idle_ms=100, max_attempts=5)
    await consume_until(consumer, lambda: _stream_empty(redis, names))

    assert len(attempts) == 3
    first_wait, second_wait = attempts[1] - attempts[0], attempts[2] - attempts[1]
    # Idle 100 ms, then 200 ms (measured by Redis from its delivery, a little before our call: some slack).
    assert first_wait >= 0.085 and second_wait >= 0.17, (first_wait, second_wait)
    assert await redis.xlen(names.dead) == 0 and await pending(redis, names) == 0
    rows = await notifications(engine, fan.user_id)
    assert [(r.subject, r.outbox_id) for r in rows] == [("Your order for Flash was cancelled", outbox_id)]


async def test_a_delivery_that_always_fails_is_dead_lettered(
        engine: AsyncEngine, redis: aioredis.Redis, names: Names, fan: Fan) -> None:
    payload = {"kind": "HOLD_EXPIRED", "holdId": str(fan.hold_id), "showId": str(fan.show_id)}
    outbox_id = (await add_outbox(engine, names.topic, fan.user_id, payload))[0]
    calls: list[int] = []

    async def broken(oid: int, user_id: uuid.UUID, p: dict[str, Any]) -> None:
        calls.append(oid)
        raise RuntimeError("mail relay on fire")

    await OutboxRelay(engine, redis=redis, deliver=broken, stream=names.stream, topic=names.topic).run_once()
    consumer = consumer_for(redis, names, broken, max_attempts=3)
    await consume_until(consumer, lambda: _stream_empty(redis, names))

    assert calls == [outbox_id] * 3
    dead = await redis.xrange(names.dead)
    assert len(dead) == 1
    fields = {k.decode(): v.decode() for k, v in dead[0][1].items()}
    assert fields["outbox_id"] == str(outbox_id) and fields["attempts"] == "3"
    assert "mail relay on fire" in fields["error"] and json.loads(fields["payload"]) == payload
    assert await pending(redis, names) == 0
    assert await notifications(engine, fan.user_id) == []

    # Once the cause is fixed, dead letters go back on the stream and are delivered.
    assert await requeue_dead_letters(redis, dead_letter_stream=names.dead, stream=names.stream) == 1
    fixed = consumer_for(redis, names, NotificationDeliverer(engine, mailer=None))
    await consume_until(fixed, lambda: _stream_empty(redis, names))
    assert [r.outbox_id for r in await notifications(engine, fan.user_id)] == [outbox_id]
    assert await redis.xlen(names.dead) == 0


async def test_undeliverable_entries_are_dead_lettered_at_once(
        engine: AsyncEngine, redis: aioredis.Redis, names: Names, fan: Fan) -> None:
    deliverer = NotificationDeliverer(engine, mailer=None)
    await redis.xadd(names.stream, stream_fields(10**12, fan.user_id, {"kind": "NO_SUCH_KIND"}))
    await redis.xadd(names.stream, stream_fields(10**12 + 1, uuid.uuid4(), {"kind": "HOLD_EXPIRED"}))
    await redis.xadd(names.stream, {"garbage": "1"})
    await redis.xadd(names.stream, stream_fields(10**12 + 2, None, {"kind": "HOLD_EXPIRED"}))
    consumer = consumer_for(redis, names, deliverer, max_attempts=5)
    assert await consumer.run_once(block_ms=50) == 4
    dead = [{k.decode(): v.decode() for k, v in f.items()} for _, f in await redis.xrange(names.dead)]
    assert [d["attempts"] for d in dead] == ["1"] * 4
    assert all(d["error"].startswith("undeliverable") for d in dead)
    assert await pending(redis, names) == 0 and await redis.xlen(names.stream) == 0


async def test_entries_of_a_crashed_consumer_are_claimed_by_another(
        engine: AsyncEngine, redis: aioredis.Redis, names: Names, fan: Fan) -> None:
    payload = {"kind": "HOLD_EXPIRED", "holdId": str(fan.hold_id), "showId": str(fan.show_id)}
    outbox_id = (await add_outbox(engine, names.topic, fan.user_id, payload))[0]
    deliverer = NotificationDeliverer(engine, mailer=None)
    await OutboxRelay(engine, redis=redis, deliver=deliverer, stream=names.stream, topic=names.topic).run_once()
    survivor = consumer_for(redis, names, deliverer)
    await survivor.ensure_group()
    # "ghost" reads the entry and dies before acking it.
    assert await redis.xreadgroup("notifiers", "ghost", {names.stream: ">"}, count=10)
    assert await survivor.run_once(block_ms=10) == 0  # not idle long enough yet
    await asyncio.sleep(0.08)
    assert await survivor.run_once(block_ms=10) == 1
    assert [r.outbox_id for r in await notifications(engine, fan.user_id)] == [outbox_id]
    assert await pending(redis, names) == 0


# --- the relay ----------------------------------------------------------------------------------------------

async def test_relay_without_redis_delivers_directly(engine: AsyncEngine, names: Names, smtp: Smtp,
                                                     fan: Fan) -> None:
    outbox_id = (await add_outbox(engine, names.topic, fan.user_id,
                                  {"kind": "ORDER_CONFIRMED", "orderId": str(fan.order_id)}))[0]
    deliverer = NotificationDeliverer(engine, mailer=SmtpMailer.from_url(smtp.url))
    failures = [ConnectionError("SMTP down")]

    async def once_failing(oid: int, user_id: uuid.UUID, p: dict[str, Any]) -> None:
        if failures:
            raise failures.pop()
        await deliverer(oid, user_id, p)

    relay = OutboxRelay(engine, redis=None, deliver=once_failing, topic=names.topic, direct_retry_s=0.05)
    assert await relay.run_once() == 0  # failed: stays unrelayed, retried after a backoff
    assert await unrelayed(engine, names.topic) == 1
    await asyncio.sleep(0.06)
    assert await relay.run_once() == 1
    assert await unrelayed(engine, names.topic) == 0
    assert [r.outbox_id for r in await notifications(engine, fan.user_id)] == [outbox_id]
    assert [m["Subject"] for m in smtp.inbox.to(fan.email)] == ["Your tickets for Flash are confirmed"]


async def _redis_proxy(port: int, target: tuple[str, int]) -> asyncio.Server:
    """A TCP forwarder to the real Redis: "Redis is back" once it listens."""
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection(*target)
        await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))

    return await asyncio.start_server(handle, "127.0.0.1", port)


async def test_relay_keeps_rows_while_redis_is_down_and_relays_them_after(
        engine: AsyncEngine, redis: aioredis.Redis, redis_url: str, names: Names, fan: Fan) -> None:
    ids = await add_outbox(engine, names.topic, fan.user_id,
                           {"kind": "HOLD_EXPIRED", "holdId": str(fan.hold_id), "showId": str(fan.show_id)}, n=5)
    port = free_port()  # nothing listens here yet
    down = aioredis.Redis(host="127.0.0.1", port=port, socket_timeout=0.2, socket_connect_timeout=0.2,
                          retry=Retry(NoBackoff(), 0))
    relay = OutboxRelay(engine, redis=down, deliver=NotificationDeliverer(engine, mailer=None),
                        stream=names.stream, topic=names.topic, max_backoff_s=0.3)
    with pytest.raises(Exception):
        await relay.run_once()
    assert await unrelayed(engine, names.topic) == 5

    calls = 0
    real_run_once = relay.run_once

    async def counted() -> int:
        nonlocal calls
        calls += 1
        return await real_run_once()

    relay.run_once = counted  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop, interval_s=0.05))
    await asyncio.sleep(1.0)
    assert not task.done(), "the relay loop survives a Redis outage"
    assert 2 <= calls <= 20, calls  # backing off, not spinning
    assert await unrelayed(engine, names.topic) == 5

    target = urlsplit(redis_url)
    proxy = await _redis_proxy(port, (target.hostname or "127.0.0.1", target.port or 6379))
    try:
        deadline = time.monotonic() + 5
        while await unrelayed(engine, names.topic):
            assert time.monotonic() < deadline, "not relayed after Redis came back"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await down.aclose()
        proxy.close()
        await proxy.wait_closed()
    entries = await redis.xrange(names.stream)
    assert sorted(int(f[b"outbox_id"]) for _, f in entries) == ids


async def test_no_transaction_stays_open_while_redis_takes_a_batch(
        engine: AsyncEngine, names: Names, fan: Fan) -> None:
    """The relay leases its rows in one statement and XADDs outside any transaction: while a Redis
    that accepts but never answers holds the XADD, no connection of this database sits idle in a
    transaction; when the XADD times out, the rows are given back for the next relay."""
    ids = await add_outbox(engine, names.topic, fan.user_id, {"kind": "HOLD_EXPIRED"}, n=3)
    asked = asyncio.Event()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            asked.set()  # the relay's request arrived: Redis "thinks"
        writer.close()

    port = free_port()
    server = await asyncio.start_server(mute, "127.0.0.1", port)
    stalled = aioredis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
    relay = OutboxRelay(engine, redis=stalled, deliver=NotificationDeliverer(engine, mailer=None),
                        stream=names.stream, topic=names.topic, redis_timeout_s=2.0)
    try:
        task = asyncio.create_task(relay.run_once())
        await asyncio.wait_for(asked.wait(), 5)
        async with engine.connect() as conn:
            open_ones = (await conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%'"))).scalar_one()
            leased = (await conn.execute(text(
                "SELECT count(*) FROM outbox WHERE id = ANY(:i) AND relay_lease_until > now()"), {"i": ids})).scalar_one()
        assert (open_ones, leased) == (0, 3)
        with pytest.raises(TimeoutError):
            await task
        async with engine.connect() as conn:
            assert (await conn.execute(text(
                "SELECT count(*) FROM outbox WHERE id = ANY(:i) AND relay_lease_until IS NULL "
                "AND relayed_at IS NULL"), {"i": ids})).scalar_one() == 3
    finally:
        await stalled.aclose()
        server.close()


async def test_rows_of_a_relay_that_died_go_again_when_its_lease_ends(
        engine: AsyncEngine, redis: aioredis.Redis, names: Names, fan: Fan) -> None:
    ids = await add_outbox(engine, names.topic, fan.user_id, {"kind": "HOLD_EXPIRED"}, n=2)
    async with engine.begin() as conn:  # what a relay that died between lease and mark leaves behind
        await conn.execute(text("UPDATE outbox SET relay_lease_until = now() + interval '300 milliseconds' "
                                "WHERE id = ANY(:i)"), {"i": ids})
    relay = OutboxRelay(engine, redis=redis, deliver=NotificationDeliverer(engine, mailer=None),
                        stream=names.stream, topic=names.topic)
    assert await relay.run_once() == 0  # still the dead relay's
    deadline = time.monotonic() + 5
    while (relayed := await relay.run_once()) == 0:
        assert time.monotonic() < deadline, "the rows never went again"
        await asyncio.sleep(0.05)
    assert relayed == 2 and await unrelayed(engine, names.topic) == 0
    assert sorted(int(f[b"outbox_id"]) for _, f in await redis.xrange(names.stream)) == ids


@pytest.mark.parametrize("mode", ["redis", "direct"])
async def test_concurrent_relays_never_relay_a_row_twice(engine: AsyncEngine, redis: aioredis.Redis, names: Names,
                                                        fan: Fan, mode: str) -> None:
    ids = await add_outbox(engine, names.topic, fan.user_id, {"kind": "HOLD_EXPIRED"}, n=300 if mode == "redis" else 60)
    delivered: list[int] = []

    async def record(oid: int, user_id: uuid.UUID, p: dict[str, Any]) -> None:
        await asyncio.sleep(0.001)
        delivered.append(oid)

    client = redis if mode == "redis" else None
    relays = [OutboxRelay(engine, redis=client, deliver=record, stream=names.stream, topic=names.topic, batch=7)
              for _ in range(4)]

    async def drain(relay: OutboxRelay) -> int:
        total = 0
        while n := await relay.run_once():
            total += n
        return total

    counts = await asyncio.gather(*(drain(r) for r in relays))
    assert sum(counts) == len(ids) and sum(1 for c in counts if c) >= 2, counts
    assert await unrelayed(engine, names.topic) == 0
    if mode == "redis":
        relayed = [int(f[b"outbox_id"]) for _, f in await redis.xrange(names.stream)]
    else:
        relayed = delivered
    assert sorted(relayed) == ids  # each row exactly once


# --- mail failures and the assembled pipeline ---------------------------------------------------------------

async def test_a_mail_the_server_refuses_leaves_no_notification_until_it_is_sent(
        engine: AsyncEngine, names: Names, smtp: Smtp, fan: Fan) -> None:
    payload = {"kind": "HOLD_EXPIRED", "holdId": str(fan.hold_id), "showId": str(fan.show_id)}
    outbox_id = (await add_outbox(engine, names.topic, fan.user_id, payload))[0]
    nowhere = NotificationDeliverer(engine, mailer=SmtpMailer(host="127.0.0.1", port=free_port(), timeout_s=1))
    with pytest.raises(OSError):
        await nowhere(outbox_id, fan.user_id, payload)
    assert await notifications(engine, fan.user_id) == []  # rolled back with the failed mail: retried whole
    await NotificationDeliverer(engine, mailer=SmtpMailer.from_url(smtp.url))(outbox_id, fan.user_id, payload)
    assert [r.outbox_id for r in await notifications(engine, fan.user_id)] == [outbox_id]
    assert [m["Subject"] for m in smtp.inbox.to(fan.email)] == ["Your hold on Flash expired"]


@pytest.mark.parametrize("with_redis", [True, False])
async def test_the_pipeline_runs_in_the_background(engine: AsyncEngine, redis: aioredis.Redis, names: Names,
                                                   smtp: Smtp, fan: Fan, with_redis: bool) -> None:
    pipeline = NotificationPipeline(engine, redis=redis if with_redis else None, smtp_url=smtp.url,
                                    public_url="https://tickets.example", relay_interval_s=0.05,
                                    stream=names.stream, topic=names.topic, dead_letter_stream=names.dead)
    pipeline.start()
    try:
        outbox_id = (await add_outbox(engine, names.topic, fan.user_id,
                                      {"kind": "ORDER_CONFIRMED", "orderId": str(fan.order_id)}))[0]
        pipeline.relay.wake()
        deadline = time.monotonic() + 5
        while not smtp.inbox.to(fan.email):
            assert time.monotonic() < deadline, "not delivered"
            await asyncio.sleep(0.02)
    finally:
        await pipeline.stop()
    rows = await notifications(engine, fan.user_id)
    assert [r.outbox_id for r in rows] == [outbox_id]
    assert "https://tickets.example/" in rows[0].body
    assert [m["Subject"] for m in smtp.inbox.to(fan.email)] == ["Your tickets for Flash are confirmed"]
    if with_redis:
        assert await redis.xlen(names.stream) == 0
        consumers = await redis.xinfo_consumers(names.stream, "notifiers")
        assert consumers == []  # left the group on stop, having nothing pending


def test_composed_texts() -> None:
    show = ShowInfo("Hamlet\nBcc: x@y", "RSC", "Barbican", "London", datetime(2030, 5, 1, 19, 30, tzinfo=timezone.utc))
    order = SimpleNamespace(id=uuid.uuid4(), ticket_count=1, total_cents=4550, currency="GBP")
    hold = SimpleNamespace(ticket_count=3)
    cancelled = compose("ORDER_CANCELLED", {"refunded": True}, name="Ada", show=show, order=order, hold=hold)
    assert cancelled.subject == "Your order for Hamlet Bcc: x@y was cancelled"  # one line, whatever the name
    assert "refunded" in cancelled.body and str(order.id) in cancelled.body
    assert "Wednesday 01 May 2030, 19:30 UTC" in cancelled.body and "Barbican, London" in cancelled.body
    confirmed = compose("ORDER_CONFIRMED", {}, name="Ada", show=show, order=order, hold=None)
    assert "1 ticket, 45.50 GBP" in confirmed.body
    expired = compose("HOLD_EXPIRED", {}, name="", show=None, order=None, hold=hold, public_url="https://b.example/")
    assert expired.subject == "Your hold on your event expired"
    assert "3 places" in expired.body and "https://b.example/" in expired.body
    failed = compose("PAYMENT_FAILED", {"reason": "insufficient funds"}, name="Ada", show=show, order=order, hold=None)
    assert failed.subject == "Payment failed for your order" and "insufficient funds" in failed.body
    with pytest.raises(UndeliverableError):
        compose("NOT_A_KIND", {}, name="Ada", show=show, order=None, hold=None)


async def test_mail_goes_to_the_one_address_of_the_account(engine: AsyncEngine, names: Names, smtp: Smtp,
                                                          fan: Fan) -> None:
    """smtplib mailed every address the To: header parsed to; an account made before addresses were
    checked as now ("postmaster,…") is told in the app, and nobody by mail."""
    deliverer = NotificationDeliverer(engine, mailer=SmtpMailer.from_url(smtp.url))
    relay = OutboxRelay(engine, redis=None, deliver=deliverer, topic=names.topic)
    await add_outbox(engine, names.topic, fan.user_id, {"kind": "ORDER_CONFIRMED", "orderId": str(fan.order_id)})
    assert await relay.run_once() == 1
    assert [rcpt for rcpt, m in smtp.inbox.messages if m["To"] == fan.email] == [[fan.email]]

    several = f"postmaster,{fan.email}"
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET email = :e WHERE id = :u"), {"e": several, "u": fan.user_id})
    told = (await add_outbox(engine, names.topic, fan.user_id,
                             {"kind": "ORDER_CONFIRMED", "orderId": str(fan.order_id)}))[0]
    assert await relay.run_once() == 1
    assert told in [r.outbox_id for r in await notifications(engine, fan.user_id)]
    assert not [m for rcpt, m in smtp.inbox.messages if "postmaster" in rcpt or m["To"] == several]


async def test_mail_to_a_unicode_address_goes_where_the_server_takes_it(engine: AsyncEngine, names: Names,
                                                                         smtp: Smtp, fan: Fan) -> None:
    """A Unicode domain is sent in its ASCII form (a server without SMTPUTF8 refused it); a Unicode
    local part such a server cannot take: the fan is still told in the app (the refusal rolled the
    notification back, and the message was retried, then dead-lettered)."""
    deliverer = NotificationDeliverer(engine, mailer=SmtpMailer.from_url(smtp.url))
    relay = OutboxRelay(engine, redis=None, deliver=deliverer, topic=names.topic)
    tag = uuid.uuid4().hex[:8]
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET email = :e WHERE id = :u"),
                           {"e": f"fan{tag}@caf\u00e9.test", "u": fan.user_id})
    await add_outbox(engine, names.topic, fan.user_id, {"kind": "ORDER_CONFIRMED", "orderId": str(fan.order_id)})
    assert await relay.run_once() == 1
    assert [rcpt for rcpt, _ in smtp.inbox.messages if f"fan{tag}@xn--caf-dma.test" in rcpt] == [
        [f"fan{tag}@xn--caf-dma.test"]]

    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET email = :e WHERE id = :u"),
                           {"e": f"zo\u00eb{tag}@example.test", "u": fan.user_id})
    told = (await add_outbox(engine, names.topic, fan.user_id,
                             {"kind": "ORDER_CONFIRMED", "orderId": str(fan.order_id)}))[0]
    assert await relay.run_once() == 1
    assert told in [r.outbox_id for r in await notifications(engine, fan.user_id)]
