"""cancelShow stops sales at once on every path, whatever a process's show cache still says."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from boxoffice.booking.catalog.browse import get_show
from boxoffice.booking.errors import BookingError, ShowCancelled
from boxoffice.booking.inventory.hold_batch import HoldBatcher
from boxoffice.booking.inventory.holds import HoldRequest, hold_seats
from boxoffice.booking.records import Viewer
from boxoffice.booking.refunds.cancel_show import cancel_show, cancellation_progress
from booking.fixtures_db import bulk_users, make_show


async def test_a_stale_show_cache_cannot_hold_seats_of_a_cancelled_show(engine) -> None:
    show, seats, floor = await make_show(engine, seats=10, ga=5)
    stale = await get_show(engine, show.id)  # what another process's cache holds: 'scheduled'
    assert stale is not None and stale.status == "scheduled"
    fan, = await bulk_users(engine, 1)
    cancelled, _ = await cancel_show(engine, Viewer(show.organizer_id, "organizer"), show.id, "Storm")
    assert cancelled.status == "cancelled"
    batcher = HoldBatcher(engine, concurrency=1)
    try:
        attempts = [
            hold_seats(engine, fan, HoldRequest(show.id, seats[:1], [], "single"), show=stale),
            hold_seats(engine, fan, HoldRequest(show.id, seats[1:2], [], "batched"), show=stale, batcher=batcher),
            hold_seats(engine, fan, HoldRequest(show.id, [], [(floor, 1)], "ga"), show=stale),
        ]
        for attempt in attempts:
            with pytest.raises(ShowCancelled):
                await attempt
    finally:
        await batcher.aclose()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM holds WHERE show_id = :s"), {"s": show.id})).scalar() == 0


async def test_no_hold_outlives_a_cancellation_racing_a_crowd(engine) -> None:
    show, seats, floor = await make_show(engine, seats=60, ga=20, max_tickets=2)
    stale = await get_show(engine, show.id)
    fans = await bulk_users(engine, 40)
    batcher = HoldBatcher(engine, concurrency=2)

    async def fan_holds(i: int, fan: Viewer) -> None:
        for round_ in range(5):
            request = (HoldRequest(show.id, [], [(floor, 1)], f"{i}-{round_}") if i % 3 == 0
                       else HoldRequest(show.id, [seats[(i + 40 * round_) % 60]], [], f"{i}-{round_}"))
            try:
                await hold_seats(engine, fan, request, show=stale, batcher=batcher)
            except BookingError:
                pass
            await asyncio.sleep(0)

    crowd = [asyncio.create_task(fan_holds(i, f)) for i, f in enumerate(fans)]
    try:
        await asyncio.sleep(0.05)
        await cancel_show(engine, Viewer(show.organizer_id, "organizer"), show.id, "Storm")
        # The cancellation waited for every hold in flight: those are all there ever are.
        before = await _holds(engine, show.id)
        await asyncio.gather(*crowd)
    finally:
        await batcher.aclose()
    assert await _holds(engine, show.id) == before
    async with engine.connect() as conn:
        active = (await conn.execute(text("SELECT count(*) FROM holds WHERE show_id = :s AND status = 'active' "
                                          "AND expires_at > now()"), {"s": show.id})).scalar()
    assert active == 0
    progress = await cancellation_progress(engine, show.id)
    # Running, or already done: with nothing to refund, any server's refund round may finish it first.
    assert progress is not None and progress.confirmed == 0


async def _holds(engine, show_id: uuid.UUID) -> set[uuid.UUID]:
    async with engine.connect() as conn:
        return set((await conn.execute(text("SELECT id FROM holds WHERE show_id = :s"), {"s": show_id})).scalars())


async def test_only_the_shows_organizer_cancels_it_with_a_reason(engine) -> None:
    show, _, _ = await make_show(engine, seats=2, ga=1)
    fan, = await bulk_users(engine, 1)
    other, = await bulk_users(engine, 1, "organizer")
    for viewer, code in ((None, "UNAUTHENTICATED"), (fan, "FORBIDDEN"), (other, "FORBIDDEN")):
        with pytest.raises(BookingError) as refused:
            await cancel_show(engine, viewer, show.id, "Storm")
        assert refused.value.code == code
    with pytest.raises(BookingError) as refused:
        await cancel_show(engine, Viewer(show.organizer_id, "organizer"), show.id, " \n ")
    assert refused.value.code == "INVALID_INPUT"
    with pytest.raises(BookingError) as refused:  # told to every ticket holder: nothing hidden or reordered
        await cancel_show(engine, Viewer(show.organizer_id, "organizer"), show.id, "Storm \u202edetaler ton")
    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", "reason")
    with pytest.raises(BookingError) as refused:
        await cancel_show(engine, Viewer(show.organizer_id, "organizer"), uuid.uuid4(), "Storm")
    assert refused.value.code == "NOT_FOUND"
    assert (await get_show(engine, show.id)).status == "scheduled"  # type: ignore[union-attr]
