"""Where waiting-room queues live: one interface, a Redis and an in-process store.

The store keeps, per show, who holds which ticket (one per user), the queue
order, and the admission token bucket. It knows nothing about JWTs or the
GraphQL shape; `waiting_room.WaitingRoom` builds the public view on top.

Ordering. Every ticket has a score in the show's queue (a sorted set in
Redis); lower goes first.
  * Fans arriving before the on-sale time join the pre-queue: each gets a
    uniformly random negative score, drawn once at entry and stored. Independent
    uniform scores make the pre-queue a uniformly random permutation, decided
    atomically when each fan enters, identical for every process reading it.
  * Everyone else gets the next value of a per-show counter (1, 2, 3, ...), so
    they are FIFO by arrival as Redis serialises them, and always behind the
    pre-queue. The counter's existence closes the pre-queue: once anyone has
    entered after on-sale (or admissions have begun), a late request from a
    process whose clock lags is queued FIFO instead of jumping ahead.

Admission is a token bucket per show, in integer units so the fractional
remainder carries exactly: one admission is 60,000 units and each millisecond
adds `admit_per_minute` units. The bucket banks at most one second of
admissions (at least one), so over any interval of T seconds a show admits at
most rate*T/60 plus that one-second burst, however many processes call admit.

Time comes from the caller (milliseconds since the epoch) so tests can drive
a simulated clock.
"""

from __future__ import annotations

import bisect
import secrets
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass

ADMISSION_UNIT = 60_000  # bucket units per admission: admit_per_minute * milliseconds


class WaitingRoomUnavailable(Exception):
    """The queue store cannot be reached: callers must fail closed (admit nobody)."""


@dataclass(frozen=True)
class StoredTicket:
    ticket_id: str
    show_id: str
    user_id: str
    entered_ms: int
    # Set for pre-queue arrivals: the on-sale time (ms) they arrived before.
    prequeue_until_ms: int | None
    # 0-based place in the queue while waiting; None once admitted.
    rank: int | None
    admitted_ms: int | None
    expires_ms: int | None
    # The show's admit rate as last given to `admit`, for wait estimates.
    admit_per_minute: int | None


@dataclass(frozen=True)
class AdmitResult:
    admitted: tuple[str, ...]  # ticket ids, in queue order
    waiting: int  # still in the queue afterwards


class QueueStore(ABC):
    @abstractmethod
    async def enter(self, show_id: str, user_id: str, now_ms: int, on_sale_ms: int | None) -> StoredTicket:
        """The user's ticket for the show, created (queued) on first entry, and again, at the back of
        the queue, once its admission has lapsed (`admission_lapsed`)."""

    @abstractmethod
    async def ticket(self, ticket_id: str) -> StoredTicket | None: ...

    @abstractmethod
    async def ticket_for_user(self, show_id: str, user_id: str) -> StoredTicket | None: ...

    @abstractmethod
    async def admit(
        self,
        show_id: str,
        now_ms: int,
        admit_per_minute: int,
        admission_ttl_ms: int,
        on_sale_ms: int | None,
    ) -> AdmitResult:
        """Refills the show's bucket to `now_ms` and admits as many as it allows.

        Admits nobody before `on_sale_ms` or while the rate is zero.
        """

    @abstractmethod
    async def queue_length(self, show_id: str) -> int: ...


def new_ticket_id() -> str:
    return str(uuid.uuid4())


def prequeue_score() -> int:
    """A uniformly random score below every FIFO score (which start at 0).

    Drawn from 2**53 values so it is exact as a double in Redis; ties (odds ~
    n**2 / 2**54) fall back to ticket-id order, itself random.
    """
    return -1 - secrets.randbelow(2**53 - 1)


def admission_lapsed(expires_ms: int | None, now_ms: int) -> bool:
    """Whether an admission has run out at `now_ms`: in whole seconds, as the token's `exp` is
    checked. The Redis entry script mirrors this."""
    return expires_ms is not None and now_ms // 1000 >= expires_ms // 1000


def refill_bucket(tokens: int | None, ts_ms: int | None, now_ms: int, admit_per_minute: int) -> tuple[int, int]:
    """The bucket (units, as-of ms) at `now_ms`; the Redis Lua script mirrors this."""
    cap = max(ADMISSION_UNIT, admit_per_minute * 1000)
    if tokens is None or ts_ms is None:
        return cap, now_ms  # a fresh bucket starts full: the first second's batch goes at once
    if now_ms > ts_ms:  # a lagging clock neither adds nor rewinds time
        return min(cap, tokens + admit_per_minute * (now_ms - ts_ms)), now_ms
    return tokens, ts_ms


# --------------------------------------------------------------- in-process


@dataclass
class _Ticket:
    ticket_id: str
    show_id: str
    user_id: str
    entered_ms: int
    prequeue_until_ms: int | None
    score: int
    admitted_ms: int | None = None
    expires_ms: int | None = None


@dataclass
class _ShowQueue:
    users: dict[str, str]
    queue: list[tuple[int, str]]  # (score, ticket id), kept sorted
    seq: int | None = None  # None while the pre-queue is open
    tokens: int | None = None
    tokens_ts_ms: int | None = None
    admit_per_minute: int | None = None


class InProcessQueueStore(QueueStore):
    """The same semantics in memory, for a single process without REDIS_URL.

    Each method runs without awaiting, so it is atomic on the event loop.
    """

    def __init__(self) -> None:
        self._shows: dict[str, _ShowQueue] = {}
        self._tickets: dict[str, _Ticket] = {}

    def _show(self, show_id: str) -> _ShowQueue:
        show = self._shows.get(show_id)
        if show is None:
            show = self._shows[show_id] = _ShowQueue(users={}, queue=[])
        return show

    def _view(self, t: _Ticket) -> StoredTicket:
        show = self._show(t.show_id)
        rank: int | None = None
        if t.admitted_ms is None:
            i = bisect.bisect_left(show.queue, (t.score, t.ticket_id))
            rank = i if i < len(show.queue) and show.queue[i][1] == t.ticket_id else None
        return StoredTicket(
            ticket_id=t.ticket_id,
            show_id=t.show_id,
            user_id=t.user_id,
            entered_ms=t.entered_ms,
            prequeue_until_ms=t.prequeue_until_ms,
            rank=rank,
            admitted_ms=t.admitted_ms,
            expires_ms=t.expires_ms,
            admit_per_minute=show.admit_per_minute,
        )

    async def enter(self, show_id: str, user_id: str, now_ms: int, on_sale_ms: int | None) -> StoredTicket:
        show = self._show(show_id)
        existing = show.users.get(user_id)
        if existing is not None and not admission_lapsed(self._tickets[existing].expires_ms, now_ms):
            return self._view(self._tickets[existing])
        prequeue_until: int | None = None
        if on_sale_ms is not None and now_ms < on_sale_ms and show.seq is None:
            score, prequeue_until = prequeue_score(), on_sale_ms
        else:
            show.seq = (show.seq or 0) + 1
            score = show.seq
        t = _Ticket(new_ticket_id(), show_id, user_id, now_ms, prequeue_until, score)
        self._tickets[t.ticket_id] = t
        show.users[user_id] = t.ticket_id
        bisect.insort(show.queue, (score, t.ticket_id))
        return self._view(t)

    async def ticket(self, ticket_id: str) -> StoredTicket | None:
        t = self._tickets.get(ticket_id)
        return None if t is None else self._view(t)

    async def ticket_for_user(self, show_id: str, user_id: str) -> StoredTicket | None:
        tid = self._show(show_id).users.get(user_id)
        return None if tid is None else self._view(self._tickets[tid])

    async def admit(
        self,
        show_id: str,
        now_ms: int,
        admit_per_minute: int,
        admission_ttl_ms: int,
        on_sale_ms: int | None,
    ) -> AdmitResult:
        show = self._show(show_id)
        show.admit_per_minute = admit_per_minute
        if admit_per_minute <= 0 or (on_sale_ms is not None and now_ms < on_sale_ms):
            return AdmitResult((), len(show.queue))
        if show.seq is None:
            show.seq = 0  # admissions have begun: close the pre-queue
        tokens, ts = refill_bucket(show.tokens, show.tokens_ts_ms, now_ms, admit_per_minute)
        n = min(tokens // ADMISSION_UNIT, len(show.queue))
        admitted = tuple(tid for _, tid in show.queue[:n])
        del show.queue[:n]
        for tid in admitted:
            t = self._tickets[tid]
            t.admitted_ms, t.expires_ms = now_ms, now_ms + admission_ttl_ms
        show.tokens, show.tokens_ts_ms = tokens - n * ADMISSION_UNIT, ts
        return AdmitResult(admitted, len(show.queue))

    async def queue_length(self, show_id: str) -> int:
        show = self._shows.get(show_id)
        return 0 if show is None else len(show.queue)
