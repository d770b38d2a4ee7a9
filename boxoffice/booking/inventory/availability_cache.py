"""Per-process seat boards: a show's statuses in memory, so a stadium map costs no database read.

Each board holds every reserved seat's status code and version in map order, plus section
counts. Seat maps are indicative by contract (only a hold is a promise), so readers are served
from memory; a board older than `max_age_s` is brought up to date in the background from the
rows changed since its version (one index scan of a few rows, not the 50,000-row aggregate),
and re-read whole every `full_every_s` (e.g. holds that expired without their seats' versions
changing yet). Changes made through this process are patched in at once, so the writer reads
its own writes. A general-admission change cannot be patched (units are not on the board):
the next reader waits for an update.

Versions
--------
`version` is resume-safe: every change up to it is on the board (see seatmap.py, the barrier).
Patches and update rows may carry newer changes too; a client that resumes
seatChanges(sinceVersion: version) receives those seats again, so it still converges. A seat's
status and version are always set together, and never replaced by an older version.

Where: the barrier on the primary (`engine`); the statuses and changes on the read replica while it
is fresh and has replayed the barrier's WAL position, else on the primary (replica.read_replayed).
A show's layout (fixed, read once per process) comes from the primary: a replica may not have the
show yet.
"""

from __future__ import annotations

import logging
import time
import uuid
from array import array
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from ...replica import ReplicaReads
from ..records import AvailabilitySnapshot, SeatChange, SectionCount
from .seatmap import Changes, Seating, Statuses, load_seating, read_changes, read_statuses
from .single_flight import SingleFlight

log = logging.getLogger(__name__)
_AVAILABLE = ord("A")


class ShowLike(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def version_sequence(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def starts_at(self) -> datetime: ...


def on_sale_over(show: ShowLike) -> bool:
    """Nothing of a cancelled or started show is for sale (holds are refused): its map says so."""
    return show.status == "cancelled" or show.starts_at <= datetime.now(timezone.utc)


@dataclass(eq=False)
class SeatLayout:
    """What never changes for a show: its seats in map order and its sections."""

    show_id: uuid.UUID
    seat_ids: array[int]
    venue_seat_ids: array[int]
    prices: array[int]
    section_at: array[int]  # per map position: index into `sections`
    sections: tuple[SectionCount, ...]  # `available` is the board's business, not the layout's
    index: dict[int, int]  # seat id -> map position
    positions: dict[uuid.UUID, range | array[int]]  # a section's map positions
    # Caches of the API layer built from this layout (e.g. response templates); they go with it.
    renderings: dict[Hashable, object] = field(default_factory=dict)

    @classmethod
    def of(cls, show_id: uuid.UUID, seating: Seating) -> SeatLayout:
        section_index = {s.section_id: i for i, s in enumerate(seating.sections)}
        by_section: dict[uuid.UUID, list[int]] = {}
        for position, section_id in enumerate(seating.section_ids):
            by_section.setdefault(section_id, []).append(position)
        positions: dict[uuid.UUID, range | array[int]] = {}
        for section_id, found in by_section.items():
            contiguous = found[-1] - found[0] + 1 == len(found)
            positions[section_id] = range(found[0], found[-1] + 1) if contiguous else array("l", found)
        return cls(show_id, array("q", seating.seat_ids), array("q", seating.venue_seat_ids),
                   array("q", seating.prices), array("l", (section_index[s] for s in seating.section_ids)),
                   seating.sections, {seat_id: i for i, seat_id in enumerate(seating.seat_ids)}, positions)


@dataclass(frozen=True, slots=True)
class SeatStates:
    """Some seats of a board at one instant: `positions` index the layout and both arrays."""

    layout: SeatLayout
    section_id: uuid.UUID | None  # None: every reserved seat
    positions: range | array[int]
    codes: bytes
    versions: array[int]


class _Board:
    def __init__(self, layout: SeatLayout, statuses: Statuses, now: float) -> None:
        self.layout = layout
        self.refreshed_at = now  # when the newest update started: the board is at least that fresh
        self.full_at = now
        self.wanted = 0  # bumped by changes the board cannot patch (general admission)
        self.synced = 0  # `wanted` as of the start of the newest update
        self.patches: list[SeatChange] | None = None  # kept while a whole re-read is under way
        self._snapshot: AvailabilitySnapshot | None = None
        self._replace(statuses)

    def _replace(self, statuses: Statuses) -> None:
        self.version = statuses.version
        self.codes = bytearray(statuses.codes, "ascii")
        self.versions = array("q", statuses.versions)
        self.available = [0] * len(self.layout.sections)
        for i, section in enumerate(self.layout.sections):
            found = self.layout.positions.get(section.section_id)
            if isinstance(found, range):
                self.available[i] = self.codes.count(b"A", found.start, found.stop)
            elif found is not None:
                self.available[i] = sum(1 for p in found if self.codes[p] == _AVAILABLE)
        self._set_ga(statuses.ga)
        self._snapshot = None

    def _set_ga(self, counts: Sequence[SectionCount]) -> None:
        index = {s.section_id: i for i, s in enumerate(self.layout.sections)}
        for count in counts:
            if count.section_id in index:
                self.available[index[count.section_id]] = count.available

    def set_seat(self, seat_id: int, status: str, version: int) -> None:
        position = self.layout.index.get(seat_id)
        if position is None or version < self.versions[position]:
            return  # not on the map, or older than what the board has
        code = ord(status)
        old = self.codes[position]
        self.codes[position] = code
        self.versions[position] = version
        if old != code:
            self.available[self.layout.section_at[position]] += (code == _AVAILABLE) - (old == _AVAILABLE)
            self._snapshot = None

    def merge(self, changes: Changes) -> None:
        for seat_id, status, version in changes.seats:
            self.set_seat(seat_id, status, version)
        self._set_ga(changes.ga)
        self.version = max(self.version, changes.version)
        self._snapshot = None

    def replace(self, statuses: Statuses) -> None:
        """A whole re-read, then the local changes patched in while it was under way."""
        self._replace(statuses)
        for change in self.patches or ():
            self.set_seat(change.seat_id, change.status, change.version)

    def snapshot(self) -> AvailabilitySnapshot:
        if self._snapshot is None:
            sections = tuple(SectionCount(s.section_id, s.name, s.general_admission, s.capacity, self.available[i])
                             for i, s in enumerate(self.layout.sections))
            self._snapshot = AvailabilitySnapshot(self.version, self.codes.decode("ascii"), sections)
        return self._snapshot

    def closed_snapshot(self) -> AvailabilitySnapshot:
        """The map once sales are over: no place available (a cancelled show's voided orders put
        their seats back as available), sold ones still sold."""
        sections = tuple(SectionCount(s.section_id, s.name, s.general_admission, s.capacity, 0)
                         for s in self.layout.sections)
        return AvailabilitySnapshot(self.version, self.codes.replace(b"A", b"B").decode("ascii"), sections)

    def states(self, section_id: uuid.UUID | None, *, closed: bool = False) -> SeatStates:
        if section_id is None:
            positions: range | array[int] = range(len(self.codes))
        else:
            positions = self.layout.positions.get(section_id, range(0))
        codes = bytes(self.codes.replace(b"A", b"B")) if closed else bytes(self.codes)
        return SeatStates(self.layout, section_id, positions, codes, array("q", self.versions))


class AvailabilityCache:
    """Seat boards of the shows this process serves (at most `max_shows`, oldest dropped)."""

    def __init__(self, engine: AsyncEngine, max_age_s: float = 0.1, wait_after_s: float = 1.0,
                 full_every_s: float = 5.0, max_shows: int = 64, replicas: ReplicaReads | None = None) -> None:
        self._engine = engine  # the primary
        self._replicas = replicas
        self._max_age_s = max_age_s
        self._wait_after_s = wait_after_s  # older than this (e.g. updates failing), readers wait
        self._full_every_s = full_every_s
        self._max_shows = max_shows
        self._boards: dict[uuid.UUID, _Board] = {}
        self._loads: SingleFlight[uuid.UUID, _Board] = SingleFlight()
        self._updates: SingleFlight[uuid.UUID, None] = SingleFlight()

    async def get(self, show: ShowLike) -> AvailabilitySnapshot:
        board = await self._board(show)
        return board.closed_snapshot() if on_sale_over(show) else board.snapshot()

    async def seats(self, show: ShowLike, section_id: uuid.UUID | None = None) -> SeatStates:
        """Statuses and versions of a show's reserved seats (one section's), in map order; once
        sales are over, none available."""
        return (await self._board(show)).states(section_id, closed=on_sale_over(show))

    def apply(self, show_id: uuid.UUID, changes: Sequence[SeatChange]) -> None:
        """This process committed these changes: its next readers see them."""
        board = self._boards.get(show_id)
        if board is None:
            return
        for change in changes:
            if change.ga:
                board.wanted += 1
                continue
            board.set_seat(change.seat_id, change.status, change.version)
            if board.patches is not None:
                board.patches.append(change)

    async def aclose(self) -> None:
        await self._updates.aclose()
        await self._loads.aclose()

    async def _board(self, show: ShowLike) -> _Board:
        board = self._boards.get(show.id)
        if board is None:
            return await self._loads.run(show.id, lambda: self._load(show))
        arrived = time.monotonic()
        while True:
            # An update under way may have started before the change or long before this reader
            # came: then it takes another one.
            if board.synced < board.wanted or arrived - board.refreshed_at >= self._wait_after_s:
                await self._updates.run(show.id, lambda: self._update(board, show.version_sequence))
                if self._boards.get(show.id) is not board:
                    return await self._board(show)  # dropped meanwhile
                continue
            if arrived - board.refreshed_at >= self._max_age_s:
                self._updates.start(show.id, lambda: self._update(board, show.version_sequence))
            return board

    async def _load(self, show: ShowLike) -> _Board:
        started = time.monotonic()
        layout = SeatLayout.of(show.id, await load_seating(self._engine, show.id))
        statuses = await read_statuses(self._engine, show.id, show.version_sequence, _ga_sections(layout),
                                       self._replicas)
        board = _Board(layout, statuses, started)
        if len(self._boards) >= self._max_shows:
            self._boards.pop(next(iter(self._boards)))
        self._boards[show.id] = board
        return board

    async def _update(self, board: _Board, sequence: str) -> None:
        started = time.monotonic()
        wanted = board.wanted
        try:
            if started - board.full_at >= self._full_every_s:
                board.patches = []
                board.replace(await read_statuses(self._engine, board.layout.show_id, sequence,
                                                  _ga_sections(board.layout), self._replicas))
                board.full_at = started
            else:
                board.merge(await read_changes(self._engine, board.layout.show_id, sequence, board.version,
                                               self._replicas))
        except Exception:
            log.warning("seat board of show %s: update failed", board.layout.show_id, exc_info=True)
            raise
        finally:
            board.patches = None
        board.refreshed_at = started
        board.synced = max(board.synced, wanted)


def _ga_sections(layout: SeatLayout) -> list[uuid.UUID]:
    return [s.section_id for s in layout.sections if s.general_admission]
