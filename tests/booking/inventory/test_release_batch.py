"""Group commit of releases (booking/inventory/release_batch.py, migration 0017) on real PostgreSQL:
each release in a batch gets the outcome it would get alone, and its seats go back on sale."""

import asyncio
import uuid

import pytest
from sqlalchemy import text

from boxoffice.booking.audit import audit
from boxoffice.booking.errors import NotFound
from boxoffice.booking.inventory.hold_release import release_hold
from boxoffice.booking.inventory.holds import HoldRequest, hold_seats
from boxoffice.booking.inventory.release_batch import ReleaseBatcher
from boxoffice.db import create_engine

from ..fixtures_db import bulk_users, make_show


@pytest.fixture
async def engine(database_url):
    engine = create_engine(database_url, pool_size=12, max_overflow=0)
    yield engine
    await engine.dispose()


async def _outcome(engine, batcher, fan, hold_id):
    try:
        return await release_hold(engine, fan, hold_id, batcher)
    except Exception as err:  # noqa: BLE001 - the outcome under test
        return err


async def _available(engine, show_id) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM show_seats WHERE show_id = :s AND status = 'A'"),
                                   {"s": show_id})).scalar_one()


async def test_releases_in_one_batch_each_get_their_own_outcome(engine) -> None:
    show, seats, _ = await make_show(engine, seats=20, ga=1, max_tickets=4)
    fans = await bulk_users(engine, 6)
    holds = [(await hold_seats(engine, fans[i], HoldRequest(show.id, seats[2 * i:2 * i + 2], [], f"k{i}")))[0]
             for i in range(5)]
    batcher = ReleaseBatcher(engine, concurrency=1)
    results = await asyncio.gather(
        _outcome(engine, batcher, fans[0], holds[0].id),   # released
        _outcome(engine, batcher, fans[1], holds[1].id),   # released
        _outcome(engine, batcher, fans[5], holds[2].id),   # not this fan's hold
        _outcome(engine, batcher, fans[3], uuid.uuid4()),  # no such hold
        _outcome(engine, batcher, fans[4], holds[4].id),   # released, then again in the same turn:
        _outcome(engine, batcher, fans[4], holds[4].id),   # the second sees the first's outcome
    )
    assert batcher.batches == 2 and batcher.releases == 6  # the repeat waited for the next batch
    first, second, stranger, missing, once, again = results
    for (record, changes), hold in ((first, holds[0]), (second, holds[1]), (once, holds[4])):
        assert record.id == hold.id and record.status == "released"
        assert sorted(c.seat_id for c in changes.by_show[show.id]) == sorted(hold.seat_ids)
    assert isinstance(stranger, NotFound) and isinstance(missing, NotFound)
    record, changes = again
    assert record.status == "released" and not changes.by_show  # nothing left to free
    assert await _available(engine, show.id) == 20 + 1 - 2 * 2  # the 20 seats and a GA place; holds 2, 3 stay
    assert (await audit(engine, show.id)).clean


async def test_a_sale_of_concurrent_releases_shares_statements(engine) -> None:
    show, seats, _ = await make_show(engine, seats=120, ga=1, max_tickets=4)
    fans = await bulk_users(engine, 60)
    holds = await asyncio.gather(*(hold_seats(engine, fans[i], HoldRequest(show.id, seats[2 * i:2 * i + 2], [],
                                                                           f"k{i}")) for i in range(60)))
    batcher = ReleaseBatcher(engine, max_batch=16, concurrency=2)
    released = await asyncio.gather(*(release_hold(engine, fans[i], holds[i][0].id, batcher) for i in range(60)))
    assert all(record.status == "released" for record, _ in released)
    assert batcher.releases == 60 and batcher.batches < 60
    assert await _available(engine, show.id) == 120 + 1  # and the GA place
    assert (await audit(engine, show.id)).clean
