"""Seat boards: served from memory, patched by this process's changes, and still resume-safe:
a client that takes a snapshot and then follows seatChanges(sinceVersion: snapshot.version)
converges to the truth."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest
from sqlalchemy import text

from boxoffice.booking.inventory import availability_cache
from boxoffice.booking.inventory import hold_release
from boxoffice.booking.inventory import holds
from boxoffice.booking.inventory.availability_cache import AvailabilityCache
from boxoffice.booking.errors import SeatsUnavailable
from boxoffice.booking.records import SeatChange
from boxoffice.booking.inventory.seatmap import section_counts
from booking.fixtures_db import bulk_users, make_show

NEVER = 3600.0  # an age no test reaches: only what the test does changes the board


def _cache(engine, *, update_each_read: bool = False, full: bool = False) -> AvailabilityCache:
    """update_each_read: every read waits for an update started after it (the other process's
    changes are then in); full: every update re-reads the whole map instead of the changes."""
    return AvailabilityCache(engine, max_age_s=NEVER, wait_after_s=0.0 if update_each_read else NEVER,
                             full_every_s=0.0 if full else NEVER)


async def _hold(engine, viewer, show, seat_ids, ga=None):
    request = holds.HoldRequest(show_id=show.id, seat_ids=seat_ids, general_admission=ga or [],
                                idempotency_key=uuid.uuid4().hex)
    return await holds.hold_seats(engine, viewer, request)  # reads the show: `show` predates publishing


async def _truth(engine, show_id):
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT id, status, version FROM show_seats WHERE show_id = :s AND position IS NOT NULL "
            "ORDER BY position"), {"s": show_id})).all()
    return [(r.id, r.status, r.version) for r in rows]


async def test_local_changes_are_read_at_once_and_the_version_stays_resume_safe(engine) -> None:
    show, seats, _ = await make_show(engine, seats=10, ga=5)
    fan, = await bulk_users(engine, 1)
    cache = _cache(engine)
    before = await cache.get(show)
    assert before.codes == "A" * 10
    _, changes = await _hold(engine, fan, show, seats[:2])
    cache.apply(show.id, changes.by_show[show.id])
    after = await cache.get(show)
    assert after.codes == "HH" + "A" * 8
    # The board has not read past `before.version`: a client resuming from it gets these seats again.
    assert after.version == before.version
    assert [s.available for s in after.sections] == [8, 5]
    states = await cache.seats(show)
    assert [states.versions[p] for p in range(2)] == [c.version for c in changes.by_show[show.id]]


async def test_an_older_change_never_undoes_a_newer_one(engine) -> None:
    show, seats, _ = await make_show(engine, seats=3, ga=1)
    cache = _cache(engine)
    await cache.get(show)
    seat, section = int(seats[0]), uuid.uuid4()
    cache.apply(show.id, [SeatChange(seat, section, "S", 1_000_001, False)])
    cache.apply(show.id, [SeatChange(seat, section, "A", 1_000_000, False)])  # arrived late
    assert (await cache.get(show)).codes[0] == "S"
    assert (await cache.seats(show)).versions[0] == 1_000_001


async def test_a_general_admission_change_makes_the_next_reader_wait_for_the_counts(engine) -> None:
    show, _, floor = await make_show(engine, seats=2, ga=5)
    fan, = await bulk_users(engine, 1)
    cache = _cache(engine)
    assert [s.available for s in (await cache.get(show)).sections] == [2, 5]
    _, changes = await _hold(engine, fan, show, [], [(floor, 3)])
    cache.apply(show.id, changes.by_show[show.id])
    assert [s.available for s in (await cache.get(show)).sections] == [2, 2]


async def test_other_processes_changes_arrive_with_the_next_update(engine) -> None:
    show, seats, _ = await make_show(engine, seats=4, ga=1)
    fan, = await bulk_users(engine, 1)
    cache = _cache(engine, update_each_read=True)
    first = await cache.get(show)
    await _hold(engine, fan, show, seats[1:3])  # not applied: another process made it
    second = await cache.get(show)
    assert second.codes == "AHHA"
    assert second.version > first.version


async def test_a_local_change_committed_during_a_whole_map_read_is_kept(engine, monkeypatch) -> None:
    show, seats, _ = await make_show(engine, seats=4, ga=1)
    fan, = await bulk_users(engine, 1)
    cache = _cache(engine, update_each_read=True, full=True)
    await cache.get(show)
    real = availability_cache.read_statuses

    async def read_then_hold(*args):
        statuses = await real(*args)  # the map is read; then this process commits a hold
        _, changes = await _hold(engine, fan, show, seats[:1])
        cache.apply(show.id, changes.by_show[show.id])
        return statuses

    monkeypatch.setattr(availability_cache, "read_statuses", read_then_hold)
    assert (await cache.get(show)).codes == "HAAA"


@pytest.mark.parametrize("full", [False, True], ids=["changes-since", "whole-map"])
async def test_snapshots_taken_during_churn_converge_with_the_changes_after_their_version(engine, full) -> None:
    show, seats, _ = await make_show(engine, seats=40, ga=1, max_tickets=100)
    fans = await bulk_users(engine, 6)
    cache = _cache(engine, update_each_read=True, full=full)
    await cache.get(show)
    history: set[tuple[int, str, int]] = set()  # every (seat, status, version) that ever was
    snapshots = []
    stop = asyncio.Event()

    async def churn(i: int) -> None:
        rng, held = random.Random(i), []
        while not stop.is_set():
            if held and rng.random() < 0.45:
                _, changes = await hold_release.release_hold(engine, fans[i], held.pop(rng.randrange(len(held))))
            else:
                try:
                    hold, changes = await _hold(engine, fans[i], show, rng.sample(seats, 2))
                except SeatsUnavailable:
                    continue
                held.append(hold.id)
            for change in changes.by_show.get(show.id, []):
                history.add((change.seat_id, change.status, change.version))
            if i % 2 == 0:  # half the writers are this process, half another one
                cache.apply(show.id, changes.by_show.get(show.id, []))
            await asyncio.sleep(0)

    async def read() -> None:
        while not stop.is_set():
            snapshot = await cache.get(show)
            states = await cache.seats(show)
            snapshots.append((snapshot, states))
            await asyncio.sleep(0.01)

    writers = [asyncio.create_task(churn(i)) for i in range(len(fans))]
    reader = asyncio.create_task(read())
    while len(snapshots) < 30:
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.gather(*writers, reader)

    truth = await _truth(engine, show.id)
    assert len(history) > 20
    for snapshot, states in snapshots:
        for position, (seat_id, status, version) in enumerate(truth):
            # A seat last changed at or before the snapshot's version is as the snapshot says; the
            # others come again in seatChanges(sinceVersion: snapshot.version).
            if version <= snapshot.version:
                assert snapshot.codes[position] == status, (position, snapshot.version)
            # A seat's status and version are a pair that existed, never a mix of two changes.
            pair = (seat_id, chr(states.codes[position]), states.versions[position])
            assert pair in history or pair[1:] == ("A", 0), pair
    final = await cache.get(show)
    assert final.codes == "".join(status for _, status, _ in truth)
    async with engine.connect() as conn:
        counts = await section_counts(conn, show.id)
    assert [s.available for s in final.sections] == [c.available for c in counts]


async def test_concurrent_first_readers_share_one_load(engine, monkeypatch) -> None:
    show, _, _ = await make_show(engine, seats=5, ga=1)
    loads = 0
    real = availability_cache.load_seating

    async def counting(*args):
        nonlocal loads
        loads += 1
        return await real(*args)

    monkeypatch.setattr(availability_cache, "load_seating", counting)
    cache = _cache(engine)
    snapshots = await asyncio.gather(*(cache.get(show) for _ in range(20)))
    assert loads == 1
    assert len({id(s) for s in snapshots}) == 1
