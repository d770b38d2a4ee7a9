"""A fan's release of a hold (booking/inventory/hold_release.py, migration 0020_release_key_share) on real PostgreSQL."""

import asyncio
import uuid

import pytest
from sqlalchemy import text

from boxoffice.booking.audit import audit
from boxoffice.booking.inventory.hold_release import release_hold
from boxoffice.booking.inventory.holds import HoldRequest, hold_seats
from boxoffice.booking.inventory.release_batch import ReleaseBatcher
from boxoffice.db import create_engine
from support import wait_for_a_lock_wait

from ..fixtures_db import bulk_users, make_show


@pytest.fixture
async def engine(database_url):
    engine = create_engine(database_url, pool_size=6, max_overflow=0)
    yield engine
    await engine.dispose()


@pytest.mark.parametrize("batched", [False, True])
async def test_a_release_while_the_order_is_being_created_cancels_that_order(engine, batched: bool) -> None:
    show, seats, _ = await make_show(engine, seats=4, ga=1, max_tickets=4)
    (fan,) = await bulk_users(engine, 1)
    hold, _ = await hold_seats(engine, fan, HoldRequest(show.id, seats[:2], [], "hold-key"))
    order_id = uuid.uuid4()
    async with engine.connect() as creating:
        # createOrder half way: the hold locked and its order written, not yet committed...
        assert (await creating.execute(text("SELECT outcome FROM create_order_for_hold(:o, :u, :h, 'order-key')"),
                                       {"o": order_id, "u": fan.user_id, "h": hold.id})).scalar_one() == "ok"
        # ...when the fan changes their mind.
        releasing = asyncio.create_task(release_hold(engine, fan, hold.id, ReleaseBatcher(engine) if batched else None))
        await wait_for_a_lock_wait(engine, "the release waiting for the order's creation")
        await creating.commit()
        record, changes = await releasing
    assert record.status == "released"
    assert order_id in changes.orders  # the fan's order page is told, too
    async with engine.connect() as conn:
        # Not left waiting for a payment that would be charged and then refunded.
        assert (await conn.execute(text("SELECT status FROM orders WHERE id = :o"),
                                   {"o": order_id})).scalar_one() == "cancelled"
        assert (await conn.execute(text("SELECT count(*) FROM show_seats WHERE show_id = :s AND status = 'A'"),
                                   {"s": show.id})).scalar_one() == 4 + 1  # and the GA place
    assert (await audit(engine, show.id)).clean
