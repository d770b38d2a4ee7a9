"""broadcaster's Redis backend, fixed for redis-py 8 and made to survive Redis restarts.

broadcaster 0.3.1 sets its "ready" event *before* ``pubsub.subscribe`` has
recorded the channel; with redis-py 8 its listener then sees no subscription,
leaves ``listen()`` at once and waits forever: nothing is ever delivered.
Here ``subscribe`` returns only once Redis has *confirmed* the subscription
(the listener hands back the ``subscribe`` reply), so a caller may rely on
"subscribed ⇒ no later publish is missed".

Resilience, which broadcaster does not have at all:

* one reader task owns the pub/sub connection; on any connection error (or a
  PING left unanswered) it throws the connection away, reconnects with
  exponential backoff, resubscribes every wanted channel, waits for the
  confirmations and then queues a :class:`ResumedEvent` per channel so
  consumers can re-read what they missed;
* the pub/sub client never retries on its own (``Retry(..., 0)``): redis-py
  would otherwise reconnect and resubscribe silently inside a read and we
  would never know to resynchronise;
* ``publish`` has a short deadline and never raises: PostgreSQL is the
  authority, a lost notification is repaired by the resync;
* a publish dropped while the subscriptions stay up (Redis slow, this
  process's event loop too busy to hear the answer in time, the publishing
  connection broken) would be lost without anybody knowing: its channel gets
  a resync marker once publishing works again, which every process's reader
  turns into a :class:`ResumedEvent`, so their consumers re-read as well.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from broadcaster._backends.redis import RedisBackend
from broadcaster._base import Event
from redis import asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# What "Redis is unavailable" looks like from redis-py and asyncio.
REDIS_DOWN_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)
_DROP_LOG_EVERY = 10.0  # seconds between "dropped publishes" warnings
# Published on a channel after publishes to it were dropped; no real message is this (seat events are
# JSON, session announcements "<user id> <version>").
RESYNC_MARKER = "\x00resync"
_REPAIR_AFTER_S = 1.0  # the markers go out this long after a drop, and again after each failed try
# Channels awaiting a marker, at most (an order has one: a long outage could otherwise grow the set without
# bound). Past it, the subscribers' own reconnection markers are what remains: an outage that long broke
# their subscriptions too.
_MAX_LOST_CHANNELS = 100_000


@dataclass(frozen=True, slots=True)
class RedisBusSettings:
    """Timeouts of the Redis event bus, in seconds."""

    publish_timeout: float = 0.5  # a sale waits at most this long on a dead Redis
    connect_timeout: float = 2.0
    op_timeout: float = 2.0  # sending SUBSCRIBE / UNSUBSCRIBE / PING
    confirm_timeout: float = 3.0  # Redis acknowledging a SUBSCRIBE
    poll_interval: float = 1.0  # reader wakes at least this often
    ping_interval: float = 10.0  # PING an idle connection to detect half-open TCP
    ping_timeout: float = 5.0
    backoff_initial: float = 0.1
    backoff_max: float = 5.0


class ResumedEvent(Event):
    """Queued after a channel's subscription was (re)established following an outage
    (reason "reconnect"), or when a publish to it was dropped somewhere (reason "dropped")."""

    def __init__(self, channel: str, reason: str = "reconnect") -> None:
        super().__init__(channel=channel, message="")
        self.reason = reason

    def __repr__(self) -> str:
        return f"ResumedEvent(channel={self.channel!r}, reason={self.reason!r})"


class ConfirmedRedisBackend(RedisBackend):
    """A drop-in ``BroadcastBackend``: usable by ``broadcaster.Broadcast`` or ``EventBus``."""

    def __init__(self, url: str, settings: RedisBusSettings | None = None) -> None:
        # Deliberately not calling super().__init__: its client uses redis-py's
        # default retry policy, which is wrong for both of our connections.
        self._settings = s = settings or RedisBusSettings()
        # Publishing may retry once: after a Redis restart every pooled
        # connection is stale and the first command on it fails.
        self._conn = aioredis.Redis.from_url(
            url,
            retry=Retry(NoBackoff(), 1),
            socket_connect_timeout=s.connect_timeout,
            socket_timeout=s.publish_timeout,
        )
        # The pub/sub connection must surface every error (see module docstring).
        self._sub_conn = aioredis.Redis.from_url(
            url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=s.connect_timeout,
            socket_timeout=s.op_timeout,
        )
        self._live_pubsub: PubSub | None = None  # None while Redis is unreachable
        self._up = False  # subscribed and reading
        self._channels: set[str] = set()  # channels wanted, whatever Redis' state
        self._confirm: dict[str, deque[asyncio.Future[None]]] = {}
        self._lock = asyncio.Lock()  # orders (re)connection against (un)subscribe
        self._ready = asyncio.Event()  # first connection attempt finished
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._listener: asyncio.Task[None] | None = None
        self._broken: str | None = None  # set by callers to make the reader reconnect
        self.dropped_publishes = 0
        self._last_drop_log = float("-inf")
        self._publishing: tuple[list[tuple[str, str]], asyncio.Future[bool]] | None = None
        self._publishers: set[asyncio.Task[None]] = set()
        self._lost: set[str] = set()  # channels whose publishes were dropped, awaiting their marker
        self._repair: asyncio.TimerHandle | None = None

    # -- BroadcastBackend interface ------------------------------------------------

    async def connect(self) -> None:
        """Start the reader. Never fails on a down Redis: it keeps retrying."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._pubsub_listener(), name="redis-bus-reader")
        # Give a healthy Redis the chance to be connected before first subscribers
        # arrive, otherwise each of them would get a needless resync marker.
        try:
            await asyncio.wait_for(self._ready.wait(), self._settings.connect_timeout + 0.5)
        except asyncio.TimeoutError:
            pass

    async def disconnect(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self._repair is not None:
            self._repair.cancel()
            self._repair = None
        self._send_batch()  # what was published this turn still goes
        await asyncio.gather(*self._publishers, return_exceptions=True)
        await self._drop_pubsub()
        await self._conn.aclose()
        await self._sub_conn.aclose()

    async def subscribe(self, channel: str) -> None:
        """Return once Redis confirmed the subscription, or once it is known to be down.

        When Redis is down the channel is remembered; the reader subscribes it on
        reconnection and then queues a ResumedEvent for it.
        """
        async with self._lock:
            self._channels.add(channel)
            pubsub = self._live_pubsub
            if pubsub is None:
                return
            confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._confirm.setdefault(channel, deque()).append(confirmed)
            try:
                await asyncio.wait_for(pubsub.subscribe(channel), self._settings.op_timeout)
            except REDIS_DOWN_ERRORS as exc:
                self._break(f"SUBSCRIBE {channel} failed: {exc!r}")
                return
        # Readiness is signalled only here, after Redis' reply: the redis-py 8 trap
        # in broadcaster was signalling before the subscription even existed.
        try:
            await asyncio.wait_for(asyncio.shield(confirmed), self._settings.confirm_timeout)
        except asyncio.TimeoutError:
            self._break(f"SUBSCRIBE {channel} not confirmed in {self._settings.confirm_timeout}s")

    async def unsubscribe(self, channel: str) -> None:
        async with self._lock:
            self._channels.discard(channel)
            pubsub = self._live_pubsub
            if pubsub is None:
                return
            try:
                await asyncio.wait_for(pubsub.unsubscribe(channel), self._settings.op_timeout)
            except REDIS_DOWN_ERRORS as exc:
                self._break(f"UNSUBSCRIBE {channel} failed: {exc!r}")

    async def publish(self, channel: str, message: Any) -> None:
        await self.try_publish(channel, message)

    async def try_publish(self, channel: str, message: str) -> bool:
        """Publish; on a dead or slow Redis log, count and drop instead of raising.

        What is published in one turn of the event loop goes to Redis as one pipeline (one write,
        one read, one task), in order: under a sale every hold and release publishes, and one round
        trip each cost more than the hold's own statement."""
        # Shielded: a caller giving up must not cancel the others' publish.
        return await asyncio.shield(self._enqueue(channel, message))

    def _enqueue(self, channel: str, message: str) -> asyncio.Future[bool]:
        batch = self._publishing
        if batch is None:
            loop = asyncio.get_running_loop()
            batch = self._publishing = ([], loop.create_future())
            loop.call_soon(self._send_batch)
        batch[0].append((channel, message))
        return batch[1]

    def _send_repairs(self) -> None:
        """The resync markers of the channels whose publishes were dropped (if this fails too, the
        channels stay lost and are tried again)."""
        self._repair = None
        lost, self._lost = self._lost, set()
        for channel in sorted(lost):
            self._enqueue(channel, RESYNC_MARKER)

    def _send_batch(self) -> None:
        batch, self._publishing = self._publishing, None
        if batch is not None:
            task = asyncio.get_running_loop().create_task(self._publish_batch(*batch))
            self._publishers.add(task)
            task.add_done_callback(self._publishers.discard)

    async def _publish_batch(self, messages: list[tuple[str, str]], done: asyncio.Future[bool]) -> None:
        try:
            if len(messages) == 1:
                await asyncio.wait_for(self._conn.publish(*messages[0]), self._settings.publish_timeout)
            else:
                pipe = self._conn.pipeline(transaction=False)
                for channel, message in messages:
                    pipe.publish(channel, message)
                await asyncio.wait_for(pipe.execute(), self._settings.publish_timeout)
        except REDIS_DOWN_ERRORS as exc:
            self.dropped_publishes += len(messages)
            if len(self._lost) < _MAX_LOST_CHANNELS:
                self._lost.update(channel for channel, _ in messages)
            if self._repair is None and self._listener is not None:  # not while shutting down
                self._repair = asyncio.get_running_loop().call_later(_REPAIR_AFTER_S, self._send_repairs)
            # An outage under load drops thousands per second: summarise, don't flood.
            now = asyncio.get_running_loop().time()
            if now - self._last_drop_log >= _DROP_LOG_EVERY:
                log.warning(
                    "event bus: Redis unavailable (%r); dropped %d publish(es) so far, latest to %s",
                    exc, self.dropped_publishes, messages[-1][0],
                )
                self._last_drop_log = now
            done.set_result(False)
        except asyncio.CancelledError:  # shutting down: as a drop
            done.set_result(False)
            raise
        except Exception as exc:  # not an outage: each caller's publish raises it
            done.set_exception(exc)
            done.exception()  # retrieved: every caller may have gone
        else:
            done.set_result(True)

    # next_published() is inherited: it reads self._queue.

    # -- introspection -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._up

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._channels)

    # -- the reader ----------------------------------------------------------------

    async def _pubsub_listener(self) -> None:
        s = self._settings
        delay = s.backoff_initial
        failures = 0
        while True:
            try:
                channels = await self._establish()
            except REDIS_DOWN_ERRORS as exc:
                await self._drop_pubsub()
                failures += 1
                # One warning per outage, not one per attempt.
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "event bus: cannot reach Redis (%r); retrying", exc)
                self._ready.set()
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, s.backoff_max)
                continue
            if failures:
                log.warning("event bus: Redis reachable again after %d attempt(s)", failures)
            failures, delay = 0, s.backoff_initial
            self._up = True
            self._ready.set()
            # Whatever was published while these channels were not subscribed is lost:
            # tell consumers so they re-read from the database.
            for channel in channels:
                if channel in self._channels:
                    self._queue.put_nowait(ResumedEvent(channel))
            try:
                await self._read_until_broken()
            except REDIS_DOWN_ERRORS as exc:
                log.warning("event bus: lost Redis pub/sub connection (%r); reconnecting", exc)
            await self._drop_pubsub()

    async def _establish(self) -> list[str]:
        """Open a fresh pub/sub connection and subscribe every wanted channel."""
        s = self._settings
        async with self._lock:
            self._broken = None
            pubsub = self._sub_conn.pubsub()
            self._live_pubsub = pubsub  # so _drop_pubsub closes it if we fail half-way
            await asyncio.wait_for(pubsub.connect(), s.connect_timeout)
            channels = sorted(self._channels)
            if channels:
                await asyncio.wait_for(pubsub.subscribe(*channels), s.op_timeout)
                waiting = set(channels)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + s.confirm_timeout
                while waiting:
                    left = deadline - loop.time()
                    if left <= 0:
                        raise asyncio.TimeoutError(f"SUBSCRIBE of {len(waiting)} channel(s) not confirmed")
                    message = await pubsub.get_message(timeout=min(left, s.poll_interval))
                    if message is not None:
                        if message["type"] == "subscribe":
                            waiting.discard(_text(message["channel"]))
                        self._handle(message)
            return channels

    async def _read_until_broken(self) -> None:
        s = self._settings
        pubsub = self._live_pubsub
        assert pubsub is not None
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        ping_sent: float | None = None
        while self._broken is None:
            message = await pubsub.get_message(timeout=s.poll_interval)
            now = loop.time()
            if message is not None:
                last_heard, ping_sent = now, None
                self._handle(message)
                continue
            # A silent connection may be half-open (e.g. Redis' host vanished):
            # only a PING that goes unanswered tells.
            if ping_sent is not None and now - ping_sent > s.ping_timeout:
                raise asyncio.TimeoutError(f"Redis did not answer PING within {s.ping_timeout}s")
            if ping_sent is None and now - last_heard >= s.ping_interval:
                await asyncio.wait_for(pubsub.ping(), s.op_timeout)
                ping_sent = now
        raise ConnectionError(self._broken)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "message":
            channel, data = _text(message["channel"]), _text(message["data"])
            self._queue.put_nowait(ResumedEvent(channel, "dropped") if data == RESYNC_MARKER
                                   else Event(channel=channel, message=data))
        elif kind == "subscribe":
            waiters = self._confirm.get(_text(message["channel"]))
            if waiters:
                future = waiters.popleft()
                if not future.done():
                    future.set_result(None)

    def _break(self, reason: str) -> None:
        log.warning("event bus: %s; reconnecting", reason)
        self._broken = reason

    async def _drop_pubsub(self) -> None:
        pubsub, self._live_pubsub = self._live_pubsub, None
        self._up = False
        # Nobody will confirm these now; the channels stay wanted and get a
        # ResumedEvent after reconnection, which is what their callers need.
        for waiters in self._confirm.values():
            for future in waiters:
                if not future.done():
                    future.set_result(None)
        self._confirm.clear()
        if pubsub is not None:
            try:
                await pubsub.aclose()
            except REDIS_DOWN_ERRORS:
                pass


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
