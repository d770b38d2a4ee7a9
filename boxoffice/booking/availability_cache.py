"""Per-process cache of availability snapshots: a stadium map is read once per interval, not per request.

The snapshot is indicative by contract (only a hold is a promise), so serving one up to
`max_age_s` old is fine; clients converge through seatChanges(sinceVersion: snapshot.version).
Concurrent readers of a stale show share one rebuild.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from .records import AvailabilitySnapshot, ShowRecord
from .seatmap import availability


class AvailabilityCache:
    def __init__(self, engine: AsyncEngine, max_age_s: float = 0.1, max_shows: int = 256) -> None:
        self._engine = engine
        self._max_age_s = max_age_s
        self._max_shows = max_shows
        self._entries: dict[uuid.UUID, tuple[float, AvailabilitySnapshot]] = {}
        self._building: dict[uuid.UUID, asyncio.Future[AvailabilitySnapshot]] = {}
        self._generation: dict[uuid.UUID, int] = {}

    def invalidate(self, show_id: uuid.UUID) -> None:
        """This process changed the show: its next reader must see the change."""
        self._entries.pop(show_id, None)
        self._generation[show_id] = self._generation.get(show_id, 0) + 1

    async def get(self, show: ShowRecord) -> AvailabilitySnapshot:
        entry = self._entries.get(show.id)
        if entry is not None and time.monotonic() - entry[0] < self._max_age_s:
            return entry[1]
        generation = self._generation.get(show.id, 0)
        pending = self._building.get(show.id)
        if pending is not None and generation == self._generation.get(show.id, 0):
            return await asyncio.shield(pending)
        future: asyncio.Future[AvailabilitySnapshot] = asyncio.get_running_loop().create_future()
        self._building[show.id] = future
        try:
            started = time.monotonic()
            snapshot = await availability(self._engine, show.id, show.version_sequence)
            if generation == self._generation.get(show.id, 0):  # not invalidated while reading
                if len(self._entries) >= self._max_shows:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[show.id] = (started, snapshot)
            future.set_result(snapshot)
            return snapshot
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        finally:
            if self._building.get(show.id) is future:
                del self._building[show.id]
