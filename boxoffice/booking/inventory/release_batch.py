"""Group commit for releases: concurrent releaseHold calls share one call of release_fan_holds().

Scheduled as hold_batch.py's holds are (group_commit.py): a quiet server adds no wait; under a sale
one round trip and one commit serve many releases (migration 0017_release_batch).

A batch never holds one hold twice: a second release of a hold already in the forming batch waits
for the next one, so it sees the first one's outcome exactly as if the two had run one after the
other. Every release gets its own row; a statement that fails as a whole fails each of its callers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from .group_commit import GroupCommit

_BATCH = "SELECT * FROM release_fan_holds($1, $2) ORDER BY idx"

_Waiting = tuple[uuid.UUID, uuid.UUID, "asyncio.Future[Mapping[str, Any]]"]  # hold, fan, the caller's answer


class ReleaseBatcher(GroupCommit):
    """Per process; `concurrency` batches in PostgreSQL at once, each of at most `max_batch` releases."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 64, concurrency: int = 2,
                 on_batch: Callable[[int], object] | None = None) -> None:
        super().__init__(engine, max_batch=max_batch, concurrency=concurrency, on_batch=on_batch)
        self._queue: deque[_Waiting] = deque()

    @property
    def releases(self) -> int:
        """Releases sent in batches so far."""
        return self.calls

    async def release(self, hold_id: uuid.UUID, user_id: uuid.UUID) -> Mapping[str, Any]:
        """The row release_fan_hold(hold_id, user_id) would return."""
        future: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
        self._queue.append((hold_id, user_id, future))
        self._kick()
        return await future  # cancelling a caller cancels its own future only, not its batch

    def _waiting(self) -> bool:
        return bool(self._queue)

    def _next_batch(self) -> Coroutine[Any, Any, None] | None:
        batch = _take(self._queue, self.max_batch)
        return self._run(batch) if batch else None

    async def _run(self, batch: list[_Waiting]) -> None:
        await self._send([future for _, _, future in batch], _BATCH, [hold for hold, _, _ in batch],
                         [user for _, user, _ in batch])


def _take(waiting: deque[_Waiting], limit: int) -> list[_Waiting]:
    """Up to `limit` releases in arrival order, skipping (and keeping, in order) a second release of a
    hold already taken. Can be empty (when every waiting caller was cancelled)."""
    batch: list[_Waiting] = []
    holds: set[uuid.UUID] = set()
    kept: list[_Waiting] = []
    while waiting and len(batch) < limit:
        item = waiting.popleft()
        if item[2].done():  # its caller was cancelled before it was sent: nobody wants it
            continue
        if item[0] in holds:
            kept.append(item)
            continue
        batch.append(item)
        holds.add(item[0])
    waiting.extendleft(reversed(kept))
    return batch
