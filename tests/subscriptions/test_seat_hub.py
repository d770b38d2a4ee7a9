"""SeatHub: coalescing, throttling, replay, slow consumers, Redis outages, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

from boxoffice.subscriptions.bus import EventBus
from boxoffice.subscriptions.seat_events import PublishedSeatChange, encode_seat_event, seat_channel
from boxoffice.subscriptions.seat_hub import (
    HubClosed,
    SeatChange,
    SeatDelta,
    SeatHub,
    SectionCount,
    SubscriberTooSlow,
)

from .helpers import FAST, RedisProcess, eventually, next_within, numsub, unique

WINDOW_MS = 40
QUIET = 3 * WINDOW_MS / 1000  # long enough for a stray delta to show up
SEC_A, SEC_B, SEC_GA = "sec-a", "sec-b", "sec-ga"


class FakeSeatDb:
    """Stands in for PostgreSQL: the authority the hub re-reads from.

    Seats carry versions from one per-show counter; ``commit`` updates state
    and then publishes, like the domain code does after COMMIT.
    """

    def __init__(self, bus: EventBus, show_id: str, seats: int = 8) -> None:
        self.bus, self.show_id = bus, show_id
        self.counter = 0
        # seat_id -> (section_id, status, version); seats 0-3 in A, 4-7 in B
        self.seats = {str(i): (SEC_A if i < 4 else SEC_B, "A", 0) for i in range(seats)}
        self.ga_sold = 0
        self.since_calls: list[int] = []
        self.section_calls: list[list[str]] = []
        self.fail_sections = 0  # make the next N load_sections calls fail

    def apply(self, changes: dict[str, str], ga: int = 0) -> list[PublishedSeatChange]:
        out = []
        for seat_id, status in changes.items():
            self.counter += 1
            section = self.seats[seat_id][0]
            self.seats[seat_id] = (section, status, self.counter)
            out.append(PublishedSeatChange(seat_id, section, status, self.counter))
        for _ in range(ga):
            self.counter += 1
            self.ga_sold += 1
            out.append(PublishedSeatChange(f"ga-{self.counter}", SEC_GA, "S", self.counter, ga=True))
        return out

    async def commit(self, changes: dict[str, str], ga: int = 0) -> list[PublishedSeatChange]:
        published = self.apply(changes, ga)
        await self.bus.publish(seat_channel(self.show_id), encode_seat_event(self.show_id, published))
        return published

    def counts(self, ids: list[str] | None = None) -> list[SectionCount]:
        result = []
        for sid in (SEC_A, SEC_B):
            seats = [s for s in self.seats.values() if s[0] == sid]
            result.append(SectionCount(sid, sid.upper(), False, len(seats), sum(s[1] == "A" for s in seats)))
        result.append(SectionCount(SEC_GA, "GA", True, 100, 100 - self.ga_sold))
        return [c for c in result if ids is None or c.section_id in ids]

    def snapshot(self, since: int) -> SeatDelta:
        seats = tuple(SeatChange(k, st, v) for k, (_, st, v) in self.seats.items() if v > since)
        return SeatDelta(self.show_id, self.counter, seats, tuple(self.counts()))

    async def load_since(self, show_id: str, since: int) -> SeatDelta:
        assert show_id == self.show_id
        self.since_calls.append(since)
        return self.snapshot(since)

    async def load_sections(self, show_id: str, ids: list[str]) -> list[SectionCount]:
        assert show_id == self.show_id
        self.section_calls.append(ids)
        if self.fail_sections:
            self.fail_sections -= 1
            raise RuntimeError("database unavailable")
        return self.counts(ids)


class ClientView:
    """What a browser does with deltas: take a seat only if its version is newer."""

    def __init__(self, initial: dict[str, tuple[str, str, int]] | None = None) -> None:
        self.seats = {k: (st, v) for k, (_, st, v) in (initial or {}).items()}
        self.sections: dict[str, int] = {}
        self.deltas = 0

    def apply(self, delta: SeatDelta) -> None:
        self.deltas += 1
        for seat in delta.seats:
            if seat.version > self.seats.get(seat.seat_id, ("", -1))[1]:
                self.seats[seat.seat_id] = (seat.status, seat.version)
        for section in delta.sections:
            self.sections[section.section_id] = section.available

    def matches(self, db: FakeSeatDb) -> bool:
        counts = {c.section_id: c.available for c in db.counts()}
        return self.seats == {k: (st, v) for k, (_, st, v) in db.seats.items()} and all(
            counts[sid] == available for sid, available in self.sections.items()
        )


def make_hub(bus: EventBus, db: FakeSeatDb, **kwargs: int) -> SeatHub:
    kwargs.setdefault("window_ms", WINDOW_MS)
    return SeatHub(bus, load_since=db.load_since, load_sections=db.load_sections, **kwargs)


@pytest.fixture
async def hub_env(memory_bus: EventBus) -> AsyncIterator[tuple[SeatHub, FakeSeatDb]]:
    db = FakeSeatDb(memory_bus, unique("show"))
    hub = make_hub(memory_bus, db)
    yield hub, db
    await hub.close()


async def assert_quiet(sub: AsyncIterator[SeatDelta]) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await next_within(sub, QUIET)


def raw_event(show_id: str, *changes: tuple[str, str, str, int, bool]) -> str:
    return encode_seat_event(show_id, [PublishedSeatChange(*c) for c in changes])


async def test_window_coalesces_into_one_shared_delta_newest_version_wins(
    hub_env: tuple[SeatHub, FakeSeatDb], memory_bus: EventBus
) -> None:
    hub, db = hub_env
    channel, show = seat_channel(db.show_id), db.show_id
    async with hub.subscribe(show) as a, hub.subscribe(show) as b:
        # Out of commit order, as concurrent transactions publish: v6 arrives after v7.
        for message in [
            raw_event(show, ("1", SEC_A, "H", 5, False)),
            raw_event(show, ("1", SEC_A, "S", 7, False), ("5", SEC_B, "H", 8, False)),
            raw_event(show, ("1", SEC_A, "A", 6, False)),
            raw_event(show, ("ga-9", SEC_GA, "S", 9, True)),
        ]:
            await memory_bus.publish(channel, message)
        delta_a, delta_b = await next_within(a), await next_within(b)
        assert delta_a is delta_b  # built once per show and window
        assert delta_a.version == 9
        assert set(delta_a.seats) == {SeatChange("1", "S", 7), SeatChange("5", "H", 8)}  # GA is not a seat
        assert db.section_calls == [[SEC_A, SEC_B, SEC_GA]]  # touched sections, one load
        assert {c.section_id for c in delta_a.sections} == {SEC_A, SEC_B, SEC_GA}
        await assert_quiet(a)  # empty windows send nothing

        # A late, older message in a later window never undoes what was sent.
        await memory_bus.publish(channel, raw_event(show, ("1", SEC_A, "H", 4, False)))
        delta = await next_within(a)
        assert delta.seats == () and delta.version == 9  # only the section count is refreshed


async def test_sections_loaded_once_per_window_whatever_the_subscriber_count(
    hub_env: tuple[SeatHub, FakeSeatDb], memory_bus: EventBus
) -> None:
    hub, db = hub_env
    subs = [hub.subscribe(db.show_id) for _ in range(10)]
    for sub in subs:
        await sub.__aenter__()
    assert memory_bus.local_subscribers(seat_channel(db.show_id)) == 1  # one bus subscription
    views = [ClientView(db.seats) for _ in subs]
    for window in range(3):
        await db.commit({str(window): "H", str(window + 4): "S"})
        deltas = [await next_within(sub) for sub in subs]
        assert all(d is deltas[0] for d in deltas)
        for view, delta in zip(views, deltas):
            view.apply(delta)
    assert len(db.section_calls) == 3
    assert all(view.matches(db) for view in views)
    for sub in subs:
        await sub.__aexit__(None, None, None)
    assert memory_bus.local_subscribers(seat_channel(db.show_id)) == 0
    assert hub.show_ids == []


async def test_throttles_to_one_delta_per_window(hub_env: tuple[SeatHub, FakeSeatDb]) -> None:
    hub, db = hub_env
    async with hub.subscribe(db.show_id) as sub:
        view = ClientView(db.seats)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i in range(30):  # 300 ms of changes, one every 10 ms
            await db.commit({str(i % 8): "HS"[i % 2]})
            await asyncio.sleep(0.01)
        elapsed = loop.time() - started
        while True:
            try:
                view.apply(await next_within(sub, QUIET))
            except asyncio.TimeoutError:
                break
        assert view.matches(db)
        assert 2 <= view.deltas <= elapsed / (WINDOW_MS / 1000) + 1


async def test_one_redis_subscription_per_show(
    redis_bus: EventBus, redis_client: aioredis.Redis
) -> None:
    db = FakeSeatDb(redis_bus, unique("show"))
    other = unique("show")
    hub = make_hub(redis_bus, db)
    try:
        async with hub.subscribe(db.show_id) as a, hub.subscribe(db.show_id), hub.subscribe(other):
            async with hub.subscribe(db.show_id, since_version=0):
                assert await numsub(redis_client, seat_channel(db.show_id)) == 1
                assert await numsub(redis_client, seat_channel(other)) == 1
                assert hub.subscriber_count(db.show_id) == 3
            await db.commit({"2": "S"})
            assert (await next_within(a)).seats == (SeatChange("2", "S", 1),)
        assert hub.show_ids == []
        await eventually(lambda: redis_bus.local_subscribers(seat_channel(db.show_id)) == 0)
    finally:
        await hub.close()


async def test_since_version_replay_then_live_without_gap(
    redis_bus: EventBus, redis_client: aioredis.Redis
) -> None:
    db = FakeSeatDb(redis_bus, unique("show"))
    db.apply({"0": "H", "1": "S", "4": "H"})
    client = ClientView(db.seats)  # the client's map is at version 3
    db.apply({"0": "S", "2": "H", "5": "B"})  # missed while disconnected: versions 4-6

    async def load_since_with_races(show_id: str, since: int) -> SeatDelta:
        # Read only once the subscriber gets live deltas and Redis has the subscription.
        assert hub.subscriber_count(show_id) == 1
        assert await numsub(redis_client, seat_channel(show_id)) == 1
        # Committed (and published) just before the read: arrives twice, harmless.
        await db.commit({"3": "H"})
        snapshot = await db.load_since(show_id, since)
        # Committed right after the read: only the live stream can deliver it.
        await db.commit({"6": "S", "3": "S"})
        return snapshot

    hub = SeatHub(redis_bus, load_since=load_since_with_races, load_sections=db.load_sections, window_ms=WINDOW_MS)
    try:
        async with hub.subscribe(db.show_id, since_version=3) as sub:
            first = await next_within(sub)
            assert db.since_calls == [3]
            assert {s.seat_id for s in first.seats} >= {"0", "2", "5", "3"}  # the replay comes first
            client.apply(first)
            await db.commit({"7": "H"})
            while not client.matches(db):
                client.apply(await next_within(sub))
            await assert_quiet(sub)
    finally:
        await hub.close()


async def test_slow_consumer_gets_merged_delta_and_fast_one_is_unaffected(memory_bus: EventBus) -> None:
    db = FakeSeatDb(memory_bus, unique("show"))
    hub = make_hub(memory_bus, db, window_ms=20, queue_limit=3)
    try:
        async with hub.subscribe(db.show_id) as fast, hub.subscribe(db.show_id) as slow:
            fast_view, slow_view = ClientView(db.seats), ClientView(db.seats)
            for i in range(10):
                await db.commit({str(i % 4): "HSAB"[i % 4], str(4 + i % 3): "S"})
                fast_view.apply(await next_within(fast))  # one delta per window, keeps up
            assert fast_view.deltas == 10 and fast_view.matches(db)

            assert slow.stream.pending <= 3 and slow.stream.collapses >= 1  # bounded, collapsed
            while slow.stream.pending:
                slow_view.apply(await next_within(slow))
            assert slow_view.deltas <= 3
            assert slow_view.matches(db)  # merged deltas lost nothing
    finally:
        await hub.close()


async def test_too_slow_subscriber_is_ended_with_reason(memory_bus: EventBus) -> None:
    db = FakeSeatDb(memory_bus, unique("show"))
    hub = make_hub(memory_bus, db, window_ms=20, queue_limit=1, max_pending_seats=2)
    try:
        async with hub.subscribe(db.show_id) as fast, hub.subscribe(db.show_id) as slow:
            for seat in ("0", "1", "2"):
                await db.commit({seat: "S"})
                await next_within(fast)
            with pytest.raises(SubscriberTooSlow, match="limit 2") as info:
                await next_within(slow)
            assert "3 seat changes pending" in info.value.reason
            await db.commit({"3": "S"})
            assert (await next_within(fast)).seats == (SeatChange("3", "S", 4),)
    finally:
        await hub.close()


async def test_resync_after_redis_restart_converges(redis_process: RedisProcess) -> None:
    async with EventBus(redis_process.url, settings=FAST) as bus:
        db = FakeSeatDb(bus, unique("show"))
        hub = make_hub(bus, db)
        try:
            async with hub.subscribe(db.show_id) as sub:
                view = ClientView(db.seats)
                await db.commit({"0": "H"})
                view.apply(await next_within(sub))
                assert db.since_calls == []

                redis_process.kill()
                await eventually(lambda: not bus.connected_upstream, what="outage noticed")
                await db.commit({"1": "S", "5": "S"}, ga=2)  # sales go on; notifications are lost
                assert bus.dropped_publishes == 1
                redis_process.start()

                view.apply(await next_within(sub, 5))  # the resync delta
                assert db.since_calls == [1]  # last version seen before the outage
                assert view.matches(db)

                await db.commit({"2": "H"})  # and live again
                view.apply(await next_within(sub))
                assert view.matches(db)
        finally:
            await hub.close()


async def test_malformed_event_triggers_resync(hub_env: tuple[SeatHub, FakeSeatDb], memory_bus: EventBus) -> None:
    hub, db = hub_env
    async with hub.subscribe(db.show_id) as sub:
        view = ClientView(db.seats)
        await db.commit({"0": "S"})
        view.apply(await next_within(sub))
        db.apply({"1": "H"})  # its notification gets mangled
        await memory_bus.publish(seat_channel(db.show_id), '{"showId": "x", "changes": [{"seatId": ')
        view.apply(await next_within(sub))
        assert db.since_calls == [1] and view.matches(db)


async def test_failed_section_load_is_retried(hub_env: tuple[SeatHub, FakeSeatDb]) -> None:
    hub, db = hub_env
    db.fail_sections = 1
    async with hub.subscribe(db.show_id) as sub:
        view = ClientView(db.seats)
        await db.commit({"0": "S"})
        first = await next_within(sub)
        assert first.seats and not first.sections  # seats are not held back
        view.apply(first)
        view.apply(await next_within(sub))
        assert view.matches(db) and len(db.section_calls) == 2


async def test_a_slow_section_count_does_not_hold_back_seats(memory_bus: EventBus) -> None:
    db = FakeSeatDb(memory_bus, unique("show"))
    counts_done = asyncio.Event()

    async def slow_sections(show_id: str, ids: list[str]) -> list[SectionCount]:
        await asyncio.sleep(3 * WINDOW_MS / 1000)  # a busy database: longer than the window
        counts_done.set()
        return await db.load_sections(show_id, ids)

    hub = SeatHub(memory_bus, load_since=db.load_since, load_sections=slow_sections, window_ms=WINDOW_MS)
    try:
        async with hub.subscribe(db.show_id) as sub:
            view = ClientView(db.seats)
            await db.commit({"0": "S"})
            first = await next_within(sub)
            assert first.seats and not first.sections and not counts_done.is_set()
            view.apply(first)
            later = await next_within(sub)  # the counts, read after the change, in the next delta
            assert {c.section_id for c in later.sections} == {SEC_A}
            view.apply(later)
            assert view.matches(db) and len(db.section_calls) == 1
    finally:
        await hub.close()


async def test_close_ends_every_subscriber_with_hub_closed(memory_bus: EventBus) -> None:
    db = FakeSeatDb(memory_bus, unique("show"))
    hub = make_hub(memory_bus, db)
    async with hub.subscribe(db.show_id) as a, hub.subscribe(unique("show")) as b:
        await hub.close()
        for sub in (a, b):
            with pytest.raises(HubClosed):
                await next_within(sub)
    assert memory_bus.local_subscribers(seat_channel(db.show_id)) == 0
    with pytest.raises(HubClosed):
        async with hub.subscribe(db.show_id):
            pass


async def test_bus_disconnect_ends_subscribers() -> None:
    bus = EventBus(None)
    await bus.connect()
    db = FakeSeatDb(bus, unique("show"))
    hub = make_hub(bus, db)
    async with hub.subscribe(db.show_id) as sub:
        await bus.disconnect()
        with pytest.raises(HubClosed, match="event bus closed"):
            await next_within(sub)
    await hub.close()


async def test_cancelled_subscriber_leaves_no_upstream_behind(
    hub_env: tuple[SeatHub, FakeSeatDb], memory_bus: EventBus
) -> None:
    hub, db = hub_env
    gate = asyncio.Event()

    async def slow_load_since(show_id: str, since: int) -> SeatDelta:
        await gate.wait()
        return db.snapshot(since)

    slow_hub = SeatHub(memory_bus, load_since=slow_load_since, load_sections=db.load_sections, window_ms=WINDOW_MS)

    async def client() -> None:
        async with slow_hub.subscribe(db.show_id, since_version=0) as sub:
            await anext(sub)

    task = asyncio.create_task(client())
    await eventually(lambda: memory_bus.local_subscribers(seat_channel(db.show_id)) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert slow_hub.show_ids == []
    assert memory_bus.local_subscribers(seat_channel(db.show_id)) == 0
    await slow_hub.close()


async def test_close_during_subscribe_raises_hub_closed(memory_bus: EventBus) -> None:
    db = FakeSeatDb(memory_bus, unique("show"))
    hub = make_hub(memory_bus, db)
    joining = asyncio.create_task(hub.subscribe(db.show_id).__aenter__())
    await asyncio.sleep(0)  # the joiner now waits for the shared start
    await hub.close()
    with pytest.raises(HubClosed):
        await joining
    assert memory_bus.local_subscribers(seat_channel(db.show_id)) == 0


async def test_committed_version_is_read_at_most_once_per_barrier_interval(memory_bus: EventBus) -> None:
    """The committed-version read stalls the show's writers, so a busy show pays it once per
    interval, not once per window; the delta versions stay safe to resume from."""
    db = FakeSeatDb(memory_bus, unique("show"))
    reads: list[int] = []

    async def load_version(show_id: str) -> int:
        reads.append(db.counter)
        return db.counter

    async def run(interval_s: float) -> list[SeatDelta]:
        reads.clear()
        hub = SeatHub(memory_bus, load_since=db.load_since, load_sections=db.load_sections,
                      load_version=load_version, window_ms=WINDOW_MS, barrier_interval_s=interval_s)
        deltas: list[SeatDelta] = []
        try:
            async with hub.subscribe(db.show_id) as sub:
                for i in range(6):
                    await db.commit({str(i % 8): "H" if i % 2 == 0 else "A"})
                    deltas.append(await next_within(sub))
        finally:
            await hub.close()
        return deltas

    slow = await run(interval_s=60.0)
    assert len(slow) == 6 and len(reads) == 1  # six windows, one barrier
    assert all(d.version == 0 for d in slow)  # nothing is known to be committed a window ago yet

    fast = await run(interval_s=0.0)  # at most once per window, as before
    assert len(reads) == 6
    # A delta's version never passes what was committed at the previous read.
    assert [d.version for d in fast] == [0, *reads[:-1]]
