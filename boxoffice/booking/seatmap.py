"""Seat maps: static geometry cached per venue, statuses read in one query per show.

Versions and the barrier
------------------------
Every seat change draws its version from the show's sequence, so concurrent holds never
serialise on a counter row. A sequence hands out numbers before commit, though, so a
snapshot could see version 101 while 100 is still in flight, and a client resuming with
sinceVersion=101 would miss 100. Writers therefore take a *shared* advisory lock on the
show for their (millisecond) transaction; the snapshot briefly takes the *exclusive* one to
read the sequence's last value, which waits only for the transactions already in flight.
Every version up to that value is then committed and visible to the status read that follows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..db import reading
from .records import AvailabilitySnapshot, SeatView, SectionCount

SHOW_LOCK_KEY = "hashtextextended(CAST(CAST(:show_id AS uuid) AS text), 7)"
# A hold past its expiry is claimable now, so maps show its seats as available.
_STATUS_NOW = "CASE WHEN status = 'H' AND hold_expires_at <= now() THEN 'A' ELSE status END"


class ShowRecordLike(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def venue_id(self) -> uuid.UUID: ...


async def lock_show_for_change(conn: AsyncConnection, show_id: uuid.UUID) -> None:
    """First statement of every transaction that changes a show's inventory."""
    await conn.execute(text(f"SELECT pg_advisory_xact_lock_shared({SHOW_LOCK_KEY})"), {"show_id": show_id})


async def committed_version(engine: AsyncEngine, show_id: uuid.UUID, sequence: str) -> int:
    """The show's change counter such that every change up to it is committed."""
    async with engine.begin() as conn:
        await conn.execute(text(f"SELECT pg_advisory_xact_lock({SHOW_LOCK_KEY})"), {"show_id": show_id})
        value = (await conn.execute(text("SELECT pg_sequence_last_value(CAST(:seq AS regclass))"),
                                    {"seq": sequence})).scalar()
    return int(value or 0)


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
    """Venue geometry never changes once created, so one read per venue per process."""

    def __init__(self, max_venues: int = 64) -> None:
        self._by_venue: dict[uuid.UUID, dict[int, SeatGeometry]] = {}
        self._max = max_venues

    async def for_venue(self, engine: AsyncEngine, venue_id: uuid.UUID) -> dict[int, SeatGeometry]:
        cached = self._by_venue.get(venue_id)
        if cached is not None:
            return cached
        async with reading(engine) as conn:
            rows = (await conn.execute(
                text("SELECT vs.id, vs.section_id, s.name, vs.row_label, vs.number, vs.accessible, vs.obstructed, "
                     "vs.x, vs.y FROM venue_seats vs JOIN sections s ON s.id = vs.section_id "
                     "WHERE vs.venue_id = :v"), {"v": venue_id})).all()
        geometry = {r[0]: SeatGeometry(*r) for r in rows}
        if len(self._by_venue) >= self._max:
            self._by_venue.pop(next(iter(self._by_venue)))
        self._by_venue[venue_id] = geometry
        return geometry


async def show_seats(engine: AsyncEngine, geometry: GeometryCache, show_id: uuid.UUID, venue_id: uuid.UUID,
                     section_id: uuid.UUID | None = None) -> list[SeatView]:
    """Reserved seats of a show in map order, optionally of one section."""
    geo = await geometry.for_venue(engine, venue_id)
    sql = (f"SELECT id, venue_seat_id, {_STATUS_NOW} AS status, version, price_cents FROM show_seats "
           "WHERE show_id = :s AND position IS NOT NULL")
    params: dict[str, object] = {"s": show_id}
    if section_id is not None:
        sql += " AND section_id = :sec"
        params["sec"] = section_id
    async with reading(engine) as conn:
        rows = (await conn.execute(text(sql + " ORDER BY position"), params)).all()
    return [_view(geo, r) for r in rows]


def _view(geo: dict[int, SeatGeometry], row: Any) -> SeatView:
    seat_id, venue_seat_id, status, version, price = row
    g = geo[venue_seat_id]
    return SeatView(seat_id, g.section_id, g.section, g.row, g.number, status, version, price,
                    g.accessible, g.obstructed, g.x, g.y)


async def section_counts(conn: AsyncConnection, show_id: uuid.UUID,
                         section_ids: list[uuid.UUID] | None = None) -> list[SectionCount]:
    sql = ("SELECT sec.id, sec.name, sec.general_admission, sec.capacity, "
           "(SELECT count(*) FROM show_seats ss WHERE ss.show_id = :s AND ss.section_id = sec.id "
           " AND (ss.status = 'A' OR (ss.status = 'H' AND ss.hold_expires_at <= now())))::int AS available "
           "FROM shows sh JOIN sections sec ON sec.venue_id = sh.venue_id WHERE sh.id = :s")
    params: dict[str, object] = {"s": show_id}
    if section_ids is not None:
        sql += " AND sec.id = ANY(:ids)"
        params["ids"] = section_ids
    rows = (await conn.execute(text(sql + " ORDER BY sec.position"), params)).all()
    return [SectionCount(r.id, r.name, r.general_admission, r.capacity, r.available) for r in rows]


async def availability(engine: AsyncEngine, show_id: uuid.UUID, sequence: str) -> AvailabilitySnapshot:
    """Codes in map order (an expired hold reads as available: it is claimable now)."""
    version = await committed_version(engine, show_id, sequence)
    async with reading(engine) as conn:
        codes = (await conn.execute(
            text(f"SELECT COALESCE(string_agg({_STATUS_NOW}, '' ORDER BY position), '') FROM show_seats "
                 "WHERE show_id = :s AND position IS NOT NULL"), {"s": show_id})).scalar_one()
        sections = await section_counts(conn, show_id)
    return AvailabilitySnapshot(version=version, codes=codes, sections=tuple(sections))


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
