"""Face-value resale: list, buy (a hold, an order, a payment), the seller refunded; every refusal and race."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text

from boxoffice.booking.after_sale import resale, resale_checkout
from boxoffice.booking.checkout.reconcile import reconcile
from boxoffice.booking.errors import BookingError
from boxoffice.booking.inventory.hold_release import release_expired_holds
from boxoffice.booking.records import Viewer

from support import wait_until
from .journeys import (CONFIRM, CREATE_ORDER, HOLD_LISTING, LIST, TRANSFER_TICKET, WITHDRAW, assert_clean, buy,
                       buy_with_payout_pending, email_of, order_of, pay_hold, revoked_reason, told)

LISTINGS = "query($s: ID!) { show(id: $s) { resaleCapPercent resaleListings(first: 10) { id priceCents status } } }"
MY_LISTINGS = "{ viewer { resaleListings { id status priceCents } } }"
REFUND = """mutation($o: ID!, $k: String!) { refundOrder(orderId: $o, idempotencyKey: $k) {
  __typename ... on Order { id status } ... on Rejected { code message } } }"""
POLICY = """mutation($s: ID!, $i: RefundPolicyInput!) { setRefundPolicy(showId: $s, input: $i) { __typename } }"""
CHECK_IN = """mutation($s: ID!, $b: String!) { checkInTicket(showId: $s, barcode: $b) {
  __typename ... on CheckIn { checkedInAt } ... on Rejected { code message } } }"""


async def _listing(api, token, ticket_id, price):
    return (await api.gql(LIST, {"t": ticket_id, "p": price}, token))["listForResale"]


async def _hold(api, token, listing_id, key=None):
    return (await api.gql(HOLD_LISTING, {"l": listing_id, "k": key or uuid.uuid4().hex}, token))["holdResaleListing"]


async def _seller_refund(api, listing_id):
    async with api.services.engine.connect() as conn:
        return (await conn.execute(text("SELECT refund_status, refunded_cents FROM resale_listings WHERE id = :l"),
                                   {"l": listing_id})).one()


async def _sold_setup(api):
    org, _ = await api.user("organizer")
    seller, _ = await api.user()
    show = await api.show(org)
    order = await buy(api, seller, show, seats=show["seats"][:1], ga=1)
    return org, seller, show, order


async def _one_listed(api, price=5000):
    """A show with a limit of 2 per fan and one seat of it listed by its buyer: (organizer, show, seller's
    order, listing)."""
    org, _ = await api.user("organizer")
    seller, _ = await api.user()
    show = await api.show(org, max_tickets=2)
    order = await buy(api, seller, show, seats=show["seats"][:1])
    return org, show, order, await _listing(api, seller, order["tickets"][0]["id"], price)


async def _until_waiting(api, task) -> None:
    """Until the task answered, or a statement of this database waits on a lock (a row's or an advisory one)."""
    async with api.services.engine.connect() as watch:
        while not task.done():
            if (await watch.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                         "AND datname = current_database()"))).scalar_one():
                return
            await watch.rollback()
            await asyncio.sleep(0.01)


async def test_a_fan_resells_at_face_value_and_is_refunded(api) -> None:
    org, seller, show, order = await _sold_setup(api)
    buyer, _ = await api.user()
    seat_ticket = next(t for t in order["tickets"] if t["seat"])
    assert (await _listing(api, seller, seat_ticket["id"], 5001))["code"] == "ABOVE_RESALE_CAP"
    listed = await _listing(api, seller, seat_ticket["id"], 4500)
    assert listed["status"] == "LISTED" and listed["faceValueCents"] == 5000, listed
    assert listed["seat"]["id"] == seat_ticket["seat"]["id"]
    assert (await _listing(api, seller, seat_ticket["id"], 4500))["id"] == listed["id"]  # a retry: the same one
    assert (await _listing(api, seller, seat_ticket["id"], 4000))["code"] == "INVALID_INPUT"  # listed twice
    shown = (await api.gql(LISTINGS, {"s": show["id"]}))["show"]
    assert shown["resaleCapPercent"] == 100 and [x["id"] for x in shown["resaleListings"]] == [listed["id"]]
    mine = await order_of(api, seller, order["id"])
    assert next(t for t in mine["tickets"] if t["id"] == seat_ticket["id"])["resaleListing"]["id"] == listed["id"]
    # Listed: not transferable, and the door does not admit it.
    friend, _ = await api.user()
    refused = (await api.gql(TRANSFER_TICKET, {"t": seat_ticket["id"], "e": await email_of(api, friend)},
                             seller))["transferTicket"]
    assert refused["code"] == "INVALID_INPUT" and "listed" in refused["message"]
    door = (await api.gql(CHECK_IN, {"s": show["id"], "b": seat_ticket["barcode"]}, org))["checkInTicket"]
    assert door["__typename"] == "Rejected", door

    assert (await _hold(api, seller, listed["id"]))["code"] == "INVALID_INPUT"  # one's own listing
    key = uuid.uuid4().hex
    hold = await _hold(api, buyer, listed["id"], key)
    assert hold["__typename"] == "Hold" and hold["totalCents"] == 4500, hold
    assert (await _hold(api, buyer, listed["id"], key))["id"] == hold["id"]
    other, _ = await api.user()
    assert (await _hold(api, other, listed["id"]))["code"] == "SEATS_UNAVAILABLE"
    busy = (await api.gql(WITHDRAW, {"l": listed["id"]}, seller))["withdrawResale"]
    assert busy["code"] == "SEATS_UNAVAILABLE", busy  # a buyer is checking out: the seller's withdraw fails
    assert (await api.gql(LISTINGS, {"s": show["id"]}))["show"]["resaleListings"] == []  # held: not offered

    paid = await pay_hold(api, buyer, hold["id"])
    assert paid["totalCents"] == 4500 and len(paid["tickets"]) == 1, paid
    bought = paid["tickets"][0]
    assert bought["seat"]["id"] == seat_ticket["seat"]["id"] and bought["barcode"] != seat_ticket["barcode"]
    assert await revoked_reason(api, seat_ticket["barcode"]) == "resold"
    left = await order_of(api, seller, order["id"])
    assert left["status"] == "CONFIRMED"  # the resold ticket stays listed for the seller, VOID
    assert sorted(t["status"] for t in left["tickets"] if t["id"] == seat_ticket["id"]) == ["VOID"]
    assert len(left["tickets"]) == 2
    assert tuple(await _seller_refund(api, uuid.UUID(listed["id"]))) == ("refunded", 4500)
    assert (await api.gql(MY_LISTINGS, token=seller))["viewer"]["resaleListings"][0]["status"] == "SOLD"
    void = (await api.gql(TRANSFER_TICKET, {"t": seat_ticket["id"], "e": "x@example.test"}, seller))["transferTicket"]
    assert void["code"] == "TICKET_VOID", void

    [sold] = await told(api, seller, "RESALE_SOLD")
    assert (sold["listingId"], sold["priceCents"]) == (listed["id"], 4500)
    assert len(await told(api, buyer, "ORDER_CONFIRMED")) == 1
    await assert_clean(api, show["id"])


async def test_lowering_the_resale_cap_withdraws_the_listings_above_it(api) -> None:
    """The cap protects fans: a ticket listed at face value before the organizer lowered the cap to
    half sold at face value after it. A buyer checking one out is refused before being charged."""
    org, seller, show, order = await _sold_setup(api)
    seat_ticket = next(t for t in order["tickets"] if t["seat"])
    ga_ticket = next(t for t in order["tickets"] if not t["seat"])
    high = await _listing(api, seller, seat_ticket["id"], 5000)  # face value, the cap at 100 %
    held_high = await _listing(api, seller, ga_ticket["id"], 2000)
    buyer, _ = await api.user()
    hold = await _hold(api, buyer, held_high["id"])
    assert hold["__typename"] == "Hold", hold
    bought = (await api.gql(CREATE_ORDER, {"i": {"holdId": hold["id"], "idempotencyKey": uuid.uuid4().hex}},
                            buyer))["createOrder"]
    assert bought["__typename"] == "Order", bought
    lowered = await api.gql(POLICY, {"s": show["id"], "i": {"resaleCapPercent": 50}}, org)
    assert lowered["setRefundPolicy"]["__typename"] == "Show", lowered
    statuses = {x["id"]: x["status"] for x in (await api.gql(MY_LISTINGS, token=seller))["viewer"]["resaleListings"]}
    assert statuses == {high["id"]: "WITHDRAWN", held_high["id"]: "WITHDRAWN"}, statuses
    other, _ = await api.user()
    assert (await _hold(api, other, high["id"]))["code"] == "SEATS_UNAVAILABLE"
    codes = (await api.gql("query($s: ID!) { show(id: $s) { availability { codes } } }", {"s": show["id"]}))
    seat_index = show["seats"].index(seat_ticket["seat"]["id"])
    assert codes["show"]["availability"]["codes"][seat_index] == "S"  # sold again on the seat map
    paid = (await api.gql(CONFIRM, {"i": {"orderId": bought["id"], "paymentMethod": "pm_card_visa",
                                          "idempotencyKey": uuid.uuid4().hex}}, buyer))["confirmPayment"]
    assert paid.get("code") in ("SEATS_UNAVAILABLE", "HOLD_NOT_ACTIVE"), paid  # refused, not charged
    async with api.services.engine.connect() as conn:
        intent = (await conn.execute(text("SELECT intent_id FROM payments WHERE order_id = :o"),
                                     {"o": bought["id"]})).scalar_one()
    assert intent is None
    relisted = await _listing(api, seller, seat_ticket["id"], 2500)  # within the new cap: for sale
    assert relisted["status"] == "LISTED", relisted

    async def cancelled() -> bool:
        await release_expired_holds(api.services.engine)
        return (await order_of(api, buyer, bought["id"]))["status"] == "CANCELLED"

    await wait_until(cancelled, "the sweeper to cancel the buyer's order")
    await assert_clean(api, show["id"])


async def test_a_ticket_bought_below_face_value_is_relisted_for_no_more_than_it_cost(api) -> None:
    """Its sale is paid back to the card that bought it, which can take back only what it paid: a
    relist at face value would leave its seller unpaid and the next buyer's money with the box office."""
    _, show, _, listed = await _one_listed(api, price=2000)  # face value 5000
    buyer, _ = await api.user()
    paid = await pay_hold(api, buyer, (await _hold(api, buyer, listed["id"]))["id"])
    ticket = paid["tickets"][0]["id"]
    refused = await _listing(api, buyer, ticket, 2001)
    assert refused["code"] == "ABOVE_RESALE_CAP" and "2000" in refused["message"], refused
    relisted = await _listing(api, buyer, ticket, 2000)
    assert relisted["status"] == "LISTED", relisted
    await assert_clean(api, show["id"])


async def test_a_seller_cannot_refund_an_order_whose_ticket_was_resold(api) -> None:
    """Resold below face, the seller's charge was paid back the resale price; a refund of the order
    would pay back the rest of the face value while the buyer keeps the ticket."""
    org, _ = await api.user("organizer")
    seller, _ = await api.user()
    show = await api.show(org)
    order = await buy(api, seller, show, seats=show["seats"][:1])  # face value 5000
    listed = await _listing(api, seller, order["tickets"][0]["id"], 50)  # EUR's least charge
    await api.gql(POLICY, {"s": show["id"], "i": {"fanRefundsUntilHoursBefore": 1}}, org)
    buyer, _ = await api.user()
    paid = await pay_hold(api, buyer, (await _hold(api, buyer, listed["id"]))["id"])
    refused = (await api.gql(REFUND, {"o": order["id"], "k": uuid.uuid4().hex}, seller))["refundOrder"]
    assert (refused["code"], refused["message"]) == (
        "NOT_REFUNDABLE", "A ticket of this order was resold; the order can no longer be refunded."), refused
    assert (await order_of(api, seller, order["id"]))["status"] == "CONFIRMED"
    assert tuple(await _seller_refund(api, uuid.UUID(listed["id"]))) == ("refunded", 50)
    door = (await api.gql(CHECK_IN, {"s": show["id"], "b": paid["tickets"][0]["barcode"]}, org))["checkInTicket"]
    assert door["__typename"] == "CheckIn", door  # the buyer's ticket admits
    await assert_clean(api, show["id"])


async def test_a_refund_of_the_seller_leaves_a_pending_resale_payout_its_part_of_the_charge(api) -> None:
    """The seller's payout failed at first (Stripe down); the organizer refunds the seller's order
    meanwhile. The refund returns what the order owes (its charge less the resale's price), so the
    payout can still be made afterwards: the charge is paid back exactly once, in two parts."""
    org, show, order, listed = await _one_listed(api, price=4500)  # face value 5000
    buyer, _ = await api.user()
    await buy_with_payout_pending(api, buyer, listed["id"])
    assert tuple(await _seller_refund(api, uuid.UUID(listed["id"]))) == ("pending", None)
    refunded = (await api.gql(REFUND, {"o": order["id"], "k": uuid.uuid4().hex}, org))["refundOrder"]
    assert refunded["status"] == "REFUNDED", refunded
    await reconcile(api.services.engine, api.services.payments)  # the payout, again
    assert tuple(await _seller_refund(api, uuid.UUID(listed["id"]))) == ("refunded", 4500)
    async with api.services.engine.connect() as conn:
        owed = (await conn.execute(text("SELECT amount_cents, status FROM order_refunds WHERE order_id = :o"),
                                   {"o": order["id"]})).one()
        back = (await conn.execute(text(
            "SELECT i.amount_refunded FROM stripe_sim.payment_intents i JOIN payments p ON p.intent_id = i.id "
            "WHERE p.order_id = :o"), {"o": order["id"]})).scalar_one()
    assert (tuple(owed), back) == ((500, "succeeded"), 5000)
    # The seller is told what comes back now: the 500 left, not the order's 5,000.
    async with api.services.engine.connect() as conn:
        told_refund = (await conn.execute(text(
            "SELECT payload FROM outbox WHERE payload->>'kind' = 'ORDER_REFUNDED' AND payload->>'orderId' = :o"),
            {"o": order["id"]})).scalar_one()
    assert told_refund["amountCents"] == 500
    await assert_clean(api, show["id"])


async def test_general_admission_resale_and_the_show_cap(api) -> None:
    org, seller, show, order = await _sold_setup(api)
    ga_ticket = next(t for t in order["tickets"] if not t["seat"])
    policy = await api.gql("mutation($s: ID!) { setRefundPolicy(showId: $s, input: {resaleCapPercent: 50}) "
                           "{ __typename } }", {"s": show["id"]}, org)
    assert policy["setRefundPolicy"]["__typename"] == "Show", policy
    assert (await _listing(api, seller, ga_ticket["id"], 1001))["code"] == "ABOVE_RESALE_CAP"
    assert (await _listing(api, seller, ga_ticket["id"], 0))["code"] == "INVALID_INPUT"
    below = await _listing(api, seller, ga_ticket["id"], 49)  # its buyer could not be charged that little
    assert (below["code"], below["field"]) == ("INVALID_INPUT", "priceCents"), below
    listed = await _listing(api, seller, ga_ticket["id"], 1000)
    assert listed["status"] == "LISTED" and listed["seat"] is None
    buyer, _ = await api.user()
    hold = await _hold(api, buyer, listed["id"])
    assert hold["generalAdmission"] == [{"quantity": 1}], hold
    paid = await pay_hold(api, buyer, hold["id"])
    assert paid["tickets"][0]["sectionId"] == ga_ticket["sectionId"]
    await assert_clean(api, show["id"])


async def test_withdrawn_listings_cannot_be_bought_and_the_ticket_is_whole_again(api) -> None:
    org, seller, show, order = await _sold_setup(api)
    ticket = order["tickets"][0]
    listed = await _listing(api, seller, ticket["id"], 3000)
    stranger, _ = await api.user()
    assert (await api.gql(WITHDRAW, {"l": listed["id"]}, stranger))["withdrawResale"]["code"] == "NOT_FOUND"
    withdrawn = (await api.gql(WITHDRAW, {"l": listed["id"]}, seller))["withdrawResale"]
    assert withdrawn["status"] == "WITHDRAWN"
    assert (await api.gql(WITHDRAW, {"l": listed["id"]}, seller))["withdrawResale"]["status"] == "WITHDRAWN"
    assert (await _hold(api, stranger, listed["id"]))["code"] == "SEATS_UNAVAILABLE"
    assert (await _hold(api, stranger, str(uuid.uuid4())))["code"] == "NOT_FOUND"
    door = (await api.gql(CHECK_IN, {"s": show["id"], "b": ticket["barcode"]}, org))["checkInTicket"]
    assert door["__typename"] == "CheckIn", door  # no longer listed: admitted
    assert (await _listing(api, seller, ticket["id"], 3000))["code"] == "ALREADY_CHECKED_IN"
    await assert_clean(api, show["id"])


async def test_withdraw_and_hold_of_one_listing_race_one_fails_cleanly(api) -> None:
    engine = api.services.engine
    org, seller_token = (await api.user("organizer"))[0], await api.user()
    show = await api.show(org)
    order = await buy(api, seller_token[0], show, seats=show["seats"][:6])
    seller = Viewer(uuid.UUID(seller_token[1]), "fan")
    buyers = [Viewer(uuid.UUID((await api.user())[1]), "fan") for _ in range(3)]
    for ticket in order["tickets"]:
        listed = await _listing(api, seller_token[0], ticket["id"], 5000)
        listing_id = uuid.UUID(listed["id"])
        results = await asyncio.gather(
            resale.withdraw_resale(engine, seller, listing_id),
            *(resale_checkout.hold_resale_listing(engine, b, listing_id, uuid.uuid4().hex) for b in buyers),
            return_exceptions=True)
        won = [r for r in results if not isinstance(r, BaseException)]
        assert len(won) == 1, results  # the withdraw, or one buyer's hold
        assert all(isinstance(r, BookingError) for r in results if isinstance(r, BaseException)), results
    await assert_clean(api, show["id"])


async def test_live_seat_maps_show_a_listed_seat_available_and_sold_again(api) -> None:
    _, seller, show, order = await _sold_setup(api)
    ticket = next(t for t in order["tickets"] if t["seat"])
    me = Viewer(uuid.UUID((await api.gql("{ viewer { id } }", token=seller))["viewer"]["id"]), "fan")
    listing, listed = await resale.list_for_resale(api.services.engine, me, uuid.UUID(ticket["id"]), 5000)
    [change] = listed.by_show[uuid.UUID(show["id"])]
    assert (str(change.seat_id), change.status) == (ticket["seat"]["id"], "A")
    _, withdrawn = await resale.withdraw_resale(api.services.engine, me, listing.id)
    [back] = withdrawn.by_show[uuid.UUID(show["id"])]
    assert back.status == "S" and back.version > change.version


async def test_a_listing_whose_ticket_was_voided_is_over(api) -> None:
    org, seller, show, order = await _sold_setup(api)
    listed = await _listing(api, seller, order["tickets"][0]["id"], 2000)
    # The organizer refunds the seller's order: its tickets are void (the listing's among them).
    refunded = (await api.gql(REFUND, {"o": order["id"], "k": uuid.uuid4().hex}, org))["refundOrder"]
    assert refunded["status"] == "REFUNDED", refunded
    assert (await api.gql(LISTINGS, {"s": show["id"]}))["show"]["resaleListings"] == []
    assert (await api.gql(MY_LISTINGS, token=seller))["viewer"]["resaleListings"][0]["status"] == "WITHDRAWN"
    buyer, _ = await api.user()
    assert (await _hold(api, buyer, listed["id"]))["code"] == "SEATS_UNAVAILABLE"
    await assert_clean(api, show["id"])


async def test_a_buyer_checking_out_a_listing_whose_ticket_is_voided_is_not_charged(api) -> None:
    org, seller, show, order = await _sold_setup(api)
    listed = await _listing(api, seller, order["tickets"][0]["id"], 2000)
    buyer, _ = await api.user()
    held = await _hold(api, buyer, listed["id"])
    bought = (await api.gql(CREATE_ORDER, {"i": {"holdId": held["id"], "idempotencyKey": uuid.uuid4().hex}},
                            buyer))["createOrder"]
    assert bought["__typename"] == "Order", bought
    # Meanwhile the organizer refunds the seller's order: the listed ticket is void.
    refunded = (await api.gql(REFUND, {"o": order["id"], "k": uuid.uuid4().hex}, org))["refundOrder"]
    assert refunded["status"] == "REFUNDED", refunded
    paid = (await api.gql(CONFIRM, {"i": {"orderId": bought["id"], "paymentMethod": "pm_card_visa",
                                          "idempotencyKey": uuid.uuid4().hex}}, buyer))["confirmPayment"]
    # The refund ended the buyer's hold at once (checkout/tickets.py end_listing_holds): if the sweeper
    # cancelled the order before this call, it is refused as no longer payable; else as no longer for sale.
    assert (paid["code"] == "SEATS_UNAVAILABLE" and "not charged" in paid["message"]
            or paid["code"] == "HOLD_NOT_ACTIVE"), paid
    async with api.services.engine.connect() as conn:  # no PaymentIntent was made, so nothing was charged
        intent = (await conn.execute(text("SELECT intent_id FROM payments WHERE order_id = :o"),
                                     {"o": bought["id"]})).scalar_one()
    assert intent is None

    async def cancelled() -> bool:  # the hold lapsed with the ticket: a sweep ends it (this one or the app's,
        await release_expired_holds(api.services.engine)  # which may hold its row, skipped here, a moment)
        return (await order_of(api, buyer, bought["id"]))["status"] == "CANCELLED"

    await wait_until(cancelled, "the sweeper to cancel the buyer's order")
    await assert_clean(api, show["id"])


async def test_one_key_holds_one_listing_and_a_fan_holds_within_the_show_limit(api) -> None:
    org, _ = await api.user("organizer")
    seller, _ = await api.user()
    show = await api.show(org, max_tickets=2)
    order = await buy(api, seller, show, seats=show["seats"][:2])
    first, second = [await _listing(api, seller, t["id"], 5000) for t in order["tickets"]]
    buyer, _ = await api.user()
    key = uuid.uuid4().hex
    assert (await _hold(api, buyer, first["id"], key))["__typename"] == "Hold"
    assert (await _hold(api, buyer, second["id"], key))["code"] == "IDEMPOTENCY_CONFLICT"
    assert (await api.hold(buyer, show["id"], show["seats"][2:3]))["__typename"] == "Hold"  # 2 of 2 now
    assert (await _hold(api, buyer, second["id"]))["code"] == "LIMIT_EXCEEDED"


async def test_tickets_bought_count_toward_the_show_limit_when_buying_a_listing(api) -> None:
    """As holdSeats counts them: a fan who bought the show's limit cannot go past it through resale."""
    _, show, _, listed = await _one_listed(api)
    fan, _ = await api.user()
    await buy(api, fan, show, seats=show["seats"][1:3])  # the limit: 2
    assert (await _hold(api, fan, listed["id"]))["code"] == "LIMIT_EXCEEDED"


async def test_a_seat_hold_and_a_listing_hold_of_one_fan_at_once_stay_within_the_show_limit(api) -> None:
    """A holdSeats of the fan is in flight (its seat claimed, not yet committed) when the same fan holds a
    listing: the listing's hold waits for it and then counts it, as a second holdSeats would."""
    _, show, _, listed = await _one_listed(api)
    fan, _ = await api.user()
    assert (await api.hold(fan, show["id"], show["seats"][1:2]))["__typename"] == "Hold"  # 1 of 2
    fan_id = (await api.gql("{ viewer { id } }", token=fan))["viewer"]["id"]
    async with api.services.engine.connect() as in_flight:
        facts = (await in_flight.execute(text(
            "SELECT sh.version_sequence, sh.currency, (SELECT min(id) FROM show_seats WHERE show_id = sh.id "
            "AND status = 'A' AND position IS NOT NULL) AS seat FROM shows sh WHERE sh.id = :s"),
            {"s": show["id"]})).one()
        claimed = (await in_flight.execute(text(
            "SELECT outcome FROM hold_reserved_seats(:h, :u, :s, ARRAY[CAST(:seat AS bigint)], 'in-flight', 'x', "
            "600, 2, :seq, :c, false)"), {"h": uuid.uuid4(), "u": fan_id, "s": show["id"], "seat": facts.seat,
                                          "seq": facts.version_sequence, "c": facts.currency})).scalar_one()
        assert claimed == "ok"  # 2 of 2, uncommitted
        listing_hold = asyncio.ensure_future(_hold(api, fan, listed["id"]))
        await _until_waiting(api, listing_hold)  # on the fan's lock
        await in_flight.commit()
    assert (await listing_hold)["code"] == "LIMIT_EXCEEDED"


async def test_a_refund_of_the_seller_while_a_resale_settles_is_no_deadlock(api) -> None:
    """A resale's settlement locks the listed ticket, then its seat (migration 0015). The organizer's
    refund of the seller's order meanwhile locks them in the same order, so it waits and then refunds."""
    org, seller, show, order = await _sold_setup(api)
    ticket = next(t for t in order["tickets"] if t["seat"])
    await _listing(api, seller, ticket["id"], 2000)
    async with api.services.engine.connect() as settling:
        place = (await settling.execute(text("SELECT place_id FROM tickets WHERE id = :t FOR UPDATE"),
                                        {"t": ticket["id"]})).scalar_one()
        refund = asyncio.ensure_future(api.gql(REFUND, {"o": order["id"], "k": uuid.uuid4().hex}, org))
        await _until_waiting(api, refund)  # on the ticket's row lock
        await settling.execute(text("SELECT 1 FROM show_seats WHERE show_id = :s AND id = :p FOR UPDATE"),
                               {"s": show["id"], "p": place})
        await settling.rollback()
    assert (await refund)["refundOrder"]["status"] == "REFUNDED"
    await assert_clean(api, show["id"])


async def test_a_hold_on_a_listing_ends_when_its_ticket_is_voided(api) -> None:
    """The buyer learns at createOrder, not at the hold's expiry, and the ticket no longer counts toward their limit."""
    org, show, order, listed = await _one_listed(api, 2000)
    buyer, _ = await api.user()
    held = await _hold(api, buyer, listed["id"])
    assert (await api.hold(buyer, show["id"], show["seats"][1:2]))["__typename"] == "Hold"  # 2 of 2
    refunded = (await api.gql(REFUND, {"o": order["id"], "k": uuid.uuid4().hex}, org))["refundOrder"]
    assert refunded["status"] == "REFUNDED", refunded
    ordered = (await api.gql(CREATE_ORDER, {"i": {"holdId": held["id"], "idempotencyKey": uuid.uuid4().hex}},
                             buyer))["createOrder"]
    assert ordered["code"] == "HOLD_NOT_ACTIVE", ordered
    assert (await api.hold(buyer, show["id"], show["seats"][2:3]))["__typename"] == "Hold"  # 2 of 2 again
    await assert_clean(api, show["id"])
