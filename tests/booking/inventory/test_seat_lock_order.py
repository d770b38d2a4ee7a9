"""Every transaction that changes several seat rows locks them in primary-key order, so the hold
sweeper, payments and group-committed holds never deadlock on the same seats (real PostgreSQL)."""

import asyncio
import uuid

import pytest
from sqlalchemy import text

from boxoffice.booking.audit import audit
from boxoffice.booking.catalog.browse import get_show
from boxoffice.booking.inventory.hold_batch import HoldBatcher
from boxoffice.booking.errors import HoldNotActive
from boxoffice.booking.inventory.release_batch import ReleaseBatcher
from boxoffice.booking.inventory.hold_release import release_expired_holds, release_hold
from boxoffice.booking.inventory.holds import HoldRequest, hold_seats
from boxoffice.booking.checkout.orders import create_order
from boxoffice.db import create_engine

from ..fixtures_db import bulk_users, make_show

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


@pytest.fixture
async def private_engine(private_database_url):
    engine = create_engine(private_database_url, pool_size=4, max_overflow=0)
    yield engine
    await engine.dispose()


async def test_the_sweeper_leaves_a_hold_whose_payment_is_being_settled(private_engine) -> None:
    """A payment settling an order locks the order row, then the seats, then the hold; the sweeper
    locks the hold, the seats, then the order. So the sweeper skips a hold whose order row is
    locked, and ends it on a later pass, once that payment has let go. (A database of its own: on the
    shared one another deployment's sweeper may end the hold first, and this pass count none.)"""
    engine = private_engine
    show, seats, _ = await make_show(engine, seats=4, ga=1)
    fan, = await bulk_users(engine, 1)
    hold, _ = await hold_seats(engine, fan, HoldRequest(show.id, seats[:2], [], uuid.uuid4().hex))
    order_id = (await create_order(engine, fan, hold.id, uuid.uuid4().hex)).id
    await _expire_backwards(engine, [hold.id])
    async with engine.connect() as settling:
        async with settling.begin():
            await settling.execute(text("SELECT id FROM orders WHERE id = :o FOR UPDATE"), {"o": order_id})
            count, _ = await asyncio.wait_for(release_expired_holds(engine), 10)  # does not wait for it
            assert count == 0
    count, changes = await release_expired_holds(engine)
    assert count == 1 and len(changes.orders) == 1
    async with engine.connect() as conn:
        status = (await conn.execute(text("SELECT status FROM orders WHERE id = :o"), {"o": order_id})).scalar()
    assert status == "cancelled"


@pytest.mark.parametrize("batched", [False, True], ids=["alone", "in-a-batch"])
async def test_a_fan_releasing_a_hold_while_its_payment_settles_waits_for_the_payment(private_engine,
                                                                                     batched) -> None:
    """The payment locks the order row, then the seats, then the hold. Releasing the same hold takes
    the order row first too, so it waits for the payment instead of deadlocking with it; the fan is
    then told the hold was paid for, and the seats stay sold. In a batch (release_batch.py) the same,
    and its batch-mate is released. (A database of its own: the settlement is played by hand, without
    the payment and tickets that `boxoffice audit` expects of a sale.)"""
    engine = private_engine
    show, seats, _ = await make_show(engine, seats=4, ga=1)
    fan, other_fan = await bulk_users(engine, 2)
    hold, _ = await hold_seats(engine, fan, HoldRequest(show.id, seats[:2], [], uuid.uuid4().hex))
    other_hold, _ = await hold_seats(engine, other_fan, HoldRequest(show.id, seats[2:], [], uuid.uuid4().hex))
    order_id = (await create_order(engine, fan, hold.id, uuid.uuid4().hex)).id
    async with engine.connect() as settling:
        async with settling.begin():
            await settling.execute(text("SELECT id FROM orders WHERE id = :o FOR UPDATE"), {"o": order_id})
            batcher = ReleaseBatcher(engine, concurrency=1) if batched else None
            release = asyncio.create_task(release_hold(engine, fan, hold.id, batcher))
            mate = asyncio.create_task(release_hold(engine, other_fan, other_hold.id, batcher))
            await asyncio.sleep(0.3)  # the release is under way, waiting for the order row
            assert not release.done()
            # The rest of the settlement, as payments._settle_success does it: seats, hold, order.
            await settling.execute(text(
                "UPDATE show_seats SET status = 'S', order_id = :o, hold_id = NULL, hold_expires_at = NULL "
                "WHERE id IN (SELECT id FROM show_seats WHERE show_id = :s AND hold_id = :h ORDER BY id FOR UPDATE)"),
                {"o": order_id, "s": show.id, "h": hold.id})
            await settling.execute(text("UPDATE holds SET status = 'converted', ended_at = now() WHERE id = :h"),
                                   {"h": hold.id})
            await settling.execute(text("UPDATE orders SET status = 'confirmed', confirmed_at = now() "
                                        "WHERE id = :o"), {"o": order_id})
    with pytest.raises(HoldNotActive):
        await asyncio.wait_for(release, 10)
    assert (await asyncio.wait_for(mate, 10))[0].status == "released"
    async with engine.connect() as conn:
        status = (await conn.execute(text("SELECT status FROM orders WHERE id = :o"), {"o": order_id})).scalar()
        sold = (await conn.execute(text("SELECT count(*) FROM show_seats WHERE order_id = :o AND status = 'S'"),
                                   {"o": order_id})).scalar()
    assert (status, sold) == ("confirmed", 2)


async def test_releasing_a_hold_with_a_pending_order_cancels_the_order_and_frees_the_seats(engine) -> None:
    show, seats, _ = await make_show(engine, seats=4, ga=1)
    fan, = await bulk_users(engine, 1)
    hold, _ = await hold_seats(engine, fan, HoldRequest(show.id, seats[:2], [], uuid.uuid4().hex))
    order_id = (await create_order(engine, fan, hold.id, uuid.uuid4().hex)).id
    released, changes = await release_hold(engine, fan, hold.id)
    assert released.status == "released" and changes.orders == {order_id}
    async with engine.connect() as conn:
        status = (await conn.execute(text("SELECT status FROM orders WHERE id = :o"), {"o": order_id})).scalar()
        free = (await conn.execute(text("SELECT count(*) FROM show_seats WHERE id = ANY(:s) AND status = 'A'"),
                                   {"s": [int(s) for s in seats[:2]]})).scalar()
    assert (status, free) == ("cancelled", 2)
