"""Load shedding for /graphql: a short FIFO wait for a slot, then RATE_LIMITED; lanes for checkout
and the waiting room.

A process serves `max_in_flight` GraphQL requests at once. One that finds every slot taken waits,
first come first served, up to `max_wait_ms` for one to free, and only then (or when `max_queued`
requests already wait) is answered 503 RATE_LIMITED with Retry-After. A burst that the box can
answer within the wait is answered, not shed: most requests in flight are waiting on PostgreSQL,
Redis or Stripe, not using the CPU, so slots free every few milliseconds while the box has room.
Only when the box is really full do requests queue past the wait, and are shed: under overload,
work for clients that already gave up would crowd out those still waiting.

Only requests whose body has arrived whole are counted: ShedLoad sits behind `BodyLimit`
(http_body.py), which reads every body within a deadline first. A client who sends headers and
half a body, or nothing, therefore never holds a slot (32 of them used to take /graphql down).

Lanes (request_lanes.py reads them from the body, which is already in memory):
  * checkout (`createOrder`, `confirmPayment`, the buyer's `order` read) uses the general slots and,
    when those are all taken, a reserve on top: a fan who already holds seats is a few seconds from a
    sale, and shedding their payment to make room for one more hold attempt wastes the hold.
  * the waiting room (`enterWaitingRoom`, `waitingRoomTicket`) has slots of its own and never takes
    a general one, and a longer wait: it exists to absorb a flash crowd, each request is one Redis
    round trip, and a crowd entering must neither be shed nor crowd out the holds of fans already
    admitted. A fan would rather wait a second in the queue's front door than be turned away.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .http_body import ARRIVED, MAX_BODY_BYTES, read_body
from .metrics import Metrics
from .request_lanes import Lane, LaneReader


@dataclass(eq=False)
class _Waiter:
    order: int
    limit: int
    granted: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Slots:
    """Concurrency slots and a FIFO of requests waiting for one, each up to a deadline.

    A waiter may be allowed past a higher limit than others (the checkout reserve): waiters are
    queued by their limit, and a freed slot goes to the earliest waiter it is within the limit of.
    A slot is handed over on release, never left for a newcomer to take first.
    """

    def __init__(self, max_queued: int, wait_s: float) -> None:
        self.in_flight = 0
        self.max_queued = max_queued
        self.wait_s = wait_s
        self.queued = 0
        self._waiting: dict[int, deque[_Waiter]] = {}
        self._order = itertools.count()

    async def take(self, limit: int) -> bool:
        """Whether a slot was taken (then `give_back` it), at once or within the wait."""
        if self.in_flight < limit:
            self.in_flight += 1
            return True
        if self.queued >= self.max_queued or self.wait_s <= 0:
            return False
        waiter = _Waiter(next(self._order), limit)
        self._waiting.setdefault(limit, deque()).append(waiter)
        self.queued += 1
        try:
            async with asyncio.timeout(self.wait_s):
                await waiter.granted
            return True
        except TimeoutError:
            # Granted in the same turn of the loop as the deadline: the slot is ours all the same.
            return waiter.granted.done() and not waiter.granted.cancelled()
        except BaseException:  # the client went away while waiting
            if waiter.granted.done() and not waiter.granted.cancelled():
                self.give_back()
            raise
        finally:
            if not waiter.granted.done() or waiter.granted.cancelled():  # no slot: leave the line
                waiter.granted.cancel()  # skipped when a slot frees
                self.queued -= 1

    def give_back(self) -> None:
        self.in_flight -= 1
        while True:
            first: deque[_Waiter] | None = None
            for limit, waiters in self._waiting.items():
                while waiters and waiters[0].granted.done():
                    waiters.popleft()  # gave up waiting
                if waiters and self.in_flight < limit and (first is None or waiters[0].order < first[0].order):
                    first = waiters
            if first is None:
                return
            self.in_flight += 1
            self.queued -= 1
            first.popleft().granted.set_result(None)


@dataclass(eq=False)
class _Held:
    """The slot the running request holds, whether it lent it out (outside_slot), and whether it gave
    it back (its answer is written: the rest is the client's reading)."""
    slots: Slots
    lent: bool = False
    done: bool = False

    def give_back(self) -> None:
        if not self.done:
            self.done = True
            if not self.lent:
                self.slots.give_back()


# The request's slot, set by ShedLoad around the request (a context variable: the request's task and
# the tasks it starts see it; nothing else does).
_held: ContextVar[_Held | None] = ContextVar("boxoffice_request_slot", default=None)


@asynccontextmanager
async def outside_slot() -> AsyncIterator[None]:
    """Lends the running request's slot to the next in line while it waits on another company's server
    (the payment provider): a slot bounds the work this process does at once, and a request waiting
    seconds on a slow PSP does none, so it must not turn away holds while the CPU is idle. Coming back,
    the request takes its slot again at once, past the limit if need be: it was admitted, and finishing
    it is one statement and its answer. Outside a request (webhooks, the CLI), it does nothing."""
    held = _held.get()
    if held is None or held.lent or held.done:
        yield
        return
    held.lent = True
    held.slots.give_back()
    try:
        yield
    finally:
        held.lent = False
        if not held.done:
            held.slots.in_flight += 1


class RequestSlots:
    """A process's slots for GraphQL work, one pool for every transport: HTTP requests (ShedLoad) and
    the queries and mutations a WebSocket carries (schema/transport_ws.py) take from it alike, or a
    client would pass the limit by sending its documents over a socket. Subscriptions take none: they
    wait on events, bounded by the operations a connection may keep open."""

    def __init__(self, max_in_flight: int = 64, checkout_reserve: int | None = None,
                 waiting_room_in_flight: int | None = None, max_wait_ms: float = 0, max_queued: int = 256,
                 waiting_room_wait_ms: float | None = None, metrics: Metrics | None = None) -> None:
        self.max_in_flight = max_in_flight
        self.checkout_reserve = max_in_flight // 2 if checkout_reserve is None else checkout_reserve
        self.general = Slots(max_queued, max_wait_ms / 1000)
        self.waiting_room = Slots(max_queued, (max_wait_ms if waiting_room_wait_ms is None else waiting_room_wait_ms)
                                  / 1000)
        self.waiting_room_limit = max_in_flight if waiting_room_in_flight is None else waiting_room_in_flight
        self.metrics = metrics

    @property
    def enabled(self) -> bool:
        return self.max_in_flight > 0

    @property
    def in_flight(self) -> int:
        return self.general.in_flight + self.waiting_room.in_flight

    async def admit(self, lane: Lane) -> _Held | None:
        """A slot of the lane's (give it back through the `_Held`), at once or within the wait; None:
        shed (counted), answer RATE_LIMITED."""
        slots, limit = self.general, self.max_in_flight
        if lane is Lane.WAITING_ROOM:
            slots, limit = self.waiting_room, self.waiting_room_limit
        elif lane is Lane.CHECKOUT:
            limit += self.checkout_reserve
        if slots.in_flight < limit:  # the common case: no clock read, no queue
            slots.in_flight += 1
            return _Held(slots)
        started = time.perf_counter()
        taken = await slots.take(limit)
        if self.metrics is not None:
            self.metrics.shed_queue_wait.labels(lane.value).observe(time.perf_counter() - started)
        if not taken:
            if self.metrics is not None:
                self.metrics.shed_requests.labels(lane.value).inc()
            return None
        return _Held(slots)


def answer_whole() -> None:
    """The running request's answer is computed: its slot goes back before the answer is written,
    which takes as long as the client takes to read (a WebSocket that never reads its socket holds
    that socket, never a slot). Outside a request it does nothing."""
    held = _held.get()
    if held is not None:
        held.give_back()


@contextmanager
def holding(held: _Held) -> Iterator[None]:
    """Runs the block as the slot's request (what `outside_slot` lends), giving the slot back at the end."""
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        held.give_back()


BUSY = "The server is busy; try again in a moment."
BUSY_EXTENSIONS = {"code": "RATE_LIMITED", "retryAfterSeconds": 1}


class ShedLoad:
    def __init__(self, app: ASGIApp, lanes: LaneReader, slots: RequestSlots,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.slots = slots
        self.max_body_bytes = max_body_bytes
        self.lanes = lanes

    @property
    def in_flight(self) -> int:
        return self.slots.in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/graphql" or not self.slots.enabled:
            await self.app(scope, receive, send)
            return
        lane, receive = await self._lane(scope, receive)
        held = await self.slots.admit(lane)
        if held is None:
            await _busy(scope, receive, send)
            return

        async def send_then_free(message: Message) -> None:
            # The answer is whole once its last body part is handed over: the slot goes back before
            # the write, which waits as long as the client takes to read (a client that stops reading
            # costs its socket until the protocol's write deadline, never a slot).
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                held.give_back()
            await send(message)

        with holding(held):
            await self.app(scope, receive, send_then_free)

    async def _lane(self, scope: Scope, receive: Receive) -> tuple[Lane, Receive]:
        """The request's lane, and a `receive` replaying the body (already read by BodyLimit)."""
        if scope["method"] == "GET":
            return self.lanes.of_query_string(scope.get("query_string", b"")), receive
        if scope["method"] != "POST":
            return Lane.GENERAL, receive
        body: bytes | None = scope.get(ARRIVED)  # BodyLimit's reading, in front
        if body is None:
            body, receive = await read_body(receive, self.max_body_bytes)
        return (Lane.GENERAL if body is None else self.lanes.of_body(body)), receive


async def _busy(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"errors": [{"message": BUSY, "extensions": BUSY_EXTENSIONS}]},
                       503, headers={"Retry-After": "1"})(scope, receive, send)
