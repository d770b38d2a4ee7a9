"""Seat-map reads: one geometry load per venue however many first readers arrive at once, and a
committed version that waits for the changes still in flight."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from boxoffice.booking.inventory import seatmap
from booking.fixtures_db import make_show


async def test_concurrent_first_readers_of_a_venue_share_one_load(engine, monkeypatch) -> None:
    show, seats, _ = await make_show(engine, seats=6, ga=1)
    gate, loads = asyncio.Event(), 0
    real = seatmap._load_geometry

    async def slow_load(*args):
        nonlocal loads
        loads += 1
        await gate.wait()
        return await real(*args)

    monkeypatch.setattr(seatmap, "_load_geometry", slow_load)
    cache = seatmap.GeometryCache()
    readers = [asyncio.create_task(cache.for_venue(engine, show.venue_id)) for _ in range(20)]
    while loads == 0:  # the load has started
        await asyncio.sleep(0)
    readers[0].cancel()  # the client that started the load went away
    gate.set()
    results = await asyncio.gather(*readers[1:])
    assert loads == 1
    assert all(r is results[0] for r in results) and len(results[0]) == 6
    assert await cache.for_venue(engine, show.venue_id) is results[0]  # cached from then on
    assert loads == 1


async def test_the_committed_version_waits_for_a_change_still_in_flight(engine) -> None:
    show, seats, _ = await make_show(engine, seats=2, ga=1)
    async with engine.connect() as writer:
        transaction = await writer.begin()
        await seatmap.lock_show_for_change(writer, show.id)
        drawn = (await writer.execute(text("SELECT nextval(CAST(:seq AS regclass))"),
                                      {"seq": show.version_sequence})).scalar_one()
        reading = asyncio.create_task(seatmap.committed_version(engine, show.id, show.version_sequence))
        async with engine.connect() as probe:
            while not (await probe.execute(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))).scalar_one():
                await asyncio.sleep(0.01)  # until the barrier is queued behind the writer
        assert not reading.done()
        await transaction.commit()
    assert (await reading).version >= drawn
