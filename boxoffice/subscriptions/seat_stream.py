"""Seat-map delta types and the bounded per-subscriber queue of the seat hub."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SeatChange:
    seat_id: str
    status: str  # "A" available, "H" held, "S" sold, "B" blocked
    version: int


@dataclass(frozen=True, slots=True)
class SectionCount:
    section_id: str
    name: str
    general_admission: bool
    capacity: int
    available: int


@dataclass(frozen=True, slots=True)
class SeatDelta:
    """Changes of one show. Clients apply a seat only if its version is newer than theirs."""

    show_id: str
    version: int
    seats: tuple[SeatChange, ...]
    sections: tuple[SectionCount, ...]
    # Renderings of this delta built once for all its subscribers (e.g. the GraphQL layer's view).
    renderings: dict[str, object] = field(default_factory=dict, compare=False, repr=False)


# What load_since returns: every changed seat since a version plus all section counts.
Snapshot = SeatDelta

# Hands a delta straight to the subscriber's connection: True when written, False when declined
# (the subscriber's own task sends it instead), or an awaitable when the write has started but
# must wait for the socket (the subscriber's own task finishes it).
Deliver = Callable[[SeatDelta], "bool | Awaitable[None]"]


class SeatStreamClosed(Exception):
    """A seat subscription ended; ``reason`` is meant for the client / close frame."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HubClosed(SeatStreamClosed):
    """The hub shut down (or lost its event bus): the client should reconnect later."""


class SubscriberTooSlow(SeatStreamClosed):
    """The subscriber's merged backlog exceeded the hub's limit: it must reload the map."""


def merge_deltas(show_id: str, deltas: Iterable[SeatDelta]) -> SeatDelta:
    """One delta equivalent to applying ``deltas`` in order.

    Seats: newest by version, never by arrival. Section counts carry no
    version; later deltas were loaded later, so the later count wins.
    """
    seats: dict[str, SeatChange] = {}
    sections: dict[str, SectionCount] = {}
    version = 0
    for delta in deltas:
        version = max(version, delta.version)
        for seat in delta.seats:
            current = seats.get(seat.seat_id)
            if current is None or seat.version > current.version:
                seats[seat.seat_id] = seat
        for section in delta.sections:
            sections[section.section_id] = section
    return SeatDelta(show_id, version, tuple(seats.values()), tuple(sections.values()))


class SeatStream:
    """Bounded queue of deltas for one subscriber; ``offer`` never blocks the hub.

    When ``queue_limit`` deltas are waiting, the backlog is collapsed into one
    merged delta — the lagging client gets "everything you missed" instead of
    the hub buffering without bound or waiting for it. If even that merged
    delta holds more than ``max_pending_seats`` seats, the stream fails with
    SubscriberTooSlow (a full reload is cheaper for everyone).

    With ``deliver``, a delta offered while nothing is queued or being written goes straight to
    the connection from the hub's flush: the subscriber's task (and its generator chain) wakes
    only for what ``deliver`` could not finish at once, so a stalled socket never holds up the
    flush for the others; its later deltas queue (and collapse) as above until it drains.
    """

    def __init__(self, show_id: str, queue_limit: int, max_pending_seats: int | None,
                 deliver: Deliver | None = None) -> None:
        if queue_limit < 1:
            raise ValueError("queue_limit must be at least 1")
        self.show_id = show_id
        self._limit = queue_limit
        self._max_seats = max_pending_seats
        self._queue: deque[SeatDelta] = deque()
        self._wakeup = asyncio.Event()
        self._error: SeatStreamClosed | None = None
        self._deliver = deliver
        # True while the subscriber's task waits with nothing queued: offers may be delivered directly.
        self._direct = False
        self._writing: Awaitable[None] | None = None  # a direct write waiting for the socket
        self.collapses = 0  # times the backlog was merged (metrics, tests)
        self.delivered = 0  # deltas written straight from the hub (metrics, tests)

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def failed(self) -> bool:
        return self._error is not None

    def offer(self, delta: SeatDelta) -> None:
        if self._error is not None:
            return
        if self._direct and self._deliver is not None:
            try:
                taken = self._deliver(delta)
            except Exception:  # never the flush's problem: the subscriber's task sends it instead
                taken = False
            if taken is True:
                self.delivered += 1
                return
            self._direct = False  # in order: everything after this goes through the queue
            if taken is not False:
                self.delivered += 1
                self._writing = taken
                self._wakeup.set()
                return
        if len(self._queue) < self._limit:
            self._queue.append(delta)
        else:
            merged = merge_deltas(self.show_id, [*self._queue, delta])
            self._queue.clear()
            self.collapses += 1
            if self._max_seats is not None and len(merged.seats) > self._max_seats:
                self.fail(
                    SubscriberTooSlow(
                        f"subscriber too slow: {len(merged.seats)} seat changes pending on show "
                        f"{self.show_id} (limit {self._max_seats}); reload the seat map"
                    )
                )
                return
            self._queue.append(merged)
        self._wakeup.set()

    def put_replay(self, snapshot: SeatDelta) -> None:
        """Make ``snapshot`` the first delta the subscriber receives.

        Live deltas queued while it was loading are folded in (with the
        snapshot's section counts winning: they were read last).
        """
        if self._error is not None:
            return
        self._direct = False
        if self._queue:
            snapshot = merge_deltas(self.show_id, [*self._queue, snapshot])
            self._queue.clear()
        self._queue.append(snapshot)
        self._wakeup.set()

    def fail(self, error: SeatStreamClosed) -> None:
        """End the stream now; pending deltas are discarded."""
        if self._error is None:
            self._error = error
            self._queue.clear()
            self._wakeup.set()

    async def next(self) -> SeatDelta:
        """The next delta for the subscriber's task to send; called once the previous one is sent."""
        while True:
            if self._error is not None:
                raise self._error
            writing, self._writing = self._writing, None
            if writing is not None:
                # A gone socket ends the connection, and with it this subscription: nothing to do here.
                with contextlib.suppress(Exception):
                    await writing
                continue
            if self._queue:
                return self._queue.popleft()
            self._direct = self._deliver is not None
            self._wakeup.clear()
            await self._wakeup.wait()
