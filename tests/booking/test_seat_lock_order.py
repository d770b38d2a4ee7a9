"""Every transaction that changes several seat rows locks them in primary-key order, so the hold
sweeper, payments and group-committed holds never deadlock on the same seats (real PostgreSQL)."""

import asyncio
import uuid

import pytest
from sqlalchemy import text

from boxoffice.booking.audit import audit
from boxoffice.booking.catalog import get_show
from boxoffice.booking.hold_batch import HoldBatcher
from boxoffice.booking.holds import HoldRequest, hold_seats, release_expired_holds
from boxoffice.db import create_engine

from .fixtures_db import bulk_users, make_show

SEATS = 100
ROUNDS = 6


@pytest.fixture
async def engine(database_url):
    engine = create_engine(database_url, pool_size=12, max_overflow=0)
    yield engine
    await engine.dispose()


async def _expire_backwards(engine, hold_ids: list[uuid.UUID]) -> None:
    """Lapses these holds, touching their seats from the highest id down, so that the seat rows lie
    on disk against key order: a statement that updates them in scan order meets them backwards."""
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = ANY(:h)"),
                           {"h": hold_ids})
        ids = (await conn.execute(text("SELECT id FROM show_seats WHERE hold_id = ANY(:h) ORDER BY id DESC"),
                                  {"h": hold_ids})).scalars().all()
        for seat_id in ids:
            await conn.execute(text("UPDATE show_seats SET hold_expires_at = now() - interval '1 second' "
                                    "WHERE id = :i"), {"i": seat_id})


async def test_the_sweeper_and_batched_holds_on_the_same_lapsed_seats_never_deadlock(engine) -> None:
    show, seats, _ = await make_show(engine, seats=SEATS, ga=1, max_tickets=SEATS)
    settings = await get_show(engine, show.id)
    owner, *fans = await bulk_users(engine, 1 + SEATS // 2)
    batcher = HoldBatcher(engine, max_batch=64, concurrency=2)
    for _ in range(ROUNDS):
        # One big hold over every seat lapses; then the sweeper frees it while fans claim the same
        # seats two by two, in batches that lock ascending.
        await release_expired_holds(engine)
        first, _ = await hold_seats(engine, owner, HoldRequest(show.id, seats, [], uuid.uuid4().hex), show=settings)
        await _expire_backwards(engine, [first.id])

        async def claim(i: int) -> object:
            try:
                return (await hold_seats(engine, fans[i], HoldRequest(show.id, seats[2 * i:2 * i + 2], [],
                                                                       uuid.uuid4().hex),
                                         show=settings, batcher=batcher))[0]
            except Exception as err:  # noqa: BLE001 - the outcome under test
                return err

        results = await asyncio.gather(release_expired_holds(engine), *(claim(i) for i in range(len(fans))),
                                       return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException) and type(r).__name__ != "SeatsUnavailable"]
        assert failures == [], failures
        async with engine.begin() as conn:  # this round's holds end, ready for the next
            await conn.execute(text("UPDATE holds SET expires_at = now() - interval '1 second' "
                                    "WHERE show_id = :s AND status = 'active'"), {"s": show.id})
            await conn.execute(text("UPDATE show_seats SET hold_expires_at = now() - interval '1 second' "
                                    "WHERE show_id = :s AND status = 'H'"), {"s": show.id})
    assert (await audit(engine, show.id)).clean
