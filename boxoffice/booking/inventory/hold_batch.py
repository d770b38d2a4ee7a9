"""Group commit for reserved-seat holds: concurrent holds of one show share one statement.

A hold's PostgreSQL cost is mostly per statement (executor start-up, commit), not per seat, so under
a flash sale this process gathers the reserved-seat holds that arrive while its earlier batches are
in PostgreSQL and sends them as one call of hold_reserved_seats_batch() (migration 0004), scheduled
as group_commit.py says: a quiet server adds no wait; under load batches grow by themselves.

A batch holds at most one hold per user and no seat twice: a hold that would share a user or a seat
with the forming batch waits for the next one, so it sees its batch-mate's outcome (its limit, its
idempotency key, its seats) exactly as if the two had run one after the other. Every hold gets its
own outcome; one hold's failure does not touch another's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ..records import ShowRecord
from .group_commit import GroupCommit

_BIGINT = range(-2**63, 2**63)

_BATCH = "SELECT * FROM hold_reserved_seats_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ORDER BY idx"


@dataclass(frozen=True)
class BatchedHold:
    """One hold's arguments to hold_reserved_seats(), minus the show's settings."""

    hold_id: uuid.UUID
    user_id: uuid.UUID
    seat_ids: list[int]
    idempotency_key: str
    request_hash: str
    refused: bool


def batchable(hold: BatchedHold) -> bool:
    """Values PostgreSQL would refuse would fail the whole batch: those holds go alone."""
    return all(s in _BIGINT for s in hold.seat_ids) and "\x00" not in hold.idempotency_key


@dataclass
class _Waiting:
    hold: BatchedHold
    future: asyncio.Future[Mapping[str, Any]]


@dataclass
class _ShowQueue:
    show: ShowRecord
    waiting: deque[_Waiting] = field(default_factory=deque)


class HoldBatcher(GroupCommit):
    """Per process; `concurrency` batches in PostgreSQL at once, each of at most `max_batch` holds."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 64, concurrency: int = 2,
                 on_batch: Callable[[int], object] | None = None) -> None:
        super().__init__(engine, max_batch=max_batch, concurrency=concurrency, on_batch=on_batch)
        self._queues: dict[uuid.UUID, _ShowQueue] = {}

    @property
    def holds(self) -> int:
        """Holds sent in batches so far."""
        return self.calls

    async def hold(self, show: ShowRecord, hold: BatchedHold) -> Mapping[str, Any]:
        """The row hold_reserved_seats() would return for this hold alone (outcome, taken, hold, claimed)."""
        future: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(show.id)
        if queue is None:
            queue = self._queues[show.id] = _ShowQueue(show)
        queue.show = show  # the newest settings a caller read
        queue.waiting.append(_Waiting(hold, future))
        self._kick()
        return await future  # cancelling a caller cancels its own future only, not its batch

    def _waiting(self) -> bool:
        return bool(self._queues)

    def _next_batch(self) -> Coroutine[Any, Any, None] | None:
        show_id = next(iter(self._queues))
        queue = self._queues.pop(show_id)
        batch = _take(queue.waiting, self.max_batch)
        if queue.waiting:  # what did not fit goes after the other shows' holds
            self._queues[show_id] = queue
        return self._run(queue.show, batch) if batch else None

    async def _run(self, show: ShowRecord, batch: list[_Waiting]) -> None:
        owners: list[int] = []
        seats: list[int] = []
        for i, w in enumerate(batch, start=1):
            owners.extend([i] * len(w.hold.seat_ids))
            seats.extend(w.hold.seat_ids)
        holds = [w.hold for w in batch]
        await self._send([w.future for w in batch], _BATCH, show.id, show.version_sequence, show.hold_ttl_seconds,
                         show.max_tickets_per_user, show.currency, [h.hold_id for h in holds],
                         [h.user_id for h in holds], [h.idempotency_key for h in holds],
                         [h.request_hash for h in holds], [h.refused for h in holds], owners, seats)


def _take(waiting: deque[_Waiting], limit: int) -> list[_Waiting]:
    """Up to `limit` holds in arrival order, skipping (and keeping, in order) any that shares a user
    or a seat with one already taken. Can be empty (when every waiting caller was cancelled)."""
    batch: list[_Waiting] = []
    users: set[uuid.UUID] = set()
    seats: set[int] = set()
    kept: list[_Waiting] = []
    while waiting and len(batch) < limit:
        w = waiting.popleft()
        if w.future.done():  # its caller was cancelled before it was sent: nobody wants it
            continue
        if w.hold.user_id in users or not seats.isdisjoint(w.hold.seat_ids):
            kept.append(w)
            continue
        batch.append(w)
        users.add(w.hold.user_id)
        seats.update(w.hold.seat_ids)
    waiting.extendleft(reversed(kept))
    return batch
