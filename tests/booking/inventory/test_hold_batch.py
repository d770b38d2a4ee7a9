"""Group commit of reserved-seat holds (booking/inventory/hold_batch.py, migration 0004) on real PostgreSQL:
each hold in a batch gets the outcome it would get alone, and batches never oversell or deadlock."""

import asyncio
import random
import uuid

import pytest
from sqlalchemy import text

from boxoffice.booking.audit import audit
from boxoffice.booking.catalog.browse import get_show
from boxoffice.booking.errors import (IdempotencyConflict, InvalidInput, LimitExceeded, NotOnSale,
                                      SeatsUnavailable)
from boxoffice.booking.inventory.hold_batch import HoldBatcher
from boxoffice.booking.inventory.holds import HoldRequest, hold_seats
from boxoffice.db import create_engine

from ..fixtures_db import bulk_users, make_show


@pytest.fixture
async def engine(database_url):
    engine = create_engine(database_url, pool_size=12, max_overflow=0)
    yield engine
    await engine.dispose()


async def _outcome(engine, batcher, fan, show, seats, key=None):
    # `show` is the show's settings read up front, as the server's show cache gives them: the holds
    # of one burst then reach the batcher in the same loop turn.
    try:
        hold, _ = await hold_seats(engine, fan, HoldRequest(show.id, seats, [], key or uuid.uuid4().hex),
                                   batcher=batcher, show=show)
        return hold
    except Exception as err:  # noqa: BLE001 - the outcome under test
        return err


async def _holders(engine, show_id) -> dict[str, uuid.UUID]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id::text, hold_id FROM show_seats WHERE show_id = :s "
                                        "AND status = 'H'"), {"s": show_id})).all()
    return {r[0]: r[1] for r in rows}


async def test_outcomes_in_one_batch_are_independent(engine) -> None:
    show, seats, _ = await make_show(engine, seats=20, ga=1, max_tickets=4)
    rec = await get_show(engine, show.id)
    other_show, other_seats, _ = await make_show(engine, seats=2, ga=1)
    fans = await bulk_users(engine, 7)
    batcher = HoldBatcher(engine, concurrency=1)
    # Before the batch: seat 0 taken, fan 3 at their limit, fan 4 with a hold under key "k4".
    await hold_seats(engine, fans[6], HoldRequest(show.id, [seats[0]], [], "pre-taken"))
    await hold_seats(engine, fans[3], HoldRequest(show.id, seats[10:14], [], "pre-limit"))
    earlier = (await hold_seats(engine, fans[4], HoldRequest(show.id, [seats[15]], [], "k4")))[0]
    before = batcher.batches
    results = await asyncio.gather(
        _outcome(engine, batcher, fans[0], rec, seats[1:3]),                 # ok
        _outcome(engine, batcher, fans[1], rec, [seats[0], seats[3]]),       # seat 0 is taken
        _outcome(engine, batcher, fans[2], rec, [seats[4], other_seats[0]]),  # not a seat of this show
        _outcome(engine, batcher, fans[3], rec, [seats[5]]),                 # over the limit
        _outcome(engine, batcher, fans[4], rec, [seats[15]], key="k4"),      # replay of an earlier hold
        _outcome(engine, batcher, fans[5], rec, seats[6:11]),                # 5 > 4 in one request
    )
    assert batcher.batches == before + 1  # all six in one statement
    ok, taken, invalid, limit, replay, too_many = results
    assert ok.seat_ids == tuple(int(s) for s in seats[1:3]) and ok.status == "active"
    assert isinstance(taken, SeatsUnavailable) and taken.seat_ids == [seats[0]]
    assert isinstance(invalid, InvalidInput)
    assert isinstance(limit, LimitExceeded)
    assert replay.id == earlier.id
    assert isinstance(too_many, LimitExceeded)
    held = await _holders(engine, show.id)
    # The failures left their seats alone; the success holds exactly its own.
    assert {s for s, h in held.items() if h == ok.id} == set(seats[1:3])
    assert not {seats[3], seats[4], seats[5], *seats[6:10]} & held.keys()
    assert (await audit(engine, show.id)).clean and (await audit(engine, other_show.id)).clean


async def test_replay_and_conflict_inside_one_burst(engine) -> None:
    show, seats, _ = await make_show(engine, seats=10, ga=1)
    rec = await get_show(engine, show.id)
    fan, = await bulk_users(engine, 1)
    batcher = HoldBatcher(engine, concurrency=1)
    same = await asyncio.gather(*(_outcome(engine, batcher, fan, rec, seats[:2], key="twice") for _ in range(3)))
    assert all(not isinstance(h, Exception) for h in same) and len({h.id for h in same}) == 1
    clash = await _outcome(engine, batcher, fan, rec, seats[2:3], key="twice")
    assert isinstance(clash, IdempotencyConflict)
    assert set((await _holders(engine, show.id))) == set(seats[:2])


async def test_per_user_limit_is_exact_across_batched_holds(engine) -> None:
    show, seats, _ = await make_show(engine, seats=20, ga=1, max_tickets=4)
    rec = await get_show(engine, show.id)
    fan, = await bulk_users(engine, 1)
    batcher = HoldBatcher(engine, concurrency=2)
    results = await asyncio.gather(*(_outcome(engine, batcher, fan, rec, seats[2 * i:2 * i + 2])
                                     for i in range(6)))
    won = [r for r in results if not isinstance(r, Exception)]
    assert len(won) == 2 and all(isinstance(r, LimitExceeded) for r in results if r not in won)
    assert sum(h.ticket_count for h in won) == 4 == len(await _holders(engine, show.id))


async def test_two_holds_for_one_seat_in_a_burst(engine) -> None:
    show, seats, _ = await make_show(engine, seats=4, ga=1)
    rec = await get_show(engine, show.id)
    fans = await bulk_users(engine, 2)
    batcher = HoldBatcher(engine, concurrency=1)
    a, b = await asyncio.gather(_outcome(engine, batcher, fans[0], rec, seats[:2]),
                                _outcome(engine, batcher, fans[1], rec, seats[1:3]))
    assert not isinstance(a, Exception)
    assert isinstance(b, SeatsUnavailable) and b.seat_ids == [seats[1]]
    assert (await _holders(engine, show.id)) == {seats[0]: a.id, seats[1]: a.id}


async def test_a_refusal_is_still_an_idempotent_replay(engine) -> None:
    show, seats, _ = await make_show(engine, seats=4, ga=1, max_tickets=2)
    rec = await get_show(engine, show.id)
    fan, = await bulk_users(engine, 1)
    batcher = HoldBatcher(engine, concurrency=1)
    first = await _outcome(engine, batcher, fan, rec, seats[:1], key="r")
    async with engine.begin() as conn:  # the show stops selling
        await conn.execute(text("UPDATE shows SET starts_at = now() - interval '1 minute' WHERE id = :s"),
                           {"s": show.id})
    rec = await get_show(engine, show.id)
    again, new = await asyncio.gather(_outcome(engine, batcher, fan, rec, seats[:1], key="r"),
                                      _outcome(engine, batcher, fan, rec, seats[1:2], key="s"))
    assert again.id == first.id
    assert isinstance(new, NotOnSale)


async def test_overlapping_batches_of_two_processes_never_oversell(database_url) -> None:
    # Two batchers on two engines stand for two server processes; hot seats overlap across batches.
    engines = [create_engine(database_url, pool_size=6, max_overflow=0) for _ in range(2)]
    try:
        show, seats, _ = await make_show(engines[0], seats=30, ga=1, max_tickets=100)
        rec = await get_show(engines[0], show.id)
        fans = await bulk_users(engines[0], 300)
        batchers = [HoldBatcher(e, max_batch=16, concurrency=3) for e in engines]
        rng = random.Random(5)
        asks = [(fan, rng.sample(seats, rng.randint(1, 4))) for fan in fans]
        results = await asyncio.gather(*(_outcome(engines[i % 2], batchers[i % 2], fan, rec, wanted)
                                         for i, (fan, wanted) in enumerate(asks)))
        assert all(not isinstance(r, Exception) or isinstance(r, SeatsUnavailable) for r in results), \
            {type(r).__name__ for r in results}
        owned: dict[str, uuid.UUID] = {}
        for (_, wanted), r in zip(asks, results):
            if isinstance(r, SeatsUnavailable):
                assert r.seat_ids and set(r.seat_ids) <= set(wanted)
                continue
            for seat in wanted:
                assert seat not in owned, "a seat was held twice"
                owned[seat] = r.id
        assert await _holders(engines[0], show.id) == owned
        assert sum(b.holds for b in batchers) == 300 and sum(b.batches for b in batchers) < 300
        assert (await audit(engines[0], show.id)).clean
    finally:
        for e in engines:
            await e.dispose()


async def test_a_seat_id_postgresql_cannot_store_fails_alone(engine) -> None:
    show, seats, _ = await make_show(engine, seats=4, ga=1)
    rec = await get_show(engine, show.id)
    fans = await bulk_users(engine, 2)
    batcher = HoldBatcher(engine, concurrency=1)
    huge = str(2**63)
    alone = await _outcome(engine, None, fans[1], rec, [huge])
    bad, good = await asyncio.gather(_outcome(engine, batcher, fans[1], rec, [huge]),
                                     _outcome(engine, batcher, fans[0], rec, seats[:1]))
    assert type(bad) is type(alone)  # what the one-statement path does with it, unchanged
    assert not isinstance(good, Exception) and good.seat_ids == (int(seats[0]),)



async def test_a_cancelled_caller_leaves_its_batch_mates_alone(engine) -> None:
    show, seats, _ = await make_show(engine, seats=6, ga=1)
    rec = await get_show(engine, show.id)
    fans = await bulk_users(engine, 3)
    batcher = HoldBatcher(engine, concurrency=1)
    tasks = [asyncio.ensure_future(_outcome(engine, batcher, fans[i], rec, [seats[i]])) for i in range(3)]
    await asyncio.sleep(0)  # all three are waiting in the batcher, not yet sent
    tasks[1].cancel()
    first, third = await tasks[0], await tasks[2]
    assert tasks[1].cancelled()
    assert not isinstance(first, Exception) and not isinstance(third, Exception)
    assert set(await _holders(engine, show.id)) == {seats[0], seats[2]}  # the cancelled one was never sent


async def test_a_batch_on_a_connection_the_server_ended_fails_once(database_url) -> None:
    """A backend ended under the pool (a failover, a restart): the batch sent on it fails as a whole,
    its connection leaves the pool, and the next batch holds as usual."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        show, seats, _ = await make_show(engine, seats=4, ga=1)
        rec = await get_show(engine, show.id)
        fans = await bulk_users(engine, 3)
        batcher = HoldBatcher(engine, concurrency=1)
        assert not isinstance(await _outcome(engine, batcher, fans[0], rec, seats[:1]), Exception)
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
        admin = create_engine(database_url, pool_size=1, max_overflow=0)
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        await admin.dispose()
        assert isinstance(await _outcome(engine, batcher, fans[1], rec, seats[1:2]), Exception)
        held = await _outcome(engine, batcher, fans[2], rec, seats[2:3])
        assert not isinstance(held, Exception), held
        assert (await audit(engine, show.id)).clean
    finally:
        await engine.dispose()
