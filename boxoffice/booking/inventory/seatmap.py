"""Seat maps: static geometry cached per venue; statuses read whole or as changes since a version.

Versions and the barrier
------------------------
Every seat change draws its version from the show's sequence, so concurrent holds never
serialise on a counter row. A sequence hands out numbers before commit, though, so a
snapshot could see version 101 while 100 is still in flight, and a client resuming with
sinceVersion=101 would miss 100. Writers therefore take a *shared* advisory lock on the
show for their (millisecond) transaction; the snapshot briefly takes the *exclusive* one to
read the sequence's last value, which waits only for the transactions already in flight.
Every version up to that value is then committed and visible to the status read that follows.

The same statement returns the primary's WAL insert position (`Barrier.position`): every commit
up to the version lies below it. So the status reads that follow may run on a read replica that
has replayed that far, checked in their own statement (replica.read_replayed), else on the primary:
a standby's own sequences run ahead of its commits, so the barrier itself never runs there.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ...db import reading
from ...replica import WAL_INSERT_POSITION, ReplicaReads, read_replayed
from ..records import SeatChange, SeatView, SectionCount
from .single_flight import SingleFlight

SHOW_LOCK_KEY = "hashtextextended(CAST(CAST(:show_id AS uuid) AS text), 7)"
# A hold past its expiry is claimable now, so maps show its seats as available. A seat parked for
# the waitlist ('W', booking/waitlist/offers.py) is nobody's to claim: maps show it as held.
_STATUS_NOW = ("CASE WHEN status = 'H' AND hold_expires_at <= now() THEN 'A' WHEN status = 'W' THEN 'H' "
               "ELSE status END")


class ShowRecordLike(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def venue_id(self) -> uuid.UUID: ...


async def lock_show_for_change(conn: AsyncConnection, show_id: uuid.UUID) -> None:
    """First statement of every transaction that changes a show's inventory."""
    await conn.execute(text(f"SELECT pg_advisory_xact_lock_shared({SHOW_LOCK_KEY})"), {"show_id": show_id})


async def move_seats(conn: AsyncConnection, show_id: uuid.UUID, *, where: str, to: str, also_set: str,
                     params: dict[str, Any]) -> list[SeatChange]:
    """Moves the show's seats matching `where` (on `ss`, the seat row) to status `to`, with `also_set`
    and a fresh version each; returns the changes. The rows are locked in key order first, as every
    hold locks them: two transactions locking rows of one show in different orders deadlock, and a
    group-committed hold batch would lose every hold in it."""
    rows = (await conn.execute(text(
        f"WITH locked AS (SELECT ss.id FROM show_seats ss WHERE ss.show_id = :s AND {where} ORDER BY ss.id FOR UPDATE) "
        f"UPDATE show_seats ss SET status = '{to}', {also_set}, "
        "version = nextval(CAST(sh.version_sequence AS regclass)) FROM shows sh, locked l "
        f"WHERE sh.id = :s AND ss.show_id = :s AND ss.id = l.id AND {where} "
        "RETURNING ss.id, ss.section_id, ss.version, ss.position IS NULL AS ga, ss.status"),
        {**params, "s": show_id})).all()
    # A seat sent back on sale may have been parked for the waitlist instead (status 'W', shown held).
    return [SeatChange(r.id, r.section_id, "H" if r.status == "W" else to, r.version, r.ga) for r in rows]


@dataclass(frozen=True, slots=True)
class Barrier:
    """Every change of a show up to `version` is committed, its commit below WAL `position`."""

    version: int
    position: str  # the primary's WAL insert position, as text ('0/16B3748')


async def committed_version(engine: AsyncEngine, show_id: uuid.UUID, sequence: str) -> Barrier:
    """The show's change counter such that every change up to it is committed (on the primary).

    One statement, its own transaction: the lock (taken in a subquery, which runs before the outer
    select list reads the sequence and the WAL position) waits for the writers in flight, whose
    commit records are then in the WAL; it is released when the statement ends, so new writers
    wait for microseconds, not for this process's next turn of its event loop.
    """
    async with reading(engine) as conn:
        value, position = (await conn.execute(text(
            f"SELECT pg_sequence_last_value(CAST(:seq AS regclass)), {WAL_INSERT_POSITION} "
            f"FROM (SELECT pg_advisory_xact_lock({SHOW_LOCK_KEY}) OFFSET 0) AS barrier"),
            {"show_id": show_id, "seq": sequence})).one()
    return Barrier(int(value or 0), str(position))


@dataclass(frozen=True, slots=True)
class SeatGeometry:
    venue_seat_id: int
    section_id: uuid.UUID
    section: str
    row: str
    number: str
    accessible: bool
    obstructed: bool
    x: float
    y: float


class GeometryCache:
    """Venue geometry never changes once created, so one read per venue per process.

    Loads are single-flight: after a restart under load, every concurrent first map of a venue
    waits for one read instead of each reading and building 50,000 rows.
    """

    def __init__(self, max_venues: int = 64) -> None:
        self._by_venue: dict[uuid.UUID, dict[int, SeatGeometry]] = {}
        self._loads: SingleFlight[uuid.UUID, dict[int, SeatGeometry]] = SingleFlight()
        self._max = max_venues

    async def for_venue(self, engine: AsyncEngine, venue_id: uuid.UUID) -> dict[int, SeatGeometry]:
        cached = self._by_venue.get(venue_id)
        if cached is not None:
            return cached
        return await self._loads.run(venue_id, lambda: self._load(engine, venue_id))

    async def _load(self, engine: AsyncEngine, venue_id: uuid.UUID) -> dict[int, SeatGeometry]:
        geometry = await _load_geometry(engine, venue_id)
        if len(self._by_venue) >= self._max:
            self._by_venue.pop(next(iter(self._by_venue)))
        self._by_venue[venue_id] = geometry
        return geometry


async def _load_geometry(engine: AsyncEngine, venue_id: uuid.UUID) -> dict[int, SeatGeometry]:
    async with reading(engine) as conn:
        rows = (await conn.execute(
            text("SELECT vs.id, vs.section_id, s.name, vs.row_label, vs.number, vs.accessible, vs.obstructed, "
                 "vs.x, vs.y FROM venue_seats vs JOIN sections s ON s.id = vs.section_id "
                 "WHERE vs.venue_id = :v"), {"v": venue_id})).all()
    return {r[0]: SeatGeometry(*r) for r in rows}


def _view(geo: dict[int, SeatGeometry], row: Any) -> SeatView:
    seat_id, venue_seat_id, status, version, price = row
    g = geo[venue_seat_id]
    return SeatView(seat_id, g.section_id, g.section, g.row, g.number, status, version, price,
                    g.accessible, g.obstructed, g.x, g.y)


def section_counts_query(show_id: uuid.UUID,
                         section_ids: list[uuid.UUID] | None = None) -> tuple[str, dict[str, object]]:
    """The statement (and its parameters) counting available places by section, in venue order."""
    # One pass over the show's rows for all sections: there is no index by section, so a count per
    # section would read every row of the show once per section (10 sections: ~10x the work).
    some = section_ids is not None
    sql = ("SELECT sec.id, sec.name, sec.general_admission, sec.capacity, COALESCE(c.available, 0)::int AS available "
           "FROM shows sh JOIN sections sec ON sec.venue_id = sh.venue_id "
           "LEFT JOIN (SELECT section_id, count(*) AS available FROM show_seats WHERE show_id = :s"
           + (" AND section_id = ANY(:ids)" if some else "")
           + " AND (status = 'A' OR (status = 'H' AND hold_expires_at <= now())) GROUP BY section_id) c "
           "ON c.section_id = sec.id WHERE sh.id = :s" + (" AND sec.id = ANY(:ids)" if some else "")
           + " ORDER BY sec.position")
    return sql, ({"s": show_id, "ids": section_ids} if some else {"s": show_id})


def section_counts_of(rows: Sequence[Row[Any]]) -> list[SectionCount]:
    return [SectionCount(r.id, r.name, r.general_admission, r.capacity, r.available) for r in rows]


async def section_counts(conn: AsyncConnection, show_id: uuid.UUID,
                         section_ids: list[uuid.UUID] | None = None) -> list[SectionCount]:
    sql, params = section_counts_query(show_id, section_ids)
    return section_counts_of((await conn.execute(text(sql), params)).all())


@dataclass(frozen=True, slots=True)
class Seating:
    """A show's reserved seats in map order, and its sections: fixed once the show exists."""

    seat_ids: list[int]
    venue_seat_ids: list[int]
    section_ids: list[uuid.UUID]
    prices: list[int]
    sections: tuple[SectionCount, ...]  # every section in venue order; `available` as read at load


async def load_seating(engine: AsyncEngine, show_id: uuid.UUID) -> Seating:
    async with reading(engine) as conn:
        rows = (await conn.execute(text(
            "SELECT id, venue_seat_id, section_id, price_cents FROM show_seats "
            "WHERE show_id = :s AND position IS NOT NULL ORDER BY position"), {"s": show_id})).all()
        sections = await section_counts(conn, show_id)
    return Seating([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
                   tuple(sections))


@dataclass(frozen=True, slots=True)
class Statuses:
    """Every reserved seat's status and version in map order, complete up to `version`."""

    version: int
    codes: str
    versions: list[int]
    ga: tuple[SectionCount, ...]  # the counts of the general-admission sections asked for


_STATUSES = (f"SELECT COALESCE(string_agg({_STATUS_NOW}, '' ORDER BY position), '') AS codes, "
             "COALESCE(array_agg(version ORDER BY position), '{}') AS versions FROM show_seats "
             "WHERE show_id = :s AND position IS NOT NULL")


async def read_statuses(engine: AsyncEngine, show_id: uuid.UUID, sequence: str,
                        ga_sections: list[uuid.UUID], replicas: ReplicaReads | None = None) -> Statuses:
    """Codes in map order (an expired hold reads as available: it is claimable now). The barrier
    on `engine` (the primary); the statuses on the replica of `replicas` if it has replayed it."""
    barrier = await committed_version(engine, show_id, sequence)

    async def then(conn: AsyncConnection, rows: Sequence[Row[Any]]) -> Statuses:
        ga = await section_counts(conn, show_id, ga_sections) if ga_sections else []
        return Statuses(barrier.version, rows[0].codes, list(rows[0].versions), tuple(ga))

    return await read_replayed(engine, replicas, barrier.position, _STATUSES, {"s": show_id}, then)


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed after a version, complete up to `version`."""

    version: int
    seats: list[tuple[int, str, int]]  # reserved seats: (id, status now, version)
    ga: tuple[SectionCount, ...]  # recounted general-admission sections that changed


async def read_changes(engine: AsyncEngine, show_id: uuid.UUID, sequence: str, since: int,
                       replicas: ReplicaReads | None = None) -> Changes:
    """Only the rows changed after `since` (the (show_id, version) index), not the whole map.
    The barrier on `engine`, the rows where read_statuses reads them."""
    barrier = await committed_version(engine, show_id, sequence)

    async def then(conn: AsyncConnection, rows: Sequence[Row[Any]]) -> Changes:
        ga_sections = sorted({r.section_id for r in rows if r.ga})
        ga = await section_counts(conn, show_id, ga_sections) if ga_sections else []
        return Changes(barrier.version, [(r.id, r.status, r.version) for r in rows if not r.ga], tuple(ga))

    return await read_replayed(engine, replicas, barrier.position, (
        f"SELECT id, {_STATUS_NOW} AS status, version, position IS NULL AS ga, section_id FROM show_seats "
        "WHERE show_id = :s AND version > :v"), {"s": show_id, "v": since}, then)


async def seats_by_id(engine: AsyncEngine, geometry: GeometryCache, show: ShowRecordLike,
                      seat_ids: set[int]) -> list[SeatView]:
    """Some reserved seats of a show (a hold's, an order's), in map order."""
    geo = await geometry.for_venue(engine, show.venue_id)
    async with reading(engine) as conn:
        rows = (await conn.execute(text(
            f"SELECT id, venue_seat_id, {_STATUS_NOW} AS status, version, price_cents FROM show_seats "
            "WHERE show_id = :s AND id = ANY(:ids) AND position IS NOT NULL ORDER BY position"),
            {"s": show.id, "ids": list(seat_ids)})).all()
    return [_view(geo, r) for r in rows]
