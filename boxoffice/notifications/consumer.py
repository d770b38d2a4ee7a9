"""Delivers the notification stream through a Redis consumer group, with retries and a dead-letter stream.

Each consumer (one per process, unique name) reads new entries with XREADGROUP … BLOCK, calls
`deliver` (or, given `deliver_batch`, hands the whole read to the deliverer at once), and on
success XACKs (and XDELs: this group is the stream's only reader, so the stream holds just what is
still owed). A failed delivery is NOT acked: it stays in the group's pending
list and is retried after an idle time that grows with its delivery count,

    retry_idle_ms(n) = min(max_idle_ms, min_idle_ms * backoff_factor ** (n - 1)),

by any consumer of the group: XPENDING … IDLE lists the candidates, and XCLAIM with that per-entry
min-idle-time claims each one atomically (XAUTOCLAIM takes a single idle threshold for all entries,
so it cannot express a per-entry backoff; XCLAIM's min-idle check gives the same exactly-one-claimer
guarantee). The same path picks up entries of a consumer that crashed mid-delivery. After
max_attempts failed deliveries (or an UndeliverableError at once) the entry is copied to the
dead-letter stream with the error and acked, in one MULTI. Deliveries are at-least-once; the
deliverer is idempotent on the outbox id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from ..failure_log import FailureStreak
from .deliver import Deliver, DeliverBatch, UndeliverableError
from .relay import DEFAULT_STREAM, wait_or_stop

log = logging.getLogger("boxoffice.notifications")

DEFAULT_GROUP = "notifiers"
DEFAULT_DEAD_LETTER_STREAM = "boxoffice:notifications:dead"
# redis-py's socket timeout when the client was built without one.
_REDIS_DEFAULT_SOCKET_TIMEOUT_S = 5.0
_PENDING_PAGE = 100
_PENDING_PAGES = 10


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_entry(fields: dict[Any, Any] | None) -> tuple[int, uuid.UUID, dict[str, Any]]:
    """(outbox_id, user_id, payload) of a stream entry; UndeliverableError if it is malformed."""
    if not fields:
        raise UndeliverableError("empty stream entry")
    data = {_s(k): _s(v) for k, v in fields.items()}
    try:
        outbox_id = int(data["outbox_id"])
        payload = json.loads(data["payload"])
    except (KeyError, ValueError) as exc:
        raise UndeliverableError(f"malformed stream entry: {exc!r}") from None
    if not isinstance(payload, dict):
        raise UndeliverableError("payload is not an object")
    try:
        user_id = uuid.UUID(data.get("user_id", ""))
    except ValueError:
        raise UndeliverableError("stream entry has no user") from None
    return outbox_id, user_id, payload


class NotificationConsumer:
    def __init__(self, redis: aioredis.Redis, *, deliver: Deliver, deliver_batch: DeliverBatch | None = None,
                 stream: str = DEFAULT_STREAM,
                 group: str = DEFAULT_GROUP, consumer: str | None = None,
                 dead_letter_stream: str = DEFAULT_DEAD_LETTER_STREAM, max_attempts: int = 5,
                 min_idle_ms: int = 30_000, max_idle_ms: int = 15 * 60_000, backoff_factor: float = 2.0,
                 batch: int = 50, block_ms: int = 1_000, deliver_timeout_s: float = 120.0,
                 delete_acked: bool = True, max_backoff_s: float = 5.0, concurrency: int = 8) -> None:
        if min(max_attempts, min_idle_ms, batch, concurrency) < 1:
            raise ValueError("max_attempts, min_idle_ms, batch and concurrency are at least 1")
        self.redis = redis
        self.deliver = deliver
        self.deliver_batch = deliver_batch
        self.stream = stream
        self.group = group
        self.consumer = consumer or default_consumer_name()
        self.dead_letter_stream = dead_letter_stream
        self.max_attempts = max_attempts
        self.min_idle_ms = min_idle_ms
        self.max_idle_ms = max(max_idle_ms, min_idle_ms)
        self.backoff_factor = backoff_factor
        self.batch = batch
        self.block_ms = block_ms
        self.deliver_timeout_s = deliver_timeout_s
        self.delete_acked = delete_acked
        self.max_backoff_s = max_backoff_s
        self.concurrency = concurrency
        self._group_ready = False

    def retry_idle_ms(self, deliveries: int) -> int:
        """How long an entry delivered `deliveries` times waits (idle) before its next attempt."""
        return int(min(self.max_idle_ms, self.min_idle_ms * self.backoff_factor ** max(deliveries - 1, 0)))

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def run_once(self, *, block_ms: int | None = None) -> int:
        """Retries the due pending entries, then reads new ones (blocking up to block_ms).
        Returns how many entries it handled (delivered, failed or dead-lettered)."""
        if not self._group_ready:
            await self.ensure_group()
        try:
            handled = await self._handle_all(await self._claim_due())
            new = await self._read_new(self._block(block_ms))
            return handled + await self._handle_all([(entry_id, fields, 1) for entry_id, fields in new])
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # the stream or group vanished (Redis flushed/restarted empty)
                self._group_ready = False
            raise

    async def run(self, stop: asyncio.Event) -> None:
        """Consumes until `stop` is set (noticed within block_ms). Redis failures back off, never crash the loop."""
        streak = FailureStreak(log, f"notification consumer {self.consumer}")
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception as exc:
                streak.failed(exc)
                await wait_or_stop(stop, min(self.max_backoff_s, 0.1 * 2 ** min(streak.failures, 16)))
                continue
            streak.succeeded()
            if not handled and (self._block(None) or 0) < 100:  # hardly blocking: do not spin
                await wait_or_stop(stop, 0.1)

    async def close(self) -> None:
        """Leaves the group if nothing is pending for this consumer (pending entries would be dropped)."""
        try:
            mine = await self.redis.xpending_range(self.stream, self.group, "-", "+", 1, consumername=self.consumer)
            if not mine:
                await self.redis.xgroup_delconsumer(self.stream, self.group, self.consumer)
        except Exception as exc:  # best effort: an idle consumer name left behind is harmless
            log.debug("could not remove consumer %s: %r", self.consumer, exc)

    def _block(self, block_ms: int | None) -> int | None:
        block = self.block_ms if block_ms is None else block_ms
        # A BLOCK longer than the client's socket timeout would fail as a timeout.
        kwargs = self.redis.connection_pool.connection_kwargs
        sock = kwargs["socket_timeout"] if "socket_timeout" in kwargs else _REDIS_DEFAULT_SOCKET_TIMEOUT_S
        if sock:
            block = min(block, int(sock * 1000 * 0.8))
        return block if block > 0 else None  # BLOCK 0 would wait forever

    async def _read_new(self, block: int | None) -> list[tuple[Any, Any]]:
        reply: Any = await self.redis.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=self.batch,
                                            block=block)
        if not reply:
            return []
        if isinstance(reply, dict):  # RESP3 clients
            return [e for entries in reply.values() for e in (entries[0] if entries and
                                                               isinstance(entries[0], list) else entries)]
        return [e for _, entries in reply for e in entries]

    async def _claim_due(self) -> list[tuple[Any, Any, int]]:
        """Pending entries whose backoff has passed, claimed for this consumer: (id, fields, deliveries)."""
        due: list[tuple[Any, int, int]] = []
        start: str = "-"
        for _ in range(_PENDING_PAGES):  # bounded scan: a huge backlog of entries not yet due costs little
            page: Any = await self.redis.xpending_range(self.stream, self.group, start, "+", _PENDING_PAGE,
                                                   idle=self.min_idle_ms)
            for p in page:
                wait = self.retry_idle_ms(int(p["times_delivered"]))
                if int(p["time_since_delivered"]) >= wait:
                    due.append((p["message_id"], wait, int(p["times_delivered"])))
            if len(page) < _PENDING_PAGE or len(due) >= self.batch:
                break
            start = "(" + _s(page[-1]["message_id"])
        claimed: list[tuple[Any, Any, int]] = []
        for entry_id, wait, deliveries in due[:self.batch]:
            # Atomic: claimed only if still idle that long, so exactly one consumer wins each entry.
            got: Any = await self.redis.xclaim(self.stream, self.group, self.consumer, wait, [entry_id])
            # Empty if another consumer claimed it first, or it was deleted from the stream meanwhile.
            claimed.extend((got_id, fields, deliveries + 1) for got_id, fields in got)
        return claimed

    async def _handle_all(self, items: list[tuple[Any, Any, int]]) -> int:
        """Handles entries `concurrency` at a time (or all at once through deliver_batch); a Redis failure
        is raised once all have finished."""
        if not items:
            return 0
        if self.deliver_batch is not None:
            return await self._handle_batch(items)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(item: tuple[Any, Any, int]) -> None:
            async with gate:
                await self._handle(*item)

        results = await asyncio.gather(*(one(i) for i in items), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return len(items)

    async def _handle(self, entry_id: Any, fields: Any, deliveries: int) -> None:
        if deliveries > self.max_attempts:  # crashed mid-delivery that often: give up without trying again
            await self._dead_letter(entry_id, fields, deliveries, "no outcome after repeated deliveries")
            return
        try:
            outbox_id, user_id, payload = parse_entry(fields)
            async with asyncio.timeout(self.deliver_timeout_s):
                await self.deliver(outbox_id, user_id, payload)
        except Exception as exc:
            await self._failed(entry_id, fields, deliveries, exc)
            return
        await self._ack(entry_id)

    async def _handle_batch(self, items: list[tuple[Any, Any, int]]) -> int:
        """The whole read through deliver_batch, the delivered entries acked together: per entry, the
        same outcome as `_handle` would give it."""
        todo: list[tuple[Any, Any, int, tuple[int, uuid.UUID, dict[str, Any]]]] = []
        for entry_id, fields, deliveries in items:
            if deliveries > self.max_attempts:
                await self._dead_letter(entry_id, fields, deliveries, "no outcome after repeated deliveries")
                continue
            try:
                todo.append((entry_id, fields, deliveries, parse_entry(fields)))
            except UndeliverableError as exc:
                await self._failed(entry_id, fields, deliveries, exc)
        if not todo or self.deliver_batch is None:
            return len(items)
        outcomes: list[BaseException | None]
        try:
            async with asyncio.timeout(self.deliver_timeout_s):
                outcomes = await self.deliver_batch([t[3] for t in todo])
        except Exception as exc:
            outcomes = [exc] * len(todo)
        delivered = []
        for (entry_id, fields, deliveries, _), outcome in zip(todo, outcomes):
            if outcome is None:
                delivered.append(entry_id)
            else:
                await self._failed(entry_id, fields, deliveries, outcome)
        await self._ack(*delivered)
        return len(items)

    async def _failed(self, entry_id: Any, fields: Any, deliveries: int, exc: BaseException) -> None:
        """Dead-letters an undeliverable entry, or one out of attempts; otherwise leaves it pending."""
        if isinstance(exc, UndeliverableError):
            await self._dead_letter(entry_id, fields, deliveries, f"undeliverable: {exc}")
        elif deliveries >= self.max_attempts:
            await self._dead_letter(entry_id, fields, deliveries, repr(exc))
        else:
            log.warning("notification %s failed (delivery %d of %d), retrying in %d ms: %r", _s(entry_id),
                        deliveries, self.max_attempts, self.retry_idle_ms(deliveries), exc)

    async def _ack(self, *entry_ids: Any) -> None:
        if not entry_ids:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, self.group, *entry_ids)
            if self.delete_acked:
                pipe.xdel(self.stream, *entry_ids)
            await pipe.execute()

    async def _dead_letter(self, entry_id: Any, fields: Any, deliveries: int, error: str) -> None:
        record: dict[Any, Any] = {_s(k): _s(v) for k, v in (fields or {}).items()}
        record.update(error=error[:2000], attempts=str(deliveries), source_id=_s(entry_id),
                      source_stream=self.stream, consumer=self.consumer, failed_at=str(int(time.time() * 1000)))
        log.error("notification %s dead-lettered after %d deliveries: %s", _s(entry_id), deliveries, error)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead_letter_stream, record)
            pipe.xack(self.stream, self.group, entry_id)
            if self.delete_acked:
                pipe.xdel(self.stream, entry_id)
            await pipe.execute()


async def requeue_dead_letters(redis: aioredis.Redis, *, dead_letter_stream: str = DEFAULT_DEAD_LETTER_STREAM,
                               stream: str = DEFAULT_STREAM, count: int = 100) -> int:
    """Moves dead-lettered entries back onto the stream (after fixing the cause); returns how many."""
    moved = 0
    entries: Any = await redis.xrange(dead_letter_stream, count=count)
    for entry_id, fields in entries:
        data = {_s(k): _s(v) for k, v in fields.items()}
        original: dict[Any, Any] = {k: data[k] for k in ("outbox_id", "user_id", "payload") if k in data}
        async with redis.pipeline(transaction=True) as pipe:
            pipe.xadd(stream, original)
            pipe.xdel(dead_letter_stream, entry_id)
            await pipe.execute()
        moved += 1
    return moved
