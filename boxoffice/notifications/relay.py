"""The transactional outbox relay: committed outbox rows → the notification stream (or straight to delivery).

Domain code INSERTs an outbox row in the transaction of the state change it reports, so a message
exists iff its change committed. The relay then, per batch, in two statements with the Redis call
between them and no transaction open across it:

    UPDATE outbox SET relay_lease_until = now() + lease   the unrelayed rows whose lease is not
      … ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED        running, taken by this relay
    XADD each row to the stream
    UPDATE outbox SET relayed_at = now()                  the batch, once Redis has it

A leased row belongs to one relay until its lease runs out, so every process can run a relay and
no row is relayed twice by two live relays. A relay whose XADD fails gives its lease back at once;
one that dies, or cannot mark the rows, leaves them to be XADDed again when the lease ends:
delivery is at-least-once, and the deliverer is idempotent on the outbox id. Rows are never lost:
the only way out of "unrelayed" is being marked after the stream took them. Order is by id within
a batch; concurrent relays may interleave batches (no per-user ordering guarantee). Without Redis
the relay delivers each row itself, in a transaction that keeps the row locked while it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..booking.pg_calls import driver
from ..failure_log import FailureStreak
from .deliver import Deliver, UndeliverableError

log = logging.getLogger("boxoffice.notifications")

DEFAULT_STREAM = "boxoffice:notifications"
DEFAULT_TOPIC = "notification"


def stream_fields(outbox_id: int, user_id: uuid.UUID | None, payload: dict[str, Any]) -> dict[Any, Any]:
    """The stream entry of one outbox row (what NotificationConsumer parses)."""
    return {"outbox_id": str(outbox_id), "user_id": str(user_id) if user_id else "",
            "payload": json.dumps(payload, separators=(",", ":"), sort_keys=True)}


def _payload(value: Any) -> dict[str, Any]:
    if isinstance(value, (str, bytes)):
        value = json.loads(value)
    return dict(value) if isinstance(value, dict) else {"value": value}


async def wait_or_stop(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    """Sleeps up to `seconds`, returning early when `stop` (or `wake`) is set."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=max(seconds, 0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    if wake is not None:
        wake.clear()


# The next batch of this topic's unrelayed rows that no live relay has, leased to this one.
# `due` picked once (materialized): a LIMIT ... SKIP LOCKED subquery rescanned per row leases more.
_LEASE = ("WITH due AS MATERIALIZED ("
          "  SELECT id FROM outbox WHERE relayed_at IS NULL AND topic = $1"
          "  AND (relay_lease_until IS NULL OR relay_lease_until < now())"
          "  ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) "
          "UPDATE outbox o SET relay_lease_until = now() + make_interval(secs => $3) FROM due "
          "WHERE o.id = due.id RETURNING o.id, o.user_id, o.payload")
_RELAYED = "UPDATE outbox SET relayed_at = now(), relay_lease_until = NULL WHERE id = ANY($1::bigint[])"
_GIVE_BACK = "UPDATE outbox SET relay_lease_until = NULL WHERE id = ANY($1::bigint[]) AND relayed_at IS NULL"


class OutboxRelay:
    """Relays outbox rows of one topic. With `redis`, to the stream (many processes, a consumer group
    delivers); with redis None (single process, no REDIS_URL), calls `deliver` itself."""

    def __init__(self, engine: AsyncEngine, *, redis: aioredis.Redis | None, deliver: Deliver,
                 stream: str = DEFAULT_STREAM, batch: int = 100, topic: str = DEFAULT_TOPIC,
                 redis_timeout_s: float = 5.0, max_backoff_s: float = 5.0, direct_retry_s: float = 1.0,
                 direct_max_retry_s: float = 300.0, deliver_timeout_s: float = 90.0) -> None:
        if batch < 1:
            raise ValueError("batch is at least 1")
        self.engine = engine
        self.redis = redis
        self.deliver = deliver
        self.stream = stream
        self.batch = batch
        self.topic = topic
        self.redis_timeout_s = redis_timeout_s
        self.max_backoff_s = max_backoff_s
        self.direct_retry_s = direct_retry_s
        self.direct_max_retry_s = direct_max_retry_s
        self.deliver_timeout_s = deliver_timeout_s
        # Direct mode only: outbox id -> (failed attempts, monotonic time of the next try).
        self._failures: dict[int, tuple[int, float]] = {}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Asks a running `run` loop to relay now (e.g. right after a commit that wrote outbox rows)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Relays (or delivers) one batch; returns how many rows were marked relayed. Raises on DB/Redis failure."""
        if self.redis is None:
            return await self._deliver_directly()
        return await self._relay_to_stream(self.redis)

    async def run(self, stop: asyncio.Event, interval_s: float = 0.2) -> None:
        """Relays until `stop` is set. Failures back off exponentially (with jitter) up to max_backoff_s."""
        streak = FailureStreak(log, "outbox relay (rows stay unrelayed)")
        while not stop.is_set():
            try:
                relayed = await self.run_once()
            except Exception as exc:
                streak.failed(exc)
                delay = min(self.max_backoff_s, interval_s * 2 ** min(streak.failures, 16)) * random.uniform(0.5, 1.0)
                await wait_or_stop(stop, delay)
                continue
            streak.succeeded()
            if relayed >= self.batch:
                await asyncio.sleep(0)  # a backlog: go on at once, letting others run
                continue
            await wait_or_stop(stop, interval_s, self._wake)

    async def _claim(self, conn: AsyncConnection, limit: int, skip: list[int]) -> list[Any]:
        return list((await conn.execute(text(
            "SELECT id, user_id, payload FROM outbox WHERE relayed_at IS NULL AND topic = :t "
            "AND id <> ALL(CAST(:skip AS bigint[])) ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"),
            {"t": self.topic, "n": limit, "skip": skip})).all())

    @staticmethod
    async def _mark(conn: AsyncConnection, ids: list[int]) -> None:
        await conn.execute(text("UPDATE outbox SET relayed_at = now() WHERE id = ANY(CAST(:ids AS bigint[]))"),
                           {"ids": ids})

    async def _relay_to_stream(self, redis: aioredis.Redis) -> int:
        # Longer than the XADD may take, so a live relay's rows are never taken from it.
        lease_s = 2 * self.redis_timeout_s + 5
        async with driver(self.engine) as db:
            rows = sorted(await db.fetch(_LEASE, self.topic, self.batch, lease_s), key=lambda r: r["id"])
        if not rows:
            return 0
        ids = [r["id"] for r in rows]
        try:
            async with asyncio.timeout(self.redis_timeout_s):
                async with redis.pipeline(transaction=False) as pipe:
                    for r in rows:
                        pipe.xadd(self.stream, stream_fields(r["id"], r["user_id"], _payload(r["payload"])))
                    await pipe.execute()
        except BaseException:
            with contextlib.suppress(Exception):  # else its lease runs out: the rows go again then
                async with driver(self.engine) as db:
                    await db.execute(_GIVE_BACK, ids)
            raise
        async with driver(self.engine) as db:
            await db.execute(_RELAYED, ids)
        return len(rows)

    async def _deliver_directly(self) -> int:
        """One transaction per row, the row locked while it is delivered: no other process delivers it."""
        done = 0
        for _ in range(self.batch):
            now = time.monotonic()
            waiting = [i for i, (_, due) in self._failures.items() if due > now]
            async with self.engine.begin() as conn:
                # The row stays locked while the deliverer talks to SMTP: allow that for this transaction.
                await conn.execute(text("SELECT set_config('idle_in_transaction_session_timeout', :ms, true)"),
                                   {"ms": str(int((self.deliver_timeout_s + 30) * 1000))})
                rows = await self._claim(conn, 1, waiting)
                if not rows:
                    break
                row = rows[0]
                if await self._deliver_row(row.id, row.user_id, _payload(row.payload)):
                    await self._mark(conn, [row.id])
                    done += 1
        return done

    async def _deliver_row(self, outbox_id: int, user_id: uuid.UUID | None, payload: dict[str, Any]) -> bool:
        """True when the row is finished with (delivered, or undeliverable); False to retry it later.

        Without Redis there is no dead-letter stream, so a failing row is never given up on: it is
        retried with a backoff doubling up to direct_max_retry_s, logged as an error from the 5th try.
        """
        try:
            if user_id is None:
                raise UndeliverableError("outbox row has no user")
            async with asyncio.timeout(self.deliver_timeout_s):
                await self.deliver(outbox_id, user_id, payload)
        except UndeliverableError as exc:
            log.error("outbox %s is undeliverable, dropped: %s (payload %s)", outbox_id, exc, payload)
        except Exception as exc:
            now = time.monotonic()
            attempts = self._failures.get(outbox_id, (0, 0.0))[0] + 1
            delay = min(self.direct_max_retry_s, self.direct_retry_s * 2 ** min(attempts - 1, 30))
            self._failures[outbox_id] = (attempts, now + delay)
            log.log(logging.WARNING if attempts < 5 else logging.ERROR,
                    "delivering outbox %s failed (attempt %d), retrying in %.1fs: %r", outbox_id, attempts, delay, exc)
            if len(self._failures) > 10_000:  # rows another process finished since: forget them
                self._failures = {i: f for i, f in self._failures.items() if f[1] > now - 3600}
            return False
        self._failures.pop(outbox_id, None)
        return True
