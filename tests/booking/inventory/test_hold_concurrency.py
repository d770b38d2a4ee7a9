"""Flash contention on real PostgreSQL: hundreds of concurrent holds, never an oversell."""

import asyncio
import random
import uuid

from sqlalchemy import text

from boxoffice.booking.audit import audit
from boxoffice.booking.errors import SeatsUnavailable
from boxoffice.booking.inventory.holds import HoldRequest, hold_seats
from boxoffice.db import create_engine

from ..fixtures_db import bulk_users, make_show


async def test_hundreds_of_fans_fight_over_hot_seats(database_url) -> None:
    engine = create_engine(database_url, pool_size=24, max_overflow=0)  # many real connections at once
    try:
        show, seats, _ = await make_show(engine, seats=20, ga=10)
        fans = await bulk_users(engine, 400)
        rng = random.Random(7)
        requests = [(fan, rng.sample(seats, rng.randint(1, 3))) for fan in fans]

        async def attempt(fan, wanted):
            try:
                hold, _ = await hold_seats(engine, fan, HoldRequest(show.id, wanted, [], uuid.uuid4().hex))
                return ("won", fan, wanted, hold.id)
            except SeatsUnavailable as err:
                return ("lost", fan, wanted, err.seat_ids)

        results = await asyncio.gather(*(attempt(f, w) for f, w in requests))
        winners = [r for r in results if r[0] == "won"]
        losers = [r for r in results if r[0] == "lost"]
        assert winners and losers and len(winners) + len(losers) == 400
        owned: dict[str, uuid.UUID] = {}
        for _, _, wanted, hold_id in winners:
            for seat in wanted:
                assert seat not in owned, "a seat was held twice"
                owned[seat] = hold_id
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id::text, status, hold_id FROM show_seats WHERE show_id = :s "
                                            "AND position IS NOT NULL"), {"s": show.id})).all()
        db = {r[0]: (r[1], r[2]) for r in rows}
        # Every success is true: the database gives each winner exactly the seats it was told it has.
        assert {s: h for s, (st, h) in db.items() if st == "H"} == owned
        for _, _, wanted, named in losers:
            # Every SeatsUnavailable is true: it names only requested seats, and each is really someone else's.
            assert named and set(named) <= set(wanted)
            assert all(s in owned for s in named)
        assert (await audit(engine, show.id)).clean
    finally:
        await engine.dispose()


async def test_ga_flash_sale_never_oversells(database_url) -> None:
    engine = create_engine(database_url, pool_size=24, max_overflow=0)
    try:
        show, _, floor = await make_show(engine, seats=1, ga=150)
        fans = await bulk_users(engine, 300)
        rng = random.Random(11)
        asks = [(fan, rng.randint(1, 4)) for fan in fans]

        async def attempt(fan, quantity):
            try:
                await hold_seats(engine, fan, HoldRequest(show.id, [], [(floor, quantity)], uuid.uuid4().hex))
                return quantity, True
            except SeatsUnavailable:
                return quantity, False

        results = await asyncio.gather(*(attempt(f, q) for f, q in asks))
        sold = sum(q for q, ok in results if ok)
        async with engine.connect() as conn:
            held = (await conn.execute(text("SELECT count(*) FROM show_seats WHERE show_id = :s AND position IS NULL "
                                            "AND status = 'H'"), {"s": show.id})).scalar()
        assert held == sold <= 150
        left = 150 - sold
        # Every "not enough places" was true when it was said, and stays true (nothing is released here).
        assert all(q > left for q, ok in results if not ok)
        assert left < 4  # 300 fans asking for ~750 places sell the floor out
        assert (await audit(engine, show.id)).clean
    finally:
        await engine.dispose()


async def test_overlapping_multi_seat_holds_never_deadlock(database_url) -> None:
    engine = create_engine(database_url, pool_size=24, max_overflow=0)
    try:
        show, seats, _ = await make_show(engine, seats=6, ga=1)
        fans = await bulk_users(engine, 200)
        rng = random.Random(3)
        # Same seats asked for in opposite orders: locks are taken in key order, so no deadlock errors.
        orders = [list(reversed(seats)) if i % 2 else list(seats) for i in range(200)]
        for o in orders:
            rng.shuffle(o)

        async def attempt(fan, wanted):
            try:
                await hold_seats(engine, fan, HoldRequest(show.id, wanted[:4], [], uuid.uuid4().hex))
                return True
            except SeatsUnavailable:
                return False

        outcomes = await asyncio.gather(*(attempt(f, o) for f, o in zip(fans, orders)))
        assert sum(outcomes) == 1  # 6 seats, 4 per hold: one winner, and the 2 seats left fit nobody
        assert (await audit(engine, show.id)).clean
    finally:
        await engine.dispose()
