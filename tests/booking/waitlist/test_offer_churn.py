"""Churn from several processes: three engines (as three server processes) each run the offer job and
the sweeper while fans release, let offers lapse, leave the line and try to grab seats on open sale.
Afterwards nothing is offered twice or lost, and `boxoffice audit` is clean."""

from __future__ import annotations

import asyncio
import random
import uuid

from sqlalchemy import text

from boxoffice.booking.audit import audit
from boxoffice.booking.errors import BookingError
from boxoffice.booking.inventory.hold_release import release_expired_holds, release_hold
from boxoffice.booking.waitlist.entries import join_waitlist, leave_waitlist
from boxoffice.booking.waitlist.offers import offer_round
from boxoffice.db import create_engine
from booking.fixtures_db import bulk_users
from booking.waitlist.helpers import OFFER_S, hold, lapse, parked, settle, sweep, tiered_show

SEATS, FANS, WAITING = 24, 12, 30


async def test_offers_under_churn_from_three_processes(engine, database_url) -> None:
    show, seats, floor, _ = await tiered_show(engine, seats=SEATS, ga=6)
    holders = await bulk_users(engine, FANS)
    held = []
    for i, fan in enumerate(holders):  # sold out: every seat and place held by someone
        held.append(await hold(engine, fan, show.id, seats[2 * i:2 * i + 2], [(floor, 1)] if i < 6 else None))
    waiters = await bulk_users(engine, WAITING)
    rng = random.Random(20)
    entries = [await join_waitlist(engine, w, str(show.id), rng.choice((1, 1, 2, 3)), None) for w in waiters]
    grabbers = await bulk_users(engine, 4)
    processes = [create_engine(database_url, pool_size=2, max_overflow=0) for _ in range(3)]
    stop = asyncio.Event()

    async def process(db) -> None:  # what each server process's loops do
        while not stop.is_set():
            await offer_round(db, offer_s=OFFER_S)
            await release_expired_holds(db)
            await asyncio.sleep(0)

    async def fans() -> None:
        for h in held:  # every holder lets go, one way or another
            if rng.random() < 0.5:
                await release_hold(engine, next(f for f in holders if f.user_id == h.user_id), h.id)
            else:
                await lapse(engine, h.id)
            await asyncio.sleep(0.01)
        for _ in range(40):  # offers lapse, fans leave, open sale tries its luck
            async with engine.connect() as conn:
                offered = (await conn.execute(text(
                    "SELECT id, offer_hold_id, user_id FROM waitlist_entries WHERE show_id = :s "
                    "AND status = 'offered'"), {"s": show.id})).all()
            if offered:
                pick = rng.choice(offered)
                if rng.random() < 0.7:
                    await lapse(engine, pick.offer_hold_id)
                else:
                    fan = next(w for w in waiters if w.user_id == pick.user_id)
                    await leave_waitlist(engine, fan, str(pick.id))
            try:
                await hold(engine, rng.choice(grabbers), show.id, rng.sample(seats, 1))
            except BookingError:
                pass
            await asyncio.sleep(0.01)

    jobs = [asyncio.create_task(process(db)) for db in processes]
    try:
        await fans()
    finally:
        stop.set()
        await asyncio.gather(*jobs)
        for db in processes:
            await db.dispose()
    await sweep(engine)
    await settle(engine, show.id)

    async with engine.connect() as conn:
        states = dict((await conn.execute(text(
            "SELECT status, count(*) FROM waitlist_entries WHERE show_id = :s GROUP BY status"),
            {"s": show.id})).all())
        offers = (await conn.execute(text(
            "SELECT count(*) FROM holds WHERE show_id = :s AND idempotency_key LIKE 'waitlist-offer:%'"),
            {"s": show.id})).scalar_one()
        told = (await conn.execute(text(
            "SELECT count(*) FROM outbox WHERE payload->>'kind' = 'WAITLIST_OFFER' AND payload->>'showId' = :s"),
            {"s": str(show.id)})).scalar_one()
        ever_offered = (await conn.execute(text(
            "SELECT count(*) FROM waitlist_entries WHERE show_id = :s AND offer_hold_id IS NOT NULL"),
            {"s": show.id})).scalar_one()
        free = (await conn.execute(text(
            "SELECT count(*) FROM show_seats WHERE show_id = :s AND status = 'A'"), {"s": show.id})).scalar_one()
        waiting_for_one = (await conn.execute(text(
            "SELECT count(*) FROM waitlist_entries WHERE show_id = :s AND status = 'waiting' AND quantity = 1"),
            {"s": show.id})).scalar_one()
    assert offers == told == ever_offered > 0  # one hold and one notification per offer, each entry once
    assert states.get("expired", 0) + states.get("left", 0) > 0 and sum(states.values()) == WAITING
    assert await parked(engine, show.id) == []
    # Every seat fits a fan waiting for one: none went to open sale while such a fan waited.
    assert free == 0 or waiting_for_one == 0
    report = await audit(engine, show.id)
    assert report.clean, report.failures
    assert all(isinstance(e.id, uuid.UUID) for e in entries)
