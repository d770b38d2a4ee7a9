"""Reading the catalog: venues, sections, events, shows, price tiers; the event search."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ...db import reading
from ..display_text import display_name
from ..errors import InvalidInput
from ..page_cursors import decode_cursor, encode_cursor
from ..records import EventRecord, PriceTierRecord, SectionRecord, ShowRecord, VenueRecord, Viewer

MAX_PAGE = 100

_VENUE_SQL = ("SELECT v.id, v.name, v.city, v.created_by, v.time_zone, COALESCE((SELECT sum(capacity) FROM sections s "
              "WHERE s.venue_id = v.id), 0)::int AS capacity FROM venues v WHERE v.id = ANY(:ids)")
_EVENT_COLS = "e.id, e.venue_id, e.organizer_id, e.name, e.performer, e.category, e.description, e.status"
_SHOW_SQL = ("SELECT s.id, s.event_id, s.venue_id, s.starts_at, s.on_sale_at, s.currency, s.hold_ttl_seconds, "
             "s.max_tickets_per_user, s.waiting_room_enabled, s.admit_per_minute, s.admission_ttl_seconds, "
             "s.version_sequence, e.status AS event_status, e.organizer_id, s.status, "
             "s.fan_refunds_until_hours_before FROM shows s JOIN events e ON e.id = s.event_id")


def can_see_event(viewer: Viewer | None, status: str, organizer_id: uuid.UUID) -> bool:
    """Drafts are for their organizer (and admins) only."""
    if status != "draft":
        return True
    return viewer is not None and (viewer.role == "admin" or viewer.user_id == organizer_id)


def _event(r: Any) -> EventRecord:
    return EventRecord(id=r.id, venue_id=r.venue_id, organizer_id=r.organizer_id, name=r.name,
                       performer=r.performer, category=r.category, description=r.description, status=r.status)


def _show(r: Any) -> ShowRecord:
    return ShowRecord(**{k: getattr(r, k) for k in ShowRecord.__slots__})  # type: ignore[attr-defined]


async def get_venues(engine: AsyncEngine, ids: list[uuid.UUID]) -> dict[uuid.UUID, VenueRecord]:
    async with reading(engine) as conn:
        rows = (await conn.execute(text(_VENUE_SQL), {"ids": ids})).all()
    return {r.id: VenueRecord(id=r.id, name=r.name, city=r.city, capacity=r.capacity, created_by=r.created_by,
                              time_zone=r.time_zone) for r in rows}


async def get_venue(engine: AsyncEngine, venue_id: uuid.UUID) -> VenueRecord | None:
    return (await get_venues(engine, [venue_id])).get(venue_id)


async def sections_of_venues(engine: AsyncEngine, venue_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[SectionRecord]]:
    async with reading(engine) as conn:
        rows = (await conn.execute(
            text("SELECT id, venue_id, name, general_admission, capacity, position FROM sections "
                 "WHERE venue_id = ANY(:ids) ORDER BY venue_id, position"), {"ids": venue_ids})).all()
    out: dict[uuid.UUID, list[SectionRecord]] = {v: [] for v in venue_ids}
    for r in rows:
        out[r.venue_id].append(SectionRecord(id=r.id, venue_id=r.venue_id, name=r.name,
                                             general_admission=r.general_admission, capacity=r.capacity,
                                             position=r.position))
    return out


async def get_events(engine: AsyncEngine, ids: list[uuid.UUID]) -> dict[uuid.UUID, EventRecord]:
    async with reading(engine) as conn:
        rows = (await conn.execute(text(f"SELECT {_EVENT_COLS} FROM events e WHERE e.id = ANY(:ids)"),
                                   {"ids": ids})).all()
    return {r.id: _event(r) for r in rows}


async def get_event(engine: AsyncEngine, event_id: uuid.UUID) -> EventRecord | None:
    return (await get_events(engine, [event_id])).get(event_id)


async def get_shows(engine: AsyncEngine, ids: list[uuid.UUID]) -> dict[uuid.UUID, ShowRecord]:
    async with reading(engine) as conn:
        rows = (await conn.execute(text(f"{_SHOW_SQL} WHERE s.id = ANY(:ids)"), {"ids": ids})).all()
    return {r.id: _show(r) for r in rows}


async def get_show(engine: AsyncEngine, show_id: uuid.UUID) -> ShowRecord | None:
    return (await get_shows(engine, [show_id])).get(show_id)


async def shows_of_events(engine: AsyncEngine, event_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[ShowRecord]]:
    async with reading(engine) as conn:
        rows = (await conn.execute(text(f"{_SHOW_SQL} WHERE s.event_id = ANY(:ids) ORDER BY s.starts_at, s.id"),
                                   {"ids": event_ids})).all()
    out: dict[uuid.UUID, list[ShowRecord]] = {e: [] for e in event_ids}
    for r in rows:
        out[r.event_id].append(_show(r))
    return out


async def price_tiers_of_shows(engine: AsyncEngine,
                               show_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[PriceTierRecord]]:
    async with reading(engine) as conn:
        rows = (await conn.execute(
            text("SELECT t.id, t.show_id, t.name, t.price_cents, "
                 "COALESCE(array_agg(ss.section_id ORDER BY sec.position) FILTER (WHERE ss.section_id IS NOT NULL), "
                 "'{}') AS section_ids FROM price_tiers t "
                 "LEFT JOIN show_sections ss ON ss.price_tier_id = t.id "
                 "LEFT JOIN sections sec ON sec.id = ss.section_id "
                 "WHERE t.show_id = ANY(:ids) GROUP BY t.id ORDER BY t.show_id, t.position"),
            {"ids": show_ids})).all()
    out: dict[uuid.UUID, list[PriceTierRecord]] = {s: [] for s in show_ids}
    for r in rows:
        out[r.show_id].append(PriceTierRecord(id=r.id, name=r.name, price_cents=r.price_cents,
                                              section_ids=tuple(r.section_ids)))
    return out


@dataclass(frozen=True)
class EventFilter:
    city: str | None = None
    performer: str | None = None
    venue_id: uuid.UUID | None = None
    category: str | None = None
    search: str | None = None
    starts_after: datetime | None = None
    starts_before: datetime | None = None


@dataclass(frozen=True)
class EventPage:
    events: list[tuple[str, EventRecord]]  # (cursor, event)
    has_next_page: bool


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_events(engine: AsyncEngine, flt: EventFilter, *, first: int, after: str | None) -> EventPage:
    """Published events, the one with the soonest upcoming (matching) show first."""
    if not 0 <= first <= MAX_PAGE:
        raise InvalidInput(f"first is between 0 and {MAX_PAGE}.", field="first")
    for moment, name in ((flt.starts_after, "startsAfter"), (flt.starts_before, "startsBefore")):
        if moment is not None and moment.tzinfo is None:  # else read in the database server's zone
            raise InvalidInput("Times need a time zone offset.", field=f"filter.{name}")
    where = ["e.status = 'published'"]
    params: dict[str, Any] = {"limit": first + 1}
    # A cancelled show is no upcoming show: an event whose shows are all cancelled is not found by a
    # date filter, and lists last, as one whose shows are over.
    show_conds = ["s.event_id = e.id", "s.status = 'scheduled'",
                  "s.starts_at >= greatest(now(), COALESCE(:after_t, now()))"]
    params["after_t"] = flt.starts_after
    if flt.starts_before is not None:
        show_conds.append("s.starts_at <= :before_t")
        params["before_t"] = flt.starts_before
    if flt.city:
        where.append("lower(v.city) = lower(:city)")
        params["city"] = display_name(flt.city)
    if flt.performer:
        where.append("e.performer ILIKE :performer")
        params["performer"] = _like(display_name(flt.performer))
    if flt.category:
        where.append("lower(e.category) = lower(:category)")
        params["category"] = display_name(flt.category)
    if flt.venue_id:
        where.append("e.venue_id = :venue_id")
        params["venue_id"] = flt.venue_id
    if flt.search:
        where.append("(e.name ILIKE :q OR e.performer ILIKE :q OR v.name ILIKE :q)")
        params["q"] = _like(display_name(flt.search))
    next_show = f"(SELECT min(s.starts_at) FROM shows s WHERE {' AND '.join(show_conds)})"
    if flt.starts_after is not None or flt.starts_before is not None:
        where.append(f"{next_show} IS NOT NULL")
    outer = ""
    if after:
        instant, after_id = decode_cursor(after)
        outer = "WHERE (sort_key, id) > (COALESCE(:c_stamp, CAST('infinity' AS timestamptz)), :c_id)"
        params.update(c_stamp=instant, c_id=after_id)
    sql = (f"SELECT * FROM (SELECT {_EVENT_COLS}, COALESCE({next_show}, 'infinity') AS sort_key "
           f"FROM events e JOIN venues v ON v.id = e.venue_id WHERE {' AND '.join(where)}) page "
           f"{outer} ORDER BY sort_key, id LIMIT :limit")
    async with reading(engine) as conn:
        rows = (await conn.execute(text(sql), params)).all()
    # asyncpg reads 'infinity' (no upcoming show) as the largest datetime; keep it infinite in cursors.
    events = [(encode_cursor(None if r.sort_key.year == 9999 else r.sort_key, r.id), _event(r))
              for r in rows[:first]]
    return EventPage(events=events, has_next_page=len(rows) > first)


class ShowCache:
    """Show settings for the hot path, cached per process for a second.

    Only settings live here (on-sale time, limits, TTL, waiting room); inventory is always read
    under lock. A change to them reaches every process within `ttl_s`.
    """

    def __init__(self, engine: AsyncEngine, ttl_s: float = 1.0, max_shows: int = 4096,
                 on_clear: Callable[[], object] | None = None) -> None:
        self._engine = engine
        self._on_clear = on_clear  # e.g. the shared answers of anonymous reads (query_cache.py)
        self._ttl_s = ttl_s
        self._max = max_shows
        self._entries: dict[uuid.UUID, tuple[float, ShowRecord | None]] = {}
        # One read per show however many requests miss at once (in a flash sale, all of them
        # do every ttl_s); `clear` starts a new generation so no read from before it is kept.
        self._loading: dict[uuid.UUID, asyncio.Future[ShowRecord | None]] = {}
        self._generation = 0

    async def get(self, show_id: uuid.UUID) -> ShowRecord | None:
        entry = self._entries.get(show_id)
        if entry is not None and time.monotonic() - entry[0] < self._ttl_s:
            return entry[1]
        loading = self._loading.get(show_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(show_id, self._generation))
            loading.add_done_callback(_retrieved)
            self._loading[show_id] = loading
        return await asyncio.shield(loading)  # a caller that gives up does not cancel the others' read

    async def _load(self, show_id: uuid.UUID, generation: int) -> ShowRecord | None:
        started = time.monotonic()
        try:
            show = await get_show(self._engine, show_id)
        finally:
            if generation == self._generation:
                self._loading.pop(show_id, None)
        if generation == self._generation:
            if len(self._entries) >= self._max:
                self._entries.clear()  # crude but bounded: a flash sale is about a handful of shows
            self._entries[show_id] = (started, show)
        return show

    def clear(self) -> None:
        """An organizer changed something: this process sees it at once (others within ttl_s)."""
        self._entries.clear()
        self._loading.clear()
        self._generation += 1
        if self._on_clear is not None:
            self._on_clear()


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Marks a failed shared read as seen: its callers re-raise it, and a read nobody waits for
    any more must not log 'exception was never retrieved'."""
    if not future.cancelled():
        future.exception()
