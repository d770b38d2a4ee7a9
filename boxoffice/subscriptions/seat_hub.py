"""Throttled live seat-delta hub for live seat maps.

Per show with local subscribers the hub holds ONE bus subscription to
``seats:{show_id}``, coalesces every change of a window (``window_ms``) into
one :class:`SeatDelta` (newest version per seat, counts of the touched
sections loaded once), and hands that same object to every subscriber's
bounded queue. PostgreSQL stays the authority: whenever notifications may
have been lost (Redis reconnect, bus overflow, malformed message) the hub
re-reads ``load_since(show, last version seen)`` and pushes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

from .bus import BusClosed, BusResumed, EventBus, Subscription
from .seat_events import decode_seat_event, seat_channel
from .seat_stream import (
    Deliver,
    HubClosed,
    SeatChange,
    SeatDelta,
    SeatStream,
    SeatStreamClosed,
    SectionCount,
    Snapshot,
    SubscriberTooSlow,
    merge_deltas,
)

log = logging.getLogger(__name__)

__all__ = [
    "Deliver",
    "HubClosed",
    "LoadSections",
    "LoadSince",
    "SeatChange",
    "SeatDelta",
    "SeatHub",
    "SeatStreamClosed",
    "SeatSubscription",
    "SectionCount",
    "Snapshot",
    "SubscriberTooSlow",
    "merge_deltas",
]

LoadSince = Callable[[str, int], Awaitable[Snapshot]]
LoadSections = Callable[[str, list[str]], Awaitable[Sequence[SectionCount]]]
# The show's version up to which every change is committed (see booking/inventory/seatmap.py).
LoadVersion = Callable[[str], Awaitable[int]]

_RETRY_MAX = 5.0  # seconds between database retries while loads fail


class SeatHub:
    def __init__(
        self,
        bus: EventBus,
        *,
        load_since: LoadSince,
        load_sections: LoadSections,
        window_ms: int = 200,
        queue_limit: int = 64,
        max_pending_seats: int | None = None,
        load_version: LoadVersion | None = None,
        barrier_interval_s: float = 1.0,
        count_wait_ms: float | None = None,
    ) -> None:
        if window_ms <= 0 or queue_limit < 1:
            raise ValueError("window_ms and queue_limit must be positive")
        self._bus = bus
        self._load_since = load_since
        self._load_sections = load_sections
        self._load_version = load_version
        # The committed-version read waits for the show's in-flight writers and makes new ones
        # queue behind it: at most once per interval per show, not once per window.
        self._barrier_interval = barrier_interval_s
        self._window = window_ms / 1000
        # How long a flush waits for its section counts before sending the seats without them
        # (the counts then ride with the next delta): a quarter window unless told.
        self._count_wait = (window_ms / 4 if count_wait_ms is None else count_wait_ms) / 1000
        self._queue_limit = queue_limit
        self._max_pending_seats = max_pending_seats
        self._shows: dict[str, _Show] = {}
        self._closed = False

    def subscribe(self, show_id: str, since_version: int | None = None,
                  deliver: Deliver | None = None) -> SeatSubscription:
        """``async with hub.subscribe(show, since) as deltas: async for delta in deltas: …``

        With ``since_version`` the first delta is ``load_since(show, since_version)``
        (read after the upstream subscription is live, so nothing falls in between),
        then live deltas. Iteration raises HubClosed / SubscriberTooSlow when ended.
        With ``deliver``, live deltas go straight to the connection whenever the
        iteration is idle (see SeatStream); iteration yields only the rest.
        """
        return SeatSubscription(self, show_id, since_version, deliver)

    async def close(self) -> None:
        """End every subscriber with HubClosed and drop all bus subscriptions."""
        self._closed = True
        shows, self._shows = list(self._shows.values()), {}
        for show in shows:
            show.fail_all(HubClosed("server shutting down"))
        await asyncio.gather(*(show.stop() for show in shows), return_exceptions=True)

    # -- introspection (metrics, tests) --------------------------------------------

    @property
    def show_ids(self) -> list[str]:
        return list(self._shows)

    def subscriber_count(self, show_id: str) -> int:
        show = self._shows.get(show_id)
        return len(show.streams) if show else 0

    def delivered_directly(self, show_id: str) -> int:
        """Deltas its current subscribers got straight from the flush (not through their tasks)."""
        show = self._shows.get(show_id)
        return sum(stream.delivered for stream in show.streams) if show else 0

    # -- used by SeatSubscription ------------------------------------------------------

    async def _join(self, stream: SeatStream, since_version: int | None) -> _Show:
        if self._closed:
            raise HubClosed("server shutting down")
        show = self._shows.get(stream.show_id)
        if show is None:
            show = self._shows[stream.show_id] = _Show(self, stream.show_id)
        show.refs += 1
        try:
            # wait() rather than await: a joiner giving up must not abort the others'
            # shared start, and a start cancelled by close() must read as HubClosed.
            await asyncio.wait([show.started])
            if show.started.cancelled() or self._closed:
                raise HubClosed("server shutting down")
            error = show.started.exception()
            if isinstance(error, BusClosed):
                raise HubClosed("event bus closed") from error
            if error is not None:
                raise error
            show.streams.add(stream)  # receives live deltas from here on
            if since_version is not None:
                # After the upstream subscription is live, so every later commit is
                # either in this read or arrives as a live delta (duplicates are fine).
                snapshot = await self._load_since(stream.show_id, since_version)
                # Also the baseline of a later resync, so it need not start from 0.
                show.max_version = max(show.max_version, snapshot.version)
                stream.put_replay(snapshot)
        except BaseException:
            await self._leave(show, stream)
            raise
        return show

    async def _leave(self, show: _Show, stream: SeatStream) -> None:
        show.streams.discard(stream)
        show.refs -= 1
        if show.refs > 0:
            return
        if self._shows.get(show.show_id) is show:
            del self._shows[show.show_id]
        # Shielded: a cancelled client must not leave the upstream subscription behind.
        await asyncio.shield(show.stop())

    def _lost(self, show: _Show, error: SeatStreamClosed) -> None:
        """The show's bus subscription ended under it: end its subscribers."""
        if self._shows.get(show.show_id) is show:
            del self._shows[show.show_id]
        show.fail_all(error)


class SeatSubscription:
    """One client's live seat deltas: async context manager, then async iterator."""

    def __init__(self, hub: SeatHub, show_id: str, since_version: int | None,
                 deliver: Deliver | None = None) -> None:
        self._hub = hub
        self._since = since_version
        self._stream = SeatStream(show_id, hub._queue_limit, hub._max_pending_seats, deliver)
        self._show: _Show | None = None

    async def __aenter__(self) -> SeatSubscription:
        self._show = await self._hub._join(self._stream, self._since)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        show, self._show = self._show, None
        if show is not None:
            await self._hub._leave(show, self._stream)

    def __aiter__(self) -> SeatSubscription:
        return self

    async def __anext__(self) -> SeatDelta:
        return await self._stream.next()

    @property
    def stream(self) -> SeatStream:
        return self._stream


class _Show:
    """Shared state of one show: its bus subscription, pending window, subscribers."""

    def __init__(self, hub: SeatHub, show_id: str) -> None:
        self.hub = hub
        self.show_id = show_id
        self.refs = 0  # joiners, including ones still starting
        self.streams: set[SeatStream] = set()
        self.bus_sub: Subscription | None = None
        # Newest change per seat and touched sections since the last flush.
        self.pending_seats: dict[str, SeatChange] = {}
        self.pending_sections: set[str] = set()
        # A read of section counts in flight, the sections it reads, and counts read but not yet sent.
        self.counting: asyncio.Future[Sequence[SectionCount]] | None = None
        self.counting_ids: set[str] = set()
        self.counted: dict[str, SectionCount] = {}
        # Last version handed out per seat: a late, older message never undoes a newer one.
        self.sent_versions: dict[str, int] = {}
        self.max_version = 0  # highest version received or loaded for the show
        # Committed version read one window ago: changes up to it were committed (and published
        # right after) at least a window before this flush, so a client may resume from it.
        self.committed_before = 0
        self.committed_read_at: float | None = None
        self.resume_version = 0
        self.resync_since: int | None = None  # set when notifications may have been lost
        self.dirty = asyncio.Event()
        self.pump: asyncio.Task[None] | None = None
        self.flusher: asyncio.Task[None] | None = None
        self.started = asyncio.create_task(self._start(), name=f"seat-hub-start-{show_id}")

    async def _start(self) -> None:
        sub = self.hub._bus.subscribe(seat_channel(self.show_id))
        await sub.__aenter__()
        self.bus_sub = sub
        self.pump = asyncio.create_task(self._pump(sub), name=f"seat-hub-pump-{self.show_id}")
        self.flusher = asyncio.create_task(self._flush_loop(), name=f"seat-hub-flush-{self.show_id}")

    async def stop(self) -> None:
        tasks = [t for t in (self.started, self.pump, self.flusher, self.counting) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # also retrieves a failed count's error
        if self.bus_sub is not None:
            await self.bus_sub.aclose()

    def fail_all(self, error: SeatStreamClosed) -> None:
        for stream in list(self.streams):
            stream.fail(error)

    # -- receiving -----------------------------------------------------------------

    async def _pump(self, sub: Subscription) -> None:
        async for item in sub:
            if isinstance(item, BusResumed):
                log.info("seat hub: resync show %s after bus %s", self.show_id, item.reason)
                self._request_resync()
                continue
            try:
                show_id, changes = decode_seat_event(item)
            except ValueError as exc:
                log.warning("seat hub: malformed seat event on show %s (%s); resyncing", self.show_id, exc)
                self._request_resync()
                continue
            if show_id != self.show_id:
                log.warning("seat hub: event for show %s on channel of show %s ignored", show_id, self.show_id)
                continue
            for change in changes:
                self.max_version = max(self.max_version, change.version)
                self.pending_sections.add(change.section_id)
                if change.ga:
                    continue  # GA units are not on the map; only their section count moves
                current = self.pending_seats.get(change.seat_id)
                # Messages may arrive out of commit order: the version decides.
                if current is None or change.version > current.version:
                    self.pending_seats[change.seat_id] = SeatChange(change.seat_id, change.status, change.version)
            if changes:
                self.dirty.set()
        # The bus ended this subscription: it was disconnected.
        self.hub._lost(self, HubClosed("event bus closed"))

    def _request_resync(self) -> None:
        since = self.max_version
        self.resync_since = since if self.resync_since is None else min(self.resync_since, since)
        self.dirty.set()

    # -- sending -------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        retry = self.hub._window
        while True:
            await self.dirty.wait()
            # Trailing window: gather everything for window_ms, then one delta.
            await asyncio.sleep(self.hub._window)
            self.dirty.clear()
            if await self._flush():
                retry = self.hub._window
            else:
                # Database trouble: back off instead of hammering it every window.
                await asyncio.sleep(retry)
                retry = min(retry * 2, _RETRY_MAX)

    async def _flush(self) -> bool:
        """Send this window's delta; False if a load failed (the work is kept for retry)."""
        seats, self.pending_seats = self.pending_seats, {}
        sections, self.pending_sections = self.pending_sections, set()
        resync_since, self.resync_since = self.resync_since, None
        # Versions received up to now are all in this or earlier deltas.
        version = self.max_version
        loaded: tuple[SectionCount, ...] = ()
        ok = True
        if resync_since is not None:
            if self.counting is not None:  # an older count must not land after the snapshot's
                await asyncio.wait([self.counting])
                ok = self._collect_counts()
            try:
                snapshot = await self.hub._load_since(self.show_id, resync_since)
            except Exception:
                log.exception("seat hub: resync of show %s failed; will retry", self.show_id)
                self._restore(sections, resync_since)
                ok = False
            else:
                # The snapshot has every section, so touched sections are covered.
                version = max(version, snapshot.version)
                self.max_version = max(self.max_version, snapshot.version)
                loaded, self.counted = snapshot.sections, {}
                for seat in snapshot.seats:
                    current = seats.get(seat.seat_id)
                    if current is None or seat.version > current.version:
                        seats[seat.seat_id] = seat
        else:
            ok = await self._count_sections(sections)
            loaded, self.counted = tuple(self.counted.values()), {}
        fresh = []
        for seat in seats.values():
            if seat.version > self.sent_versions.get(seat.seat_id, -1):
                self.sent_versions[seat.seat_id] = seat.version
                fresh.append(seat)
        if self.hub._load_version is not None and (fresh or loaded):
            # A version that comes from messages alone can run ahead of a slower commit with a
            # lower version; label the delta with one a client can safely resume from: the
            # committed version read at least a window ago (its changes have arrived by now).
            now = asyncio.get_running_loop().time()
            last = self.committed_read_at
            if last is None or now - last >= max(self.hub._barrier_interval, self.hub._window):
                try:
                    committed_now = await self.hub._load_version(self.show_id)
                except Exception:
                    log.exception("seat hub: reading the committed version of show %s failed", self.show_id)
                    committed_now = self.committed_before
                if last is not None:
                    self.resume_version = max(self.resume_version, min(version, self.committed_before))
                self.committed_before = committed_now
                self.committed_read_at = now
            version = self.resume_version
        if fresh or loaded:
            delta = SeatDelta(self.show_id, version, tuple(fresh), loaded)
            for stream in list(self.streams):
                stream.offer(delta)  # the same object for everyone; never blocks
        return ok

    async def _count_sections(self, sections: set[str]) -> bool:
        """Starts one read of the touched sections' counts (per show and window, however many
        subscribers) and waits for it only briefly: under a busy database the read takes longer
        than the window, and the seat changes must not wait for it. Sections touched while a read
        is in flight are read after it. False if a read failed (its sections are kept for retry)."""
        if sections and self.counting is None:
            self.counting = asyncio.ensure_future(self.hub._load_sections(self.show_id, sorted(sections)))
            self.counting_ids = sections
            self.counting.add_done_callback(lambda _: self.dirty.set())  # a late count goes out next window
        elif sections:
            self.pending_sections |= sections
        if self.counting is None:
            return True
        if not self.counting.done():
            await asyncio.wait([self.counting], timeout=self.hub._count_wait)
        return self._collect_counts()

    def _collect_counts(self) -> bool:
        task = self.counting
        if task is None or not task.done():
            return True
        self.counting = None
        try:
            counts = task.result()
        except Exception:
            log.exception("seat hub: loading section counts of show %s failed; will retry", self.show_id)
            self._restore(self.counting_ids, None)
            return False
        for count in counts:
            self.counted[count.section_id] = count
        return True

    def _restore(self, sections: set[str], resync_since: int | None) -> None:
        self.pending_sections |= sections
        if resync_since is not None:
            current = self.resync_since
            self.resync_since = resync_since if current is None else min(current, resync_since)
        self.dirty.set()
