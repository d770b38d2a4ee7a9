"""Waitlist offers on real PostgreSQL: who may join, FIFO per show and tier, offers on release and on
expiry, an unbought offer passing on, and open sale once nobody waits."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from boxoffice.booking.audit import audit
from boxoffice.booking.errors import BookingError, InvalidInput, NotFound, SeatsUnavailable, Unauthenticated
from boxoffice.booking.inventory.hold_release import release_hold
from boxoffice.booking.inventory.seatmap import read_statuses
from boxoffice.booking.waitlist.entries import join_waitlist, leave_waitlist, waitlist_of_user
from boxoffice.booking.waitlist.offers import _Seat, offer_round, pick_seats, pin_lapsing_holds
from boxoffice.notifications.deliver import ShowInfo, compose
from booking.fixtures_db import bulk_users
from booking.waitlist.helpers import (buy_offer, entry_state, hold, lapse, parked, seat_statuses, settle,
                                      sweep, tiered_show)


async def _offers_told(engine, user_id) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(
            "SELECT count(*) FROM outbox WHERE user_id = :u AND payload->>'kind' = 'WAITLIST_OFFER'"),
            {"u": user_id})).scalar_one())


async def test_only_a_sold_out_show_can_be_waited_for(engine) -> None:
    show, seats, floor, _ = await tiered_show(engine, seats=2, ga=1, max_tickets=4)
    a, b, c = await bulk_users(engine, 3)
    sid = str(show.id)
    with pytest.raises(InvalidInput, match="on sale right now"):
        await join_waitlist(engine, b, sid, 1, None)
    await hold(engine, a, show.id, seats)  # the Floor place is still on sale
    with pytest.raises(InvalidInput, match="on sale right now"):
        await join_waitlist(engine, b, sid, 1, None)
    with pytest.raises(Unauthenticated):
        await join_waitlist(engine, None, sid, 2, None)
    with pytest.raises(InvalidInput) as bad_id:
        await join_waitlist(engine, b, "not-an-id", 2, None)
    assert bad_id.value.field == "showId"
    with pytest.raises(NotFound):
        await join_waitlist(engine, b, str(uuid.uuid4()), 2, None)
    for quantity in (0, -1, 5):
        with pytest.raises(InvalidInput) as too_many:
            await join_waitlist(engine, b, sid, quantity, None)
        assert too_many.value.field == "quantity"
    with pytest.raises(InvalidInput) as other_tier:
        await join_waitlist(engine, b, sid, 2, str(uuid.uuid4()))
    assert other_tier.value.field == "priceTierId"
    entry = await join_waitlist(engine, b, sid, 2, None)  # one place left, two wanted: nothing fits
    assert (entry.status, entry.position, entry.quantity) == ("waiting", 1, 2)
    assert await join_waitlist(engine, b, sid, 2, None) == entry  # again: the same entry
    with pytest.raises(InvalidInput, match="leave it first"):
        await join_waitlist(engine, b, sid, 3, None)
    second = await join_waitlist(engine, c, sid, 2, None)
    assert second.position == 2
    left, changes = await leave_waitlist(engine, b, str(entry.id))
    assert left.status == "left" and left.position is None and not changes.by_show
    with pytest.raises(NotFound):
        await leave_waitlist(engine, c, str(entry.id))  # not theirs
    assert [(e.id, e.position) for e in await waitlist_of_user(engine, c.user_id)] == [(second.id, 1)]
    assert (await leave_waitlist(engine, b, str(entry.id)))[0].status == "left"  # leaving twice: harmless
    assert [e.status for e in await waitlist_of_user(engine, b.user_id)] == ["left"]


async def test_joining_again_while_offered_answers_the_entry_with_seats_on_sale_meanwhile(engine) -> None:
    """The README's promise: joining again with the same quantity and tier is the same entry. It was
    refused as "on sale right now" once the places the offer did not need went back on sale."""
    show, seats, floor, _ = await tiered_show(engine, seats=2, ga=1)
    holder, b = await bulk_users(engine, 2)
    first = await hold(engine, holder, show.id, seats, [(floor, 1)])
    entry = await join_waitlist(engine, b, str(show.id), 1, None)
    await release_hold(engine, holder, first.id)
    await settle(engine, show.id)
    assert (await entry_state(engine, entry.id)).status == "offered"
    assert "A" in (await seat_statuses(engine, show.id)).values()  # the rest is on open sale
    again = await join_waitlist(engine, b, str(show.id), 1, None)
    assert (again.id, again.status) == (entry.id, "offered")
    with pytest.raises(InvalidInput, match="leave it first"):
        await join_waitlist(engine, b, str(show.id), 2, None)
    assert (await audit(engine, show.id)).clean


async def test_returning_seats_go_to_the_longest_waiting_entry_that_fits(engine) -> None:
    show, seats, floor, _ = await tiered_show(engine, seats=4, ga=1)
    holder, b, c, d, e = await bulk_users(engine, 5)
    first = await hold(engine, holder, show.id, seats, [(floor, 1)])
    wb = await join_waitlist(engine, b, str(show.id), 3, None)
    wc = await join_waitlist(engine, c, str(show.id), 2, None)
    wd = await join_waitlist(engine, d, str(show.id), 3, None)
    assert [wb.position, wc.position, wd.position] == [1, 2, 3]

    _, changes = await release_hold(engine, holder, first.id)
    assert len(await parked(engine, show.id)) == 5  # parked in the release's own transaction
    codes = (await read_statuses(engine, show.id, show.version_sequence, [])).codes
    assert codes == "HHHH"  # nobody's to claim: maps show them held
    with pytest.raises(SeatsUnavailable):
        await hold(engine, e, show.id, seats[:1])
    await settle(engine, show.id)

    got_b, got_c, got_d = [await entry_state(engine, w.id) for w in (wb, wc, wd)]
    assert got_b.status == "offered" and got_b.ticket_count == 3
    assert sorted(got_b.seat_ids) == sorted(int(s) for s in seats[:3])  # side by side, first in line
    # c is next and two fit (a seat and the Floor place); d wanted three: nothing left that fits.
    assert got_c.status == "offered" and (len(got_c.seat_ids), len(got_c.unit_ids)) == (1, 1)
    assert got_d.status == "waiting" and got_d.offer_hold_id is None
    assert [await _offers_told(engine, u.user_id) for u in (b, c, d)] == [1, 1, 0]
    assert (await waitlist_of_user(engine, d.user_id))[0].position == 1

    # b does not buy in time: nobody else may claim the seats, then the sweeper passes them on to d.
    await lapse(engine, got_b.offer_hold_id)
    with pytest.raises(SeatsUnavailable):
        await hold(engine, e, show.id, seats[:1])
    await sweep(engine, got_b.offer_hold_id)
    assert (await entry_state(engine, wb.id)).status == "expired"
    await settle(engine, show.id)
    got_d = await entry_state(engine, wd.id)
    assert got_d.status == "offered" and sorted(got_d.seat_ids) == sorted(int(s) for s in seats[:3])
    assert (await audit(engine, show.id)).clean

    # d lets the offer go and nobody else waits: open sale, as before there was a waitlist.
    left, _ = await leave_waitlist(engine, d, str(wd.id))
    assert left.status == "left"
    assert await parked(engine, show.id) == []
    statuses = await seat_statuses(engine, show.id)
    assert [statuses[int(s)] for s in seats[:3]] == ["A", "A", "A"]
    assert (await hold(engine, e, show.id, seats[:3])).status == "active"
    assert (await audit(engine, show.id)).clean


async def test_an_ordinary_hold_expiring_goes_to_the_waitlist(engine) -> None:
    show, seats, floor, _ = await tiered_show(engine, seats=2, ga=1)
    holder, b, grabber = await bulk_users(engine, 3)
    first = await hold(engine, holder, show.id, seats, [(floor, 1)])
    wb = await join_waitlist(engine, b, str(show.id), 2, None)
    async with engine.begin() as conn:  # about to lapse: the next round pins its seats
        await conn.execute(text("UPDATE holds SET expires_at = now() + interval '2 seconds' WHERE id = :h"),
                           {"h": first.id})
    await offer_round(engine, offer_s=600)  # as every process does each round
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM show_seats WHERE show_id = :s AND status = 'H' "
                                        "AND hold_expires_at = 'infinity'"), {"s": show.id})).scalar() == 3
    assert await pin_lapsing_holds(engine, show.id, within_s=5) == 0  # pinned once
    await lapse(engine, first.id)
    with pytest.raises(SeatsUnavailable):  # lapsed, not yet swept: still not open sale's
        await hold(engine, grabber, show.id, seats[:1])
    await sweep(engine, first.id)
    await settle(engine, show.id)
    got = await entry_state(engine, wb.id)
    assert got.status == "offered" and sorted(got.seat_ids) == sorted(int(s) for s in seats)
    # Bought: the entry is fulfilled, in the payment's transaction (seats sold, hold converted).
    await buy_offer(engine, b, got.offer_hold_id)
    assert (await entry_state(engine, wb.id)).status == "fulfilled"
    statuses = await seat_statuses(engine, show.id)
    assert [statuses[int(s)] for s in seats] == ["S", "S"]
    assert (await audit(engine, show.id)).clean


async def test_each_tier_has_its_own_line(engine) -> None:
    show, seats, floor, tiers = await tiered_show(engine, seats=1, ga=1, tiers=True)
    holder, b, c, d = await bulk_users(engine, 4)
    seat_hold = await hold(engine, holder, show.id, seats)
    floor_hold = await hold(engine, holder, show.id, [], [(floor, 1)])
    wb = await join_waitlist(engine, b, str(show.id), 1, str(tiers["Floor"]))
    wc = await join_waitlist(engine, c, str(show.id), 1, str(tiers["Seats"]))
    wd = await join_waitlist(engine, d, str(show.id), 1, None)
    assert [w.position for w in (wb, wc, wd)] == [1, 1, 3]  # d takes either: behind both
    await release_hold(engine, holder, seat_hold.id)
    await settle(engine, show.id)
    assert [(await entry_state(engine, w.id)).status for w in (wb, wc, wd)] == ["waiting", "offered", "waiting"]
    await release_hold(engine, holder, floor_hold.id)
    await settle(engine, show.id)
    assert [(await entry_state(engine, w.id)).status for w in (wb, wc, wd)] == ["offered", "offered", "waiting"]
    assert (await audit(engine, show.id)).clean


async def test_a_show_that_stops_selling_ends_its_waitlist(engine) -> None:
    show, seats, floor, _ = await tiered_show(engine, seats=1, ga=1)
    holder, b = await bulk_users(engine, 2)
    first = await hold(engine, holder, show.id, seats, [(floor, 1)])
    wb = await join_waitlist(engine, b, str(show.id), 1, None)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE shows SET status = 'cancelled', cancelled_at = now() WHERE id = :s"),
                           {"s": show.id})
    await release_hold(engine, holder, first.id)
    await settle(engine, show.id)
    assert (await entry_state(engine, wb.id)).status == "expired"
    assert set((await seat_statuses(engine, show.id)).values()) == {"A"}
    with pytest.raises(BookingError) as cancelled:
        await join_waitlist(engine, b, str(show.id), 1, None)
    assert cancelled.value.code in ("SHOW_CANCELLED", "NOT_ON_SALE", "INVALID_INPUT")


def test_seats_together_in_one_row_where_possible() -> None:
    hot, floor = uuid.uuid4(), uuid.uuid4()
    row = [_Seat(i, hot, p, "A", 100, None) for i, p in ((1, 1), (2, 2), (4, 4), (5, 5), (6, 6))]
    other = [_Seat(9, hot, 20, "B", 100, None)]
    ga = [_Seat(30 + i, floor, None, None, 50, None) for i in range(2)]
    assert [s.id for s in pick_seats(row + other + ga, 3) or []] == [4, 5, 6]
    assert [s.id for s in pick_seats(row + other + ga, 2) or []] == [1, 2]
    assert [s.id for s in pick_seats([row[0], row[2]] + other, 2) or []] == [1, 4]  # one row, apart
    assert [s.id for s in pick_seats(other + ga, 2) or []] == [30, 31]  # one section
    assert len(pick_seats(other + ga, 3) or []) == 3  # any, rather than nothing
    assert pick_seats(other, 2) is None


def test_the_offer_mail_says_how_many_and_for_how_long() -> None:
    show = ShowInfo("Hamlet", "RSC", "Barbican", "London", datetime(2030, 5, 1, 19, 30, tzinfo=timezone.utc))
    told = compose("WAITLIST_OFFER", {"offerMinutes": 10}, name="Ada", show=show, order=None,
                   hold=SimpleNamespace(ticket_count=2))
    assert told.subject == "2 tickets for Hamlet held for you"
    assert "for 10 minutes" in told.body and "next fan waiting" in told.body and "Barbican, London" in told.body
    lapsed = compose("HOLD_EXPIRED", {}, name="Ada", show=show, order=None,
                     hold=SimpleNamespace(ticket_count=2, waitlist_offer=True))
    assert "The 2 tickets offered to you from the waitlist for Hamlet were not bought in time" in lapsed.body
