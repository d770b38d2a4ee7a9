"""Process-wide pub/sub event bus: Redis across processes, or in-process.

``EventBus("redis://…")`` fans Redis pub/sub out to local subscribers;
``EventBus(None)`` does the same in-process (tests, single-process
deployments). Messages are always ``str`` — both backends get the same
serialised payload, so code tested on memory behaves the same on Redis.

One upstream subscription per channel per process, shared by every local
subscriber of the channel (reference counted). Subscribers iterate
``str | BusResumed``: a :class:`BusResumed` means messages may have been
lost (Redis outage, or the subscriber fell 10k messages behind) and the
consumer should re-read its state from the authority (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

from broadcaster._backends.memory import MemoryBackend

from .redis_backend import ConfirmedRedisBackend, RedisBusSettings, ResumedEvent

log = logging.getLogger(__name__)

__all__ = ["BusClosed", "BusItem", "BusResumed", "EventBus", "RedisBusSettings", "Subscription"]


@dataclass(frozen=True, slots=True)
class BusResumed:
    """Synthetic marker: messages on ``channel`` may have been lost; resynchronise.

    ``reason`` is ``"reconnect"`` (the upstream subscription was re-established
    after an outage), ``"dropped"`` (some process's publish to the channel was
    dropped: Redis slow or away) or ``"overflow"`` (this subscriber's queue
    overflowed and was emptied).
    """

    channel: str
    reason: str = "reconnect"


BusItem = str | BusResumed


class BusClosed(Exception):
    """Raised by ``subscribe`` on a bus that is not connected."""


class Subscription:
    """One local subscriber. Async context manager, then async iterator of ``BusItem``.

    Iteration ends (StopAsyncIteration) when the subscription or the bus closes.
    """

    def __init__(self, bus: EventBus, channel: str, queue_limit: int) -> None:
        self.channel = channel
        self._bus = bus
        self._limit = queue_limit
        self._items: deque[BusItem] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._attached = False

    async def __aenter__(self) -> Subscription:
        await self._bus._attach(self)
        self._attached = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Leave the channel; safe to call twice and from another task than the opener's."""
        self._end()
        if self._attached:
            self._attached = False
            await self._bus._detach(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> BusItem:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._items.popleft()

    def _deliver(self, item: BusItem) -> None:
        if self._closed:
            return
        if len(self._items) >= self._limit:
            # Don't grow without bound for a stuck consumer: drop the backlog and
            # tell it to resynchronise, which costs one database read.
            log.warning("event bus: subscriber of %s fell %d messages behind; dropped", self.channel, self._limit)
            self._items.clear()
            self._items.append(BusResumed(self.channel, reason="overflow"))
        self._items.append(item)
        self._wakeup.set()

    def _end(self) -> None:
        self._closed = True
        self._wakeup.set()


@dataclass(slots=True)
class _Channel:
    subscribers: set[Subscription]
    established: asyncio.Task[None]  # the upstream SUBSCRIBE every joiner waits for


class EventBus:
    """Pub/sub of ``str`` messages. ``url``: ``redis://…``/``rediss://…``, or None for in-process."""

    def __init__(
        self,
        url: str | None,
        *,
        settings: RedisBusSettings | None = None,
        subscriber_queue_limit: int = 10_000,
    ) -> None:
        self._redis: ConfirmedRedisBackend | None = None
        self._backend: ConfirmedRedisBackend | MemoryBackend
        scheme = urlsplit(url).scheme if url else "memory"
        if scheme in ("redis", "rediss"):
            assert url is not None
            self._redis = self._backend = ConfirmedRedisBackend(url, settings)
        elif scheme == "memory":
            self._backend = MemoryBackend("memory://")
        else:
            raise ValueError(f"unsupported event bus URL scheme: {scheme!r}")
        self._queue_limit = subscriber_queue_limit
        self._channels: dict[str, _Channel] = {}
        self._ops: dict[str, asyncio.Task[None]] = {}  # last upstream op per channel
        self._pump: asyncio.Task[None] | None = None
        self._connected = False

    async def __aenter__(self) -> EventBus:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.disconnect()

    async def connect(self) -> None:
        """Start the bus. With Redis down this still succeeds and keeps reconnecting."""
        if self._connected:
            return
        await self._backend.connect()
        self._pump = asyncio.create_task(self._dispatch(), name="event-bus-dispatch")
        self._connected = True

    async def disconnect(self) -> None:
        """End every subscription's iterator, then close the backend."""
        if not self._connected:
            return
        self._connected = False
        for channel in list(self._channels.values()):
            for sub in list(channel.subscribers):
                sub._end()
        self._channels.clear()
        pending = [*self._ops.values()]
        if self._pump is not None:
            pending.append(self._pump)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._ops.clear()
        await self._backend.disconnect()

    async def publish(self, channel: str, message: str) -> bool:
        """Publish ``message``; True if handed to the broker.

        Never raises for an unavailable Redis (logs and drops after
        ``publish_timeout``): callers are committed sales and must not fail
        because of notifications.
        """
        if not isinstance(message, str):
            # memory:// would happily pass objects that Redis cannot carry.
            raise TypeError(f"event bus messages must be str, not {type(message).__name__}")
        if not self._connected:
            log.warning("event bus: publish to %s while not connected; dropped", channel)
            return False
        if self._redis is not None:
            return await self._redis.try_publish(channel, message)
        await self._backend.publish(channel, message)
        return True

    def subscribe(self, channel: str) -> Subscription:
        """``async with bus.subscribe(ch) as sub: async for item in sub: …``

        On entry the upstream subscription is established (Redis confirmed it),
        unless Redis is down — then a ``BusResumed`` follows once it is back.
        """
        return Subscription(self, channel, self._queue_limit)

    # -- introspection (metrics, tests) --------------------------------------------

    @property
    def connected_upstream(self) -> bool:
        """False while Redis is unreachable; always True in-process once connected."""
        return self._connected and (self._redis is None or self._redis.connected)

    @property
    def dropped_publishes(self) -> int:
        return self._redis.dropped_publishes if self._redis is not None else 0

    def local_subscribers(self, channel: str) -> int:
        entry = self._channels.get(channel)
        return len(entry.subscribers) if entry else 0

    # -- internals -----------------------------------------------------------------

    async def _attach(self, sub: Subscription) -> None:
        if not self._connected:
            raise BusClosed("event bus is not connected")
        entry = self._channels.get(sub.channel)
        if entry is None:
            entry = _Channel(set(), self._upstream(sub.channel, self._backend.subscribe))
            self._channels[sub.channel] = entry
        entry.subscribers.add(sub)
        try:
            # wait() rather than await: one joiner being cancelled must not cancel
            # the others' SUBSCRIBE, and a SUBSCRIBE cancelled by disconnect()
            # must read as BusClosed, not as this task being cancelled.
            await asyncio.wait([entry.established])
            if entry.established.cancelled() or not self._connected:
                raise BusClosed("event bus disconnected")
            error = entry.established.exception()
            if error is not None:
                raise error
        except BaseException:
            await self._detach(sub)
            raise

    async def _detach(self, sub: Subscription) -> None:
        sub._end()
        entry = self._channels.get(sub.channel)
        if entry is None or sub not in entry.subscribers:
            return
        entry.subscribers.discard(sub)
        if entry.subscribers:
            return
        del self._channels[sub.channel]
        if self._connected:
            await asyncio.shield(self._upstream(sub.channel, self._backend.unsubscribe))

    def _upstream(self, channel: str, op: Callable[[str], Awaitable[None]]) -> asyncio.Task[None]:
        """Run an upstream (un)subscribe after the previous one on this channel.

        Leave-then-rejoin must reach Redis as UNSUBSCRIBE then SUBSCRIBE, in
        that order, or the channel could end up unsubscribed with listeners.
        """
        previous = self._ops.get(channel)

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            await op(channel)

        task = asyncio.create_task(run())
        self._ops[channel] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._ops.get(channel) is t:
                del self._ops[channel]
            if not t.cancelled() and t.exception() is not None:
                log.error("event bus: upstream op on %s failed", channel, exc_info=t.exception())

        task.add_done_callback(done)
        return task

    async def _dispatch(self) -> None:
        while True:
            event = await self._backend.next_published()
            entry = self._channels.get(event.channel)
            if entry is None:
                continue
            item: BusItem = (BusResumed(event.channel, event.reason) if isinstance(event, ResumedEvent)
                             else event.message)
            for sub in list(entry.subscribers):
                sub._deliver(item)
