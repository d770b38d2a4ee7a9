"""Between the domain and the seat hub: publish committed changes, read state for replays."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..booking.records import ChangeSet
from ..booking.records import SeatChange as CommittedChange
from ..db import reading
from ..booking.inventory.seatmap import (Barrier, committed_version, section_counts, section_counts_of,
                                         section_counts_query)
from ..replica import ReplicaReads, read_replayed, wal_position
from .bus import EventBus
from .seat_events import PublishedSeatChange, encode_seat_event, seat_channel
from .seat_stream import SeatChange, SeatDelta, SectionCount


class SeatFeed:
    """Called only after the transaction that made the changes has committed."""

    def __init__(self, bus: EventBus,
                 local: Callable[[uuid.UUID, Sequence[CommittedChange]], None] | None = None) -> None:
        self._bus = bus
        self._local = local  # this process's readers (e.g. its seat boards) learn of the changes first

    async def publish(self, changes: ChangeSet) -> None:
        for show_id, seat_changes in changes.by_show.items():
            if self._local is not None:
                self._local(show_id, seat_changes)
            message = encode_seat_event(str(show_id), [
                PublishedSeatChange(str(c.seat_id), str(c.section_id), c.status, c.version, c.ga)
                for c in seat_changes])
            # PostgreSQL is the authority: a lost message is repaired by the next replay.
            await self._bus.publish(seat_channel(str(show_id)), message)
        for order_id in changes.orders:
            await self._bus.publish(order_channel(order_id), "changed")


class SeatStateReader:
    """The hub's view of the database: replays for sinceVersion and section counts.

    Give it its own small engine of the primary: its reads then never queue behind holds for a
    connection. With `replicas`, replays and counts come from the read replica while it is fresh and
    has replayed what they must include (replica.read_replayed), else from that engine.
    """

    def __init__(self, engine: AsyncEngine, replicas: ReplicaReads | None = None) -> None:
        self._engine = engine
        self._replicas = replicas
        self._sequences: dict[str, str] = {}  # a show's version sequence never changes

    async def load_version(self, show_id: str) -> int:
        return (await self._barrier(show_id)).version

    async def _barrier(self, show_id: str) -> Barrier:
        sid = uuid.UUID(show_id)
        sequence = self._sequences.get(show_id)
        if sequence is None:
            async with reading(self._engine) as conn:
                sequence = (await conn.execute(text("SELECT version_sequence FROM shows WHERE id = :s"),
                                               {"s": sid})).scalar_one()
            self._sequences[show_id] = sequence
        return await committed_version(self._engine, sid, sequence)

    async def load_since(self, show_id: str, since_version: int) -> SeatDelta:
        sid = uuid.UUID(show_id)
        barrier = await self._barrier(show_id)

        async def then(conn: AsyncConnection, rows: Sequence[Row[Any]]) -> SeatDelta:
            sections = await section_counts(conn, sid)
            # The barrier's version (not the newest row's) is what a client may resume from: every
            # change up to it is committed and in this read.
            return SeatDelta(show_id=show_id, version=barrier.version,
                             seats=tuple(SeatChange(str(r.id), r.status, r.version) for r in rows),
                             sections=tuple(_section(c) for c in sections))

        return await read_replayed(self._engine, self._replicas, barrier.position, (
            "SELECT id, status, version FROM show_seats WHERE show_id = :s AND version > :v "
            "AND position IS NOT NULL ORDER BY version"), {"s": sid, "v": since_version}, then)

    async def load_sections(self, show_id: str, section_ids: list[str]) -> list[SectionCount]:
        # Counts after changes already announced: their commits lie below the WAL position now
        # (without a replica no need to ask: the primary has every commit).
        replica = self._replicas is not None and self._replicas.has_replica
        position = await wal_position(self._engine) if replica else "0/0"
        sql, params = section_counts_query(uuid.UUID(show_id), [uuid.UUID(s) for s in section_ids])

        async def then(conn: AsyncConnection, rows: Sequence[Row[Any]]) -> list[SectionCount]:
            return [_section(c) for c in section_counts_of(rows)]

        return await read_replayed(self._engine, self._replicas, position, sql, params, then)


def _section(c: object) -> SectionCount:
    return SectionCount(str(c.section_id), c.name, c.general_admission, c.capacity, c.available)  # type: ignore[attr-defined]


def order_channel(order_id: uuid.UUID) -> str:
    return f"orders:{order_id}"
