"""Waiting room against real Redis and the in-process store, on simulated clocks."""

from __future__ import annotations

import asyncio
import math
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from boxoffice.booking.waiting_room.admission import AdmissionRejected, AdmissionRejectReason
from boxoffice.booking.waiting_room.promoter import (
    InProcessPromoterLease,
    Promoter,
    PromoterLease,
    RedisPromoterLease,
)
from boxoffice.booking.waiting_room.queue_store import InProcessQueueStore, QueueStore, WaitingRoomUnavailable
from boxoffice.booking.waiting_room.redis_queue_store import RedisQueueStore, make_redis_client
from boxoffice.booking.waiting_room.room import QueueStatus, ShowRoomSettings, WaitingRoom

SECRET = "test-secret-" + "x" * 32
ON_SALE = datetime(2030, 6, 1, 10, 0, tzinfo=UTC)


class SimClock:
    def __init__(self, start: datetime = ON_SALE) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Backend:
    """One shared queue; `room()` is another server process looking at it."""

    def __init__(self, kind: str, redis_url: str, ns: str) -> None:
        self.kind = kind
        self._redis_url = redis_url
        self.ns = ns
        self._clients: list[aioredis.Redis] = []
        self._memory_store = InProcessQueueStore()
        self._memory_lease = InProcessPromoterLease()

    def store(self) -> QueueStore:
        if self.kind == "memory":
            return self._memory_store
        client = make_redis_client(self._redis_url)
        self._clients.append(client)
        return RedisQueueStore(client, namespace=self.ns)

    def room(self, clock: SimClock) -> WaitingRoom:
        return WaitingRoom(self.store(), secret=SECRET, clock=clock)

    def lease(self) -> PromoterLease:
        if self.kind == "memory":
            return self._memory_lease
        client = make_redis_client(self._redis_url)
        self._clients.append(client)
        return RedisPromoterLease(client, key=f"{self.ns}:promoter-lease")

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest, redis_url: str, redis_ns: str) -> AsyncIterator[Backend]:
    b = Backend(request.param, redis_url, redis_ns)
    yield b
    await b.close()


def show() -> str:
    return str(uuid.uuid4())


async def position(room: WaitingRoom, ticket_id: str) -> int:
    ticket = await room.get_ticket(ticket_id)
    assert ticket is not None and ticket.position is not None
    return ticket.position


# ---------------------------------------------------------------- entering


async def test_same_user_gets_the_same_ticket_from_any_process(backend: Backend) -> None:
    clock = SimClock()
    a, b = backend.room(clock), backend.room(clock)
    s = show()
    first = await a.enter(s, "fan-1", clock(), ON_SALE)
    clock.advance(5)
    again = await b.enter(s, "fan-1", clock(), ON_SALE)
    assert again.ticket_id == first.ticket_id
    assert again.entered_at == first.entered_at
    assert await a.queue_length(s) == 1

    by_id = await b.get_ticket(first.ticket_id)
    by_user = await a.ticket_for_user(s, "fan-1")
    assert by_id is not None and by_user is not None
    assert by_id.ticket_id == by_user.ticket_id == first.ticket_id
    assert (by_id.show_id, by_id.user_id, by_id.status, by_id.position) == (s, "fan-1", QueueStatus.WAITING, 1)

    other_show = await a.enter(show(), "fan-1", clock(), ON_SALE)
    assert other_show.ticket_id != first.ticket_id
    assert await a.get_ticket(str(uuid.uuid4())) is None
    assert await a.ticket_for_user(s, "nobody") is None


async def test_concurrent_entries_of_one_user_make_one_ticket(backend: Backend) -> None:
    clock = SimClock()
    rooms = [backend.room(clock) for _ in range(4)]
    s = show()
    tickets = await asyncio.gather(*(rooms[i % 4].enter(s, "fan", clock(), ON_SALE) for i in range(20)))
    assert len({t.ticket_id for t in tickets}) == 1
    assert await rooms[0].queue_length(s) == 1


async def test_fifo_after_on_sale_with_exact_positions(backend: Backend) -> None:
    clock = SimClock(ON_SALE + timedelta(minutes=1))
    a, b = backend.room(clock), backend.room(clock)
    s = show()
    ids = []
    for i in range(20):
        room = a if i % 2 else b
        ids.append((await room.enter(s, f"fan-{i}", clock(), ON_SALE)).ticket_id)
        clock.advance(0.01)
    assert await a.queue_length(s) == 20
    for i, tid in enumerate(ids):
        t = await a.get_ticket(tid)
        assert t is not None and t.position == i + 1
        assert t.estimated_wait_seconds is None  # no admit rate known yet

    # 120/min: a fresh bucket admits one second's worth (2) at once.
    promotion = await a.promote(s, 120, 300, clock(), on_sale_at=ON_SALE)
    assert promotion.admitted == tuple(ids[:2]) and promotion.waiting == 18
    for i, tid in enumerate(ids[2:]):
        t = await b.get_ticket(tid)
        assert t is not None and t.status is QueueStatus.WAITING
        assert t.position == i + 1
        assert t.estimated_wait_seconds == math.ceil((i + 1) * 60 / 120)
    assert await b.queue_length(s) == 18


async def test_prequeue_is_shuffled_once_and_ahead_of_later_arrivals(backend: Backend) -> None:
    clock = SimClock(ON_SALE - timedelta(minutes=30))
    a, b = backend.room(clock), backend.room(clock)
    s = show()
    early = []
    for i in range(50):
        t = await (a if i % 2 else b).enter(s, f"early-{i}", clock(), ON_SALE)
        assert t.status is QueueStatus.WAITING and t.position is None  # not yet ordered
        early.append(t.ticket_id)
        clock.advance(10)

    clock.now = ON_SALE + timedelta(seconds=1)
    late = [(await a.enter(s, f"late-{i}", clock(), ON_SALE)).ticket_id for i in range(10)]
    # A process whose clock lags still thinks it is before on-sale: the
    # pre-queue is closed, so this fan queues FIFO instead of jumping ahead.
    lagging = await b.enter(s, "lagging", ON_SALE - timedelta(seconds=1), ON_SALE)
    assert lagging.position == 61

    seen_by_a = {tid: await position(a, tid) for tid in early + late}
    seen_by_b = {tid: await position(b, tid) for tid in early + late}
    assert seen_by_a == seen_by_b
    early_positions = [seen_by_a[tid] for tid in early]
    assert sorted(early_positions) == list(range(1, 51))
    assert early_positions != list(range(1, 51))  # not arrival order (odds 1/50!)
    assert [seen_by_a[tid] for tid in late] == list(range(51, 61))  # FIFO behind the pre-queue

    # Entering again changes nothing: the random place was decided once.
    again = await a.enter(s, "early-7", clock(), ON_SALE)
    assert again.position == seen_by_a[early[7]]

    # Admission follows that order.
    clock.advance(1)
    promotion = await b.promote(s, 600, 300, clock(), on_sale_at=ON_SALE)
    by_position = sorted(early, key=seen_by_a.__getitem__)
    assert promotion.admitted == tuple(by_position[:10])


async def test_nobody_is_admitted_before_on_sale(backend: Backend) -> None:
    clock = SimClock(ON_SALE - timedelta(minutes=5))
    room = backend.room(clock)
    s = show()
    for i in range(5):
        await room.enter(s, f"fan-{i}", clock(), ON_SALE)
    for _ in range(10):
        assert (await room.promote(s, 600, 300, clock(), on_sale_at=ON_SALE)).admitted == ()
        clock.advance(20)
    assert await room.queue_length(s) == 5
    clock.now = ON_SALE
    # The bucket banked nothing while closed: one second's worth (10) at most.
    assert len((await room.promote(s, 600, 300, clock(), on_sale_at=ON_SALE)).admitted) == 5
    # Paused (rate 0) admits nobody either.
    await room.enter(s, "late", clock(), ON_SALE)
    clock.advance(60)
    assert (await room.promote(s, 0, 300, clock(), on_sale_at=ON_SALE)).admitted == ()


async def test_admitted_ticket_carries_a_token_until_it_expires(backend: Backend) -> None:
    clock = SimClock(ON_SALE)
    room = backend.room(clock)
    s = show()
    entered = await room.enter(s, "fan", clock(), ON_SALE)
    promotion = await room.promote(s, 60, 120, clock(), on_sale_at=ON_SALE)
    assert promotion.admitted == (entered.ticket_id,)

    t = await room.get_ticket(entered.ticket_id)
    assert t is not None and t.status is QueueStatus.ADMITTED
    assert t.position is None and t.estimated_wait_seconds is None
    assert t.admission_expires_at == ON_SALE + timedelta(seconds=120)
    assert t.admission_token
    claims = room.verify_admission(t.admission_token, "fan", s, clock())
    assert (claims.user_id, claims.show_id, claims.ticket_id) == ("fan", s, entered.ticket_id)
    assert claims.expires_at == t.admission_expires_at
    # Looking it up again re-issues the very same token.
    assert (await room.ticket_for_user(s, "fan")).admission_token == t.admission_token  # type: ignore[union-attr]

    clock.advance(119.5)
    assert (await room.get_ticket(entered.ticket_id)).status is QueueStatus.ADMITTED  # type: ignore[union-attr]
    clock.advance(0.5)
    expired = await room.get_ticket(entered.ticket_id)
    assert expired is not None and expired.status is QueueStatus.EXPIRED
    assert expired.admission_token is None and expired.admission_expires_at == t.admission_expires_at
    with pytest.raises(AdmissionRejected) as rejected:
        room.verify_admission(t.admission_token, "fan", s, clock())
    assert rejected.value.reason is AdmissionRejectReason.EXPIRED
    # Entering again queues the fan again, with a new ticket, behind whoever is waiting already.
    await room.enter(s, "patient", clock(), ON_SALE)
    again = await room.enter(s, "fan", clock(), ON_SALE)
    assert again.status is QueueStatus.WAITING and again.ticket_id != entered.ticket_id
    assert again.position == 2 and await room.queue_length(s) == 2
    assert (await room.enter(s, "fan", clock(), ON_SALE)).ticket_id == again.ticket_id  # and keeps that one
    assert (await room.get_ticket(entered.ticket_id)).status is QueueStatus.EXPIRED  # type: ignore[union-attr]
    clock.advance(1)
    assert (await room.promote(s, 60, 120, clock(), on_sale_at=ON_SALE)).admitted == (
        (await room.ticket_for_user(s, "patient")).ticket_id,)  # type: ignore[union-attr]


async def test_redis_keys_expire_and_a_lapsed_ticket_starts_afresh(redis_client: aioredis.Redis, redis_ns: str) -> None:
    clock = SimClock(ON_SALE)
    room = WaitingRoom(RedisQueueStore(redis_client, namespace=redis_ns, retention_ms=60_000), secret=SECRET, clock=clock)
    s = show()
    old = await room.enter(s, "fan", clock(), ON_SALE)
    await room.enter(s, "other", clock(), ON_SALE)
    for key in (f"{redis_ns}:{{{s}}}:users", f"{redis_ns}:{{{s}}}:queue", f"{redis_ns}:ticket:{old.ticket_id}"):
        assert 0 < await redis_client.pttl(key) <= 60_000
    await redis_client.delete(f"{redis_ns}:ticket:{old.ticket_id}")  # as if its retention ran out
    fresh = await room.enter(s, "fan", clock(), ON_SALE)
    assert fresh.ticket_id != old.ticket_id and fresh.position == 2
    assert await room.queue_length(s) == 2


# ---------------------------------------------------------------- promotion


def assert_within_rate(timeline: list[tuple[float, int]], per_minute: int) -> None:
    burst = max(1, per_minute // 60)  # the bucket banks at most one second
    for elapsed, admitted in timeline:
        assert admitted <= burst + per_minute * elapsed / 60, (elapsed, admitted)


async def test_several_promoters_elect_one_and_never_exceed_the_rate(backend: Backend) -> None:
    clock = SimClock(ON_SALE)
    s = show()
    entrance = backend.room(clock)
    for i in range(200):
        await entrance.enter(s, f"fan-{i}", clock(), ON_SALE)
    moved: list[tuple[str, str]] = []

    def promoter(name: str) -> Promoter:
        async def on_moved(show_id: str) -> None:
            moved.append((name, show_id))

        return Promoter(backend.room(clock), backend.lease(), on_moved=on_moved, interval_s=0.25, lease_ttl_s=30)

    promoters = [promoter(n) for n in ("p1", "p2", "p3")]
    settings = [ShowRoomSettings(s, admit_per_minute=120, admission_ttl_s=300, on_sale_at=ON_SALE)]

    async def list_shows() -> list[ShowRoomSettings]:
        return settings

    admitted = 0
    timeline = []
    rng = random.Random(7)
    for step in range(121):  # 30 s in 0.25 s steps
        rng.shuffle(promoters)
        results = await asyncio.gather(*(p.step(list_shows) for p in promoters))
        assert sum(p.is_leader for p in promoters) == 1
        admitted += sum(len(pr.admitted) for r in results for pr in r)
        timeline.append((step * 0.25, admitted))
        clock.advance(0.25)
    assert_within_rate(timeline, 120)
    assert admitted == 2 + 2 * 30  # the first second's batch, then exactly 2/s
    assert await entrance.queue_length(s) == 200 - admitted
    # Only the lease holder promoted, so only it notified.
    assert moved and len({name for name, _ in moved}) == 1 and all(sid == s for _, sid in moved)


async def test_rate_holds_without_the_lease_and_with_skewed_clocks(backend: Backend) -> None:
    """The lease is not what keeps the rate: the shared bucket is."""
    clock = SimClock(ON_SALE)
    s = show()
    rooms = [backend.room(clock) for _ in range(4)]
    for i in range(300):
        await rooms[i % 4].enter(s, f"fan-{i}", clock(), ON_SALE)
    skews = [0.0, -0.4, 0.3, -0.1]
    admitted, timeline = 0, []
    for step in range(100):
        promotions = await asyncio.gather(
            *(
                room.promote(s, 60, 300, clock() + timedelta(seconds=skew), on_sale_at=ON_SALE)
                for room, skew in zip(rooms, skews, strict=True)
            )
        )
        admitted += sum(len(p.admitted) for p in promotions)
        # The bucket only ever sees times within the spread of the clocks.
        timeline.append((step * 0.2 + max(skews) - min(skews), admitted))
        clock.advance(0.2)
    assert_within_rate(timeline, 60)
    assert admitted >= 19  # still admitting steadily: ~1/s over 20 s


async def test_lease_is_held_by_one_renewed_and_fails_over(redis_url: str, redis_ns: str) -> None:
    backend = Backend("redis", redis_url, redis_ns)
    try:
        clock = SimClock(ON_SALE)

        async def no_shows() -> list[ShowRoomSettings]:
            return []

        a, b, c = (Promoter(backend.room(clock), backend.lease(), interval_s=0.05, lease_ttl_s=0.3) for _ in range(3))
        lease = backend.lease()
        for p in (a, b, c):
            await p.step(no_shows)
        assert (a.is_leader, b.is_leader, c.is_leader) == (True, False, False)
        assert await lease.holder() == a.owner_id
        # Only the owner can release (or renew) it.
        assert not await lease.release(b.owner_id)
        assert not await lease.renew(b.owner_id, 10)
        assert await lease.holder() == a.owner_id

        for _ in range(4):  # renewals keep it past its TTL
            await asyncio.sleep(0.1)
            await a.step(no_shows)
            await b.step(no_shows)
        assert a.is_leader and not b.is_leader

        await asyncio.sleep(0.35)  # a stalls: no renewal, the lease lapses
        await b.step(no_shows)
        await a.step(no_shows)
        assert b.is_leader and not a.is_leader
        assert await lease.holder() == b.owner_id

        await b.resign()  # a clean stop hands over at once
        assert await lease.holder() is None
        await c.step(no_shows)
        assert c.is_leader
    finally:
        await backend.close()


async def test_in_process_lease_expires_on_its_clock() -> None:
    now = [0.0]
    lease = InProcessPromoterLease(clock=lambda: now[0])
    assert await lease.acquire("a", 5)
    assert not await lease.acquire("b", 5)
    now[0] = 4.0
    assert await lease.renew("a", 5)
    now[0] = 8.9
    assert not await lease.acquire("b", 5)
    now[0] = 9.0
    assert await lease.acquire("b", 5)
    assert not await lease.renew("a", 5) and not await lease.release("a")
    assert await lease.release("b") and await lease.holder() is None


class _RenewalTimesOutOnce(InProcessPromoterLease):
    """A renewal that reached the lease but whose answer was lost: the lease is still ours."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next_renew = False

    async def renew(self, owner: str, ttl_s: float) -> bool:
        if self.fail_next_renew:
            self.fail_next_renew = False
            await super().renew(owner, ttl_s)
            raise WaitingRoomUnavailable("promoter lease unreachable: timeout")
        return await super().renew(owner, ttl_s)


async def test_a_promoter_whose_renewal_timed_out_takes_its_own_lease_back_at_once() -> None:
    lease = _RenewalTimesOutOnce()
    room = WaitingRoom(InProcessQueueStore(), secret="s" * 32, clock=lambda: datetime.now(UTC))
    promoter = Promoter(room, lease, interval_s=0.05, lease_ttl_s=60)

    async def no_shows() -> list[ShowRoomSettings]:
        return []

    await promoter.step(no_shows)
    assert promoter.is_leader
    lease.fail_next_renew = True
    await promoter.step(no_shows)
    assert not promoter.is_leader  # it could not tell, so it stood by for one step
    await promoter.step(no_shows)
    # Not after the lease's 60 s: the lease still named it, so the next step renewed it.
    assert promoter.is_leader and await lease.holder() == promoter.owner_id


async def test_promoters_run_loops_admit_once_notify_and_release(redis_url: str, redis_ns: str) -> None:
    backend = Backend("redis", redis_url, redis_ns)
    try:
        def real_clock() -> datetime:
            return datetime.now(UTC)

        s = show()
        room = WaitingRoom(backend.store(), secret=SECRET, clock=real_clock)
        for i in range(100):
            await room.enter(s, f"fan-{i}")
        moved: list[str] = []

        def make(name: str) -> Promoter:
            async def on_moved(show_id: str) -> None:
                moved.append(name)

            store_room = WaitingRoom(backend.store(), secret=SECRET, clock=real_clock)
            return Promoter(store_room, backend.lease(), on_moved=on_moved, interval_s=0.05, lease_ttl_s=1.0)

        settings = [ShowRoomSettings(s, admit_per_minute=600, admission_ttl_s=60)]

        async def list_shows() -> list[ShowRoomSettings]:
            return settings

        stop = asyncio.Event()
        started = time.monotonic()
        tasks = [asyncio.create_task(make(n).run(list_shows, stop)) for n in ("p1", "p2")]
        await asyncio.sleep(0.6)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 2)
        elapsed = time.monotonic() - started

        admitted = 100 - await room.queue_length(s)
        assert 10 <= admitted <= 10 + 10 * elapsed + 1
        assert moved and len(set(moved)) == 1  # one process promoted and notified
        assert await backend.lease().holder() is None  # released on stop
    finally:
        await backend.close()


# ---------------------------------------------------------------- Redis down


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("client_kind", ["waiting-room client", "redis-py defaults"])
async def test_enter_fails_closed_fast_when_redis_is_down(client_kind: str) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    client = make_redis_client(url) if client_kind == "waiting-room client" else aioredis.Redis.from_url(url)
    clock = SimClock()
    room = WaitingRoom(RedisQueueStore(client, namespace="down", timeout_s=0.5), secret=SECRET, clock=clock)
    try:
        started = time.monotonic()
        with pytest.raises(WaitingRoomUnavailable):
            await room.enter(show(), "fan", clock(), ON_SALE)
        assert time.monotonic() - started < 1.0
        with pytest.raises(WaitingRoomUnavailable):
            await room.get_ticket("t")
        with pytest.raises(WaitingRoomUnavailable):
            await room.queue_length("s")

        # Admission tokens need no Redis.
        from boxoffice.booking.waiting_room.admission import issue_admission_token

        token = issue_admission_token(
            secret=SECRET,
            user_id="fan",
            show_id="s",
            ticket_id="t",
            issued_at=clock(),
            expires_at=clock() + timedelta(minutes=5),
        )
        assert room.verify_admission(token, "fan", "s", clock()).ticket_id == "t"

        # A promoter on a dead Redis stands by instead of crashing.
        promoter = Promoter(room, RedisPromoterLease(client, key="down:lease"), interval_s=0.1, lease_ttl_s=1)

        async def list_shows() -> list[ShowRoomSettings]:
            return [ShowRoomSettings("s", 60)]

        assert await promoter.step(list_shows) == [] and not promoter.is_leader
    finally:
        await client.aclose()


async def test_enter_fails_closed_when_redis_hangs() -> None:
    """A Redis that accepts connections but never answers must not hang a fan."""
    held: list[asyncio.StreamWriter] = []

    async def black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(black_hole, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0")  # 5 s timeouts, 10 retries by default
    room = WaitingRoom(RedisQueueStore(client, timeout_s=0.3), secret=SECRET, clock=SimClock())
    try:
        started = time.monotonic()
        with pytest.raises(WaitingRoomUnavailable):
            await room.enter(show(), "fan", ON_SALE, ON_SALE)
        assert time.monotonic() - started < 1.0
    finally:
        await client.aclose()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
