"""Passing a ticket to a friend: offer, accept (new barcode, old one void), cancel, and every refusal."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from boxoffice.booking.accounts.sign_in import create_user
from boxoffice.booking.after_sale import transfers
from boxoffice.booking.door.check_in import check_in_ticket
from boxoffice.booking.errors import BookingError
from boxoffice.booking.records import Viewer
from boxoffice.notifications.deliver import compose
from support import wait_for_a_lock_wait

from .journeys import (ACCEPT, CANCEL, LIST, TRANSFER_TICKET, WITHDRAW, assert_clean, buy, email_of, order_of,
                       revoked_reason, told)

CHECK_IN = """mutation($s: ID!, $b: String!) { checkInTicket(showId: $s, barcode: $b) {
  __typename ... on CheckIn { checkedInAt } ... on Rejected { code message } } }"""
INCOMING = "{ viewer { incomingTransfers { id status toEmail ticket { id barcode qrSvg } } } }"


async def _bought(api):
    org, _ = await api.user("organizer")
    seller, _ = await api.user()
    show = await api.show(org)
    order = await buy(api, seller, show, seats=show["seats"][:2])
    return org, seller, show, order


async def _offer(api, token, ticket_id, email):
    return (await api.gql(TRANSFER_TICKET, {"t": ticket_id, "e": email}, token))["transferTicket"]


async def test_a_friend_accepts_and_gets_a_new_barcode(api) -> None:
    org, seller, show, order = await _bought(api)
    friend, _ = await api.user()
    friend_email = await email_of(api, friend)
    ticket = order["tickets"][0]
    offered = await _offer(api, seller, ticket["id"], friend_email.upper())
    assert offered["status"] == "PENDING" and offered["toEmail"] == friend_email.lower(), offered
    assert (await _offer(api, seller, ticket["id"], friend_email))["id"] == offered["id"]  # a retry: the same one
    mine = await order_of(api, seller, order["id"])
    assert [t["transfer"] for t in mine["tickets"] if t["id"] == ticket["id"]][0]["status"] == "PENDING"
    incoming = (await api.gql(INCOMING, token=friend))["viewer"]["incomingTransfers"]
    assert [(x["id"], x["status"]) for x in incoming] == [(offered["id"], "PENDING")]
    assert incoming[0]["ticket"]["barcode"] == ""  # not theirs yet: no code to copy, nor one to scan
    assert "NOT YOURS" in incoming[0]["ticket"]["qrSvg"] and "<path" not in incoming[0]["ticket"]["qrSvg"]

    accepted = (await api.gql(ACCEPT, {"x": offered["id"]}, friend))["acceptTransfer"]
    assert accepted["__typename"] == "Ticket" and accepted["status"] == "VALID", accepted
    assert accepted["barcode"] != ticket["barcode"] and accepted["seat"]["id"] == ticket["seat"]["id"]
    again = (await api.gql(ACCEPT, {"x": offered["id"]}, friend))["acceptTransfer"]
    assert again["id"] == accepted["id"] and again["barcode"] == accepted["barcode"]  # a retry: the same ticket
    assert await revoked_reason(api, ticket["barcode"]) == "transferred"

    # The buyer's order lists it VOID (its old id, once); the friend can print it, the buyer cannot.
    assert [(t["id"], t["status"]) for t in (await order_of(api, seller, order["id"]))["tickets"]] == [
        (ticket["id"], "VOID"), (order["tickets"][1]["id"], "VALID")]
    pdf = await api.client.get(f"/tickets/{accepted['id']}.pdf", headers={"Authorization": f"Bearer {friend}"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    stolen = await api.client.get(f"/tickets/{accepted['id']}.pdf", headers={"Authorization": f"Bearer {seller}"})
    assert stolen.status_code == 404

    # At the door: the old barcode is void, the new one admits once.
    old = (await api.gql(CHECK_IN, {"s": show["id"], "b": ticket["barcode"]}, org))["checkInTicket"]
    assert old["code"] == "TICKET_VOID", old
    new = (await api.gql(CHECK_IN, {"s": show["id"], "b": accepted["barcode"]}, org))["checkInTicket"]
    assert new["__typename"] == "CheckIn", new

    assert [m["stage"] for m in await told(api, seller, "TICKET_TRANSFERRED")] == ["accepted"]
    assert [m["stage"] for m in await told(api, friend, "TICKET_TRANSFERRED")] == ["offered", "received"]
    await assert_clean(api, show["id"])


async def test_an_account_made_after_the_offer_can_accept_it(api) -> None:
    _, seller, show, order = await _bought(api)
    email = f"Later-{uuid.uuid4().hex[:8]}@example.test"
    offered = await _offer(api, seller, order["tickets"][0]["id"], email)
    assert offered["status"] == "PENDING"
    record = await create_user(api.services.engine, email=email, password="correct horse battery staple",
                               name="Later")
    later = api.services.tokens.issue(record)
    accepted = (await api.gql(ACCEPT, {"x": offered["id"]}, later))["acceptTransfer"]
    assert accepted["__typename"] == "Ticket", accepted
    incoming = (await api.gql(INCOMING, token=later))["viewer"]["incomingTransfers"]
    assert incoming[0]["status"] == "ACCEPTED" and incoming[0]["ticket"]["barcode"] == accepted["barcode"]
    await assert_clean(api, show["id"])


async def test_an_offer_goes_to_the_account_of_the_address_not_to_a_look_alike(api) -> None:
    """Addresses fold as accounts do (PostgreSQL's lower): Python's would turn "İ" into "i" + U+0307,
    the address of another account."""
    org, seller, show, order = await _bought(api)
    tag = uuid.uuid4().hex[:8]
    owner_email, look_alike_email = f"\u0130lker-{tag}@example.test", f"i\u0307lker-{tag}@example.test"
    owner = api.services.tokens.issue(await create_user(
        api.services.engine, email=owner_email, password="correct horse battery staple", name="Ilker"))
    look_alike = api.services.tokens.issue(await create_user(
        api.services.engine, email=look_alike_email, password="correct horse battery staple", name="Other"))
    offered = await _offer(api, seller, order["tickets"][0]["id"], owner_email)
    assert offered["status"] == "PENDING", offered
    assert (await api.gql(INCOMING, token=look_alike))["viewer"]["incomingTransfers"] == []
    assert (await api.gql(ACCEPT, {"x": offered["id"]}, look_alike))["acceptTransfer"]["code"] == "NOT_FOUND"
    assert [x["id"] for x in (await api.gql(INCOMING, token=owner))["viewer"]["incomingTransfers"]] == [offered["id"]]
    assert (await api.gql(ACCEPT, {"x": offered["id"]}, owner))["acceptTransfer"]["__typename"] == "Ticket"
    await assert_clean(api, show["id"])


async def test_every_refusal_is_a_typed_problem(api) -> None:
    org, seller, show, order = await _bought(api)
    friend, _ = await api.user()
    stranger, _ = await api.user()
    friend_email = await email_of(api, friend)
    ticket, other = order["tickets"]
    assert (await _offer(api, stranger, ticket["id"], friend_email))["code"] == "NOT_FOUND"
    assert (await _offer(api, seller, "not-an-id", friend_email))["code"] == "INVALID_INPUT"
    assert (await _offer(api, seller, ticket["id"], "not an email"))["field"] == "toEmail"
    for several in (f"postmaster,{friend_email}", f"{friend_email},(x)", f"x<{friend_email}>"):  # one address only
        assert (await _offer(api, seller, ticket["id"], several))["field"] == "toEmail", several
    assert (await _offer(api, seller, ticket["id"], await email_of(api, seller)))["code"] == "INVALID_INPUT"
    body = await api.post(TRANSFER_TICKET, {"t": ticket["id"], "e": friend_email})
    assert body["data"]["transferTicket"]["code"] == "UNAUTHENTICATED"

    offered = await _offer(api, seller, ticket["id"], friend_email)
    elsewhere = await _offer(api, seller, ticket["id"], await email_of(api, stranger))
    assert elsewhere["code"] == "INVALID_INPUT" and "cancel" in elsewhere["message"]
    assert (await api.gql(ACCEPT, {"x": offered["id"]}, stranger))["acceptTransfer"]["code"] == "NOT_FOUND"
    assert (await api.gql(CANCEL, {"x": offered["id"]}, friend))["cancelTransfer"]["code"] == "NOT_FOUND"
    cancelled = (await api.gql(CANCEL, {"x": offered["id"]}, seller))["cancelTransfer"]
    assert cancelled["status"] == "CANCELLED", cancelled
    assert (await api.gql(CANCEL, {"x": offered["id"]}, seller))["cancelTransfer"]["code"] == "TRANSFER_NOT_PENDING"
    assert (await api.gql(ACCEPT, {"x": offered["id"]}, friend))["acceptTransfer"]["code"] == "TRANSFER_NOT_PENDING"

    # Checked in: no longer transferable.
    admitted = (await api.gql(CHECK_IN, {"s": show["id"], "b": other["barcode"]}, org))["checkInTicket"]
    assert admitted["__typename"] == "CheckIn", admitted
    assert (await _offer(api, seller, other["id"], friend_email))["code"] == "ALREADY_CHECKED_IN"
    await assert_clean(api, show["id"])


async def test_accept_cancel_and_check_in_of_one_ticket_exactly_one_wins(api) -> None:
    engine, secret = api.services.engine, api.services.settings.secret
    org_token, org_id = await api.user("organizer")
    seller, seller_id = await api.user()
    friend, friend_id = await api.user()
    friend_email = await email_of(api, friend)
    show = await api.show(org_token, rows=2, seats=5)
    order = await buy(api, seller, show, seats=show["seats"][:8])
    org = Viewer(uuid.UUID(org_id), "organizer")
    outcomes: dict[str, int] = {}
    for ticket in order["tickets"]:
        offered = await _offer(api, seller, ticket["id"], friend_email)
        x = uuid.UUID(offered["id"])

        async def accept() -> str:
            await transfers.accept_transfer(engine, secret, Viewer(uuid.UUID(friend_id), "fan"), x)
            return "accepted"

        async def cancel() -> str:
            await transfers.cancel_transfer(engine, Viewer(uuid.UUID(seller_id), "fan"), x)
            return "cancelled"

        async def admit() -> str:
            await check_in_ticket(engine, api.services.shows.get, secret, org, uuid.UUID(show["id"]),
                                  ticket["barcode"])
            return "checked_in"

        results = await asyncio.gather(accept(), cancel(), admit(), return_exceptions=True)
        won = {r for r in results if isinstance(r, str)}
        assert all(isinstance(r, BookingError) for r in results if not isinstance(r, str)), results
        # One of them decides the offer: accepted (nothing else happens: the old barcode is void), cancelled
        # by the sender, or ended by the check-in. The one pair that can both succeed is a cancel that
        # took the ticket's row first and then the sender's own check-in (the ticket was theirs again).
        assert len(won) == 1 or won == {"cancelled", "checked_in"}, results
        async with engine.connect() as conn:
            state = (await conn.execute(text(
                "SELECT x.status, t.status AS ticket, t.barcode, t.holder_id FROM ticket_transfers x "
                "LEFT JOIN tickets t ON t.id = x.ticket_id WHERE x.id = :x"), {"x": x})).one()
        if "accepted" in won:  # the friend's ticket now: re-issued, so the seller's row and barcode are gone
            assert state.status == "accepted" and state.ticket is None
        else:  # still the seller's ticket, with its barcode; the offer is over
            assert state.status == "cancelled" and state.holder_id is None and state.barcode == ticket["barcode"]
            assert state.ticket == ("checked_in" if "checked_in" in won else "valid")
        key = "+".join(sorted(won))
        outcomes[key] = outcomes.get(key, 0) + 1
    assert sum(outcomes.values()) == 8, outcomes
    await assert_clean(api, show["id"])


REFUND = """mutation($o: ID!, $k: String!) { refundOrder(orderId: $o, idempotencyKey: $k) {
  __typename ... on Order { id status } ... on Rejected { code message field } } }"""
POLICY = """mutation($s: ID!, $i: RefundPolicyInput!) { setRefundPolicy(showId: $s, input: $i) { __typename } }"""


async def test_a_fan_refunds_only_an_order_whose_tickets_are_all_still_theirs(api) -> None:
    """Else a fan could sell a ticket by transfer, take the money back and void the buyer's ticket.
    An offer or a listing is ended first; the organizer's refund voids the tickets wherever they are."""
    org, seller, show, order = await _bought(api)
    assert (await api.gql(POLICY, {"s": show["id"], "i": {"fanRefundsUntilHoursBefore": 1}}, org))[
        "setRefundPolicy"]["__typename"] == "Show"
    friend, _ = await api.user()
    first, second = order["tickets"]
    refund = lambda who: api.gql(REFUND, {"o": order["id"], "k": uuid.uuid4().hex}, who)  # noqa: E731

    offered = await _offer(api, seller, first["id"], await email_of(api, friend))
    refused = (await refund(seller))["refundOrder"]
    assert (refused["code"], refused["message"]) == (
        "NOT_REFUNDABLE", "A ticket of this order is offered in a transfer; cancel the transfer first."), refused
    listed = (await api.gql(LIST, {"t": second["id"], "p": 100}, seller))["listForResale"]
    assert listed["__typename"] == "ResaleListing", listed
    accepted = (await api.gql(ACCEPT, {"x": offered["id"]}, friend))["acceptTransfer"]
    assert accepted["__typename"] == "Ticket", accepted
    refused = (await refund(seller))["refundOrder"]
    assert refused["code"] == "NOT_REFUNDABLE" and "transferred to someone else" in refused["message"], refused
    assert (await order_of(api, seller, order["id"]))["status"] == "CONFIRMED"
    assert (await api.gql(CHECK_IN, {"s": show["id"], "b": accepted["barcode"]}, org))[
        "checkInTicket"]["__typename"] == "CheckIn"  # the friend's ticket still admits

    organizer = (await refund(org))["refundOrder"]
    assert organizer["status"] == "REFUNDED", organizer
    # The friend holds a ticket of it: told it is void too, without the buyer's order.
    [notice] = await told(api, friend, "ORDER_REFUNDED")
    assert notice["holder"] is True and "orderId" not in notice, notice
    composed = compose("ORDER_REFUNDED", notice, name="Friend", show=None, order=None, hold=None)
    assert composed.subject == "Your ticket for your event is no longer valid"
    assert "the order it came from was refunded to its buyer" in composed.body
    assert [n.get("holder") for n in await told(api, seller, "ORDER_REFUNDED")] == [None]
    await assert_clean(api, show["id"])


async def test_a_fan_refund_waits_for_a_listing_to_be_withdrawn(api) -> None:
    org, seller, show, order = await _bought(api)
    await api.gql(POLICY, {"s": show["id"], "i": {"fanRefundsUntilHoursBefore": 1}}, org)
    listed = (await api.gql(LIST, {"t": order["tickets"][0]["id"], "p": 100}, seller))["listForResale"]
    refused = (await api.gql(REFUND, {"o": order["id"], "k": uuid.uuid4().hex}, seller))["refundOrder"]
    assert refused["message"] == "A ticket of this order is listed for resale; withdraw the listing first.", refused
    assert (await api.gql(WITHDRAW, {"l": listed["id"]}, seller))["withdrawResale"]["status"] == "WITHDRAWN"
    assert (await api.gql(REFUND, {"o": order["id"], "k": uuid.uuid4().hex}, seller))["refundOrder"][
        "status"] == "REFUNDED"
    await assert_clean(api, show["id"])


async def test_a_ticket_received_by_transfer_is_passed_on_by_transfer_not_resold(api) -> None:
    """A resale pays its price back to the card that bought the ticket: the sender's, not the friend's."""
    org, seller, show, order = await _bought(api)
    friend, _ = await api.user()
    offered = await _offer(api, seller, order["tickets"][0]["id"], await email_of(api, friend))
    accepted = (await api.gql(ACCEPT, {"x": offered["id"]}, friend))["acceptTransfer"]
    listed = (await api.gql(LIST, {"t": accepted["id"], "p": 100}, friend))["listForResale"]
    assert listed["code"] == "INVALID_INPUT" and "Pass this one on with a transfer" in listed["message"], listed
    onward = await _offer(api, friend, accepted["id"], await email_of(api, (await api.user())[0]))
    assert onward["status"] == "PENDING", onward
    await assert_clean(api, show["id"])


async def test_offering_and_cancelling_in_a_loop_stops_at_the_transfer_limit(api) -> None:
    """Every offer notifies and mails its recipient: a loop of offers is refused past the default limit
    (BOXOFFICE_LIMIT_TRANSFER_PER_USER, 20 an hour), so nobody can be mailed without end."""
    org, seller, show, order = await _bought(api)
    friend, _ = await api.user()
    email = await email_of(api, friend)
    answers = []
    for _ in range(21):
        offered = await _offer(api, seller, order["tickets"][0]["id"], email)
        answers.append(offered.get("code") or offered["status"])
        if offered.get("id"):
            await api.gql(CANCEL, {"x": offered["id"]}, seller)
    assert answers == ["PENDING"] * 20 + ["RATE_LIMITED"], answers
    stages = [m["stage"] for m in await told(api, friend, "TICKET_TRANSFERRED")]
    assert (stages.count("offered"), stages.count("withdrawn"), len(stages)) == (20, 20, 40)  # each taken back


async def test_only_new_offers_count_toward_the_transfer_limit(api) -> None:
    """A retried offer (the same pending one) and a mistyped address make no offer and mail nobody:
    they cost the sender none of their 20 offers an hour."""
    _, seller, show, order = await _bought(api)
    friend, _ = await api.user()
    email = await email_of(api, friend)
    ticket = order["tickets"][0]["id"]
    first = await _offer(api, seller, ticket, email)
    retries = [await _offer(api, seller, ticket, email) for _ in range(25)]
    assert {r.get("id") for r in retries} == {first["id"]}, retries[-1]
    typos = [await _offer(api, seller, ticket, "not an address") for _ in range(5)]
    assert {t.get("code") for t in typos} == {"INVALID_INPUT"}, typos[-1]
    await api.gql(CANCEL, {"x": first["id"]}, seller)
    answers = []
    for _ in range(20):
        offered = await _offer(api, seller, ticket, email)
        answers.append(offered.get("code") or offered["status"])
        if offered.get("id"):
            await api.gql(CANCEL, {"x": offered["id"]}, seller)
    assert answers == ["PENDING"] * 19 + ["RATE_LIMITED"], answers  # the first offer was one of the 20
    await assert_clean(api, show["id"])


async def test_offers_cancelled_by_others_never_push_a_received_ticket_out_of_the_list(api) -> None:
    """incomingTransfers holds 100: a received ticket used to rank by date among cancelled offers,
    and 100 offers made and cancelled by others hid it (a fan's received tickets are found there)."""
    _, seller, show, order = await _bought(api)
    friend, _ = await api.user()
    email = await email_of(api, friend)
    offered = await _offer(api, seller, order["tickets"][0]["id"], email)
    received = (await api.gql(ACCEPT, {"x": offered["id"]}, friend))["acceptTransfer"]
    spammer_id = uuid.UUID((await api.gql("{ viewer { id } }", token=seller))["viewer"]["id"])
    spammer = Viewer(spammer_id, "fan")
    other = uuid.UUID(order["tickets"][1]["id"])
    for _ in range(transfers.MAX_INCOMING):  # the domain's calls: no rate limit in the way
        spam = await transfers.transfer_ticket(api.services.engine, spammer, other, email)
        await transfers.cancel_transfer(api.services.engine, spammer, spam.id)
    incoming = (await api.gql(INCOMING, token=friend))["viewer"]["incomingTransfers"]
    assert len(incoming) == transfers.MAX_INCOMING
    assert (incoming[0]["status"], incoming[0]["ticket"]["id"]) == ("ACCEPTED", received["id"]), incoming[0]
    assert {x["status"] for x in incoming[1:]} == {"CANCELLED"}
    await assert_clean(api, show["id"])


@pytest.mark.parametrize("by", ["organizer", "fan"])
async def test_a_refund_while_an_acceptance_hands_a_ticket_over_waits_for_it(api, by: str) -> None:
    """An acceptance (or a resale's settlement) locks the ticket, then writes a revocation row naming
    the ticket's order, whose foreign key share-locks the order row. A refund locks the order row,
    then the tickets: it must not hold the order in a way that share lock waits for (a deadlock, and
    'Unexpected error.' for one of the two)."""
    org, seller, show, order = await _bought(api)
    await api.gql(POLICY, {"s": show["id"], "i": {"fanRefundsUntilHoursBefore": 1}}, org)
    ticket = order["tickets"][0]
    async with api.services.engine.connect() as handing_over:
        await handing_over.execute(text("SELECT 1 FROM tickets WHERE id = :t FOR UPDATE"), {"t": ticket["id"]})
        refund = asyncio.ensure_future(api.gql(REFUND, {"o": order["id"], "k": uuid.uuid4().hex},
                                               org if by == "organizer" else seller))
        await wait_for_a_lock_wait(api.services.engine, "the refund waiting for the ticket")
        # What the revocation row's foreign key takes: granted at once, beside the refund's lock.
        await handing_over.execute(text("SET LOCAL lock_timeout = '5s'"))
        await handing_over.execute(text("SELECT 1 FROM orders WHERE id = :o FOR KEY SHARE"), {"o": order["id"]})
        await handing_over.rollback()
    assert (await refund)["refundOrder"]["status"] == "REFUNDED"
    await assert_clean(api, show["id"])


async def test_a_fan_refund_while_a_ticket_is_being_offered_is_refused(api) -> None:
    """The offer locks the ticket and writes the transfer; the refund waits for the ticket and must
    then see the offer, as it does when the two come one after the other."""
    org, seller, show, order = await _bought(api)
    await api.gql(POLICY, {"s": show["id"], "i": {"fanRefundsUntilHoursBefore": 1}}, org)
    ticket = order["tickets"][0]
    async with api.services.engine.connect() as offering:
        await offering.execute(text("SELECT 1 FROM tickets WHERE id = :t FOR UPDATE"), {"t": ticket["id"]})
        refund = asyncio.ensure_future(api.gql(REFUND, {"o": order["id"], "k": uuid.uuid4().hex}, seller))
        await wait_for_a_lock_wait(api.services.engine, "the refund waiting for the ticket")
        await offering.execute(text(
            "INSERT INTO ticket_transfers (ticket_id, show_id, from_user_id, to_email, from_barcode) "
            "SELECT :t, :s, o.user_id, 'friend@example.test', :b FROM orders o WHERE o.id = :o"),
            {"t": ticket["id"], "s": show["id"], "b": ticket["barcode"], "o": order["id"]})
        await offering.commit()
    refused = (await refund)["refundOrder"]
    assert refused["code"] == "NOT_REFUNDABLE" and "offered in a transfer" in refused["message"], refused
    assert (await order_of(api, seller, order["id"]))["status"] == "CONFIRMED"
    await assert_clean(api, show["id"])


async def test_the_recipient_is_told_when_an_offer_ends_before_they_accept(api) -> None:
    """Taken back by its sender, or its ticket voided by a refund: the recipient's only word was the
    offer, and a voided ticket's offer stayed PENDING until accepting it failed."""
    org, seller, show, order = await _bought(api)
    friend, _ = await api.user()
    email = await email_of(api, friend)
    first, second = order["tickets"]
    taken_back = await _offer(api, seller, first["id"], email)
    assert (await api.gql(CANCEL, {"x": taken_back["id"]}, seller))["cancelTransfer"]["status"] == "CANCELLED"
    voided = await _offer(api, seller, second["id"], email)
    refund = """mutation($o: ID!, $k: String!) { refundOrder(orderId: $o, idempotencyKey: $k) {
      __typename ... on Order { status } ... on Rejected { code } } }"""
    # An offer pending keeps the fan's own refund back, not the organizer's.
    assert (await api.gql(refund, {"o": order["id"], "k": uuid.uuid4().hex}, org))["refundOrder"] == {
        "__typename": "Order", "status": "REFUNDED"}
    incoming = (await api.gql(INCOMING, token=friend))["viewer"]["incomingTransfers"]
    assert {x["id"]: x["status"] for x in incoming} == {taken_back["id"]: "CANCELLED", voided["id"]: "CANCELLED"}
    ended = [m for m in await told(api, friend, "TICKET_TRANSFERRED") if m["stage"] == "withdrawn"]
    assert sorted(m["transferId"] for m in ended) == sorted([taken_back["id"], voided["id"]])
    notice = compose("TICKET_TRANSFERRED", ended[0], name="Ana", show=None, order=None, hold=None)
    assert "no longer available" in notice.subject and "not charged" in notice.body
    await assert_clean(api, show["id"])
