"""The waitlist through GraphQL, on the real server (its own offer job and sweeper running): every
Problem of joinWaitlist / leaveWaitlist, User.waitlist positions, and a fan who joins a sold-out show,
gets refunded seats offered, buys them and is told (WAITLIST_OFFER in-app)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from booking.door.buying import CONFIRM, CREATE_ORDER, buy, refund_in_database
from support import wait_until

ENTRY = """__typename ... on WaitlistEntry { id quantity priceTierId status position createdAt show { id }
  offer { id status totalCents expiresAt seats { id status } } }
  ... on Rejected { code message field }"""
JOIN = f"""mutation($s: ID!, $q: Int!, $t: ID) {{ joinWaitlist(showId: $s, quantity: $q, priceTierId: $t) {{ {ENTRY} }} }}"""
LEAVE = f"""mutation($e: ID!) {{ leaveWaitlist(entryId: $e) {{ {ENTRY} }} }}"""
MINE = f"""{{ viewer {{ waitlist {{ {ENTRY.split('... on Rejected')[0]} }} notifications {{ kind subject }} }} }}"""


async def _mine(api, token) -> dict:
    return (await api.gql(MINE, None, token))["viewer"]


async def _until(check, timeout_s: float = 20.0):
    async with asyncio.timeout(timeout_s):
        while not (found := await check()):
            await asyncio.sleep(0.05)
    return found


async def test_join_and_leave_problems(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    other, _ = await api.user()
    show = await api.show(org, rows=1, seats=2, ga=0, max_tickets=4)

    async def join(token, show_id=show["id"], quantity=1, tier=None):
        return (await api.gql(JOIN, {"s": show_id, "q": quantity, "t": tier}, token))["joinWaitlist"]

    assert (await join(None))["code"] == "UNAUTHENTICATED"
    on_sale = await join(fan)
    assert (on_sale["code"], on_sale["field"]) == ("INVALID_INPUT", "quantity") and "on sale" in on_sale["message"]
    assert (await join(fan, show_id="nope"))["code"] == "INVALID_INPUT"
    assert (await join(fan, show_id=str(uuid.uuid4())))["code"] == "NOT_FOUND"
    assert (await join(fan, quantity=2 ** 31 - 1))["field"] == "quantity"
    assert (await join(fan, quantity=5))["field"] == "quantity"  # over the show's 4 per fan
    assert (await join(fan, tier=str(uuid.uuid4())))["field"] == "priceTierId"
    await buy(api, other, show["id"], show["seats"])  # sold out
    entry = await join(fan, quantity=2)
    assert (entry["__typename"], entry["status"], entry["position"], entry["offer"]) == (
        "WaitlistEntry", "WAITING", 1, None)
    assert (await join(fan, quantity=2))["id"] == entry["id"]
    assert (await join(fan, quantity=1))["code"] == "INVALID_INPUT"
    assert (await api.gql(LEAVE, {"e": entry["id"]}, None))["leaveWaitlist"]["code"] == "UNAUTHENTICATED"
    assert (await api.gql(LEAVE, {"e": "x"}, fan))["leaveWaitlist"]["code"] == "INVALID_INPUT"
    assert (await api.gql(LEAVE, {"e": entry["id"]}, other))["leaveWaitlist"]["code"] == "NOT_FOUND"
    left = (await api.gql(LEAVE, {"e": entry["id"]}, fan))["leaveWaitlist"]
    assert (left["status"], left["position"]) == ("LEFT", None)
    assert [(e["id"], e["status"]) for e in (await _mine(api, fan))["waitlist"]] == [(entry["id"], "LEFT")]
    assert (await _mine(api, other))["waitlist"] == []


async def test_refunded_seats_are_offered_first_and_bought(api) -> None:
    org, _ = await api.user("organizer")
    buyer, _ = await api.user()
    first, _ = await api.user()
    second, _ = await api.user()
    show = await api.show(org, rows=1, seats=3, ga=0)
    order = await buy(api, buyer, show["id"], show["seats"][:2])
    await buy(api, buyer, show["id"], show["seats"][2:])
    one = (await api.gql(JOIN, {"s": show["id"], "q": 2, "t": None}, first))["joinWaitlist"]
    two = (await api.gql(JOIN, {"s": show["id"], "q": 2, "t": None}, second))["joinWaitlist"]
    assert (one["position"], two["position"]) == (1, 2)

    await refund_in_database(api.services.engine, order["id"])  # two seats come back

    async def offered():
        mine = (await _mine(api, first))["waitlist"][0]
        return mine if mine["status"] == "OFFERED" else None

    entry = await _until(offered)
    offer = entry["offer"]
    assert (offer["status"], len(offer["seats"])) == ("ACTIVE", 2) and entry["position"] is None
    assert sorted(s["id"] for s in offer["seats"]) == sorted(show["seats"][:2])
    assert {s["status"] for s in offer["seats"]} == {"HELD"}
    assert (await _mine(api, second))["waitlist"][0]["position"] == 1
    # Nobody else can take them, not even the second in line.
    assert (await api.hold(second, show["id"], show["seats"][:1]))["__typename"] == "SeatsUnavailable"

    async def told():
        notes = (await _mine(api, first))["notifications"]
        return [n for n in notes if n["kind"] == "WAITLIST_OFFER"]

    assert "held for you" in (await _until(told))[0]["subject"]
    made = (await api.gql(CREATE_ORDER, {"i": {"holdId": offer["id"], "idempotencyKey": uuid.uuid4().hex}},
                          first))["createOrder"]
    assert made["__typename"] == "Order", made
    paid = (await api.gql(CONFIRM, {"i": {"orderId": made["id"], "paymentMethod": "pm_card_visa",
                                          "idempotencyKey": uuid.uuid4().hex}}, first))["confirmPayment"]
    assert paid["status"] == "CONFIRMED" and len(paid["tickets"]) == 2
    mine = (await _mine(api, first))["waitlist"][0]
    assert (mine["status"], mine["offer"]) == ("FULFILLED", None)
    assert (await _mine(api, second))["waitlist"][0]["status"] == "WAITING"


@pytest.mark.parametrize("field", ["waitlist"])
def test_user_waitlist_is_per_viewer(field) -> None:
    from boxoffice.schema.build import build_schema
    from boxoffice.schema.viewer_marks import VIEWER

    schema = build_schema()
    user = schema.get_type_by_name("User")
    assert any(f.python_name == field and f.metadata.get(VIEWER) for f in user.fields)  # type: ignore[union-attr]


async def test_fans_waiting_are_told_when_the_show_is_cancelled(api) -> None:
    """Their entries ended with no word."""
    org, _ = await api.user("organizer")
    buyer, _ = await api.user()
    waiting, waiting_id = await api.user()
    show = await api.show(org, rows=1, seats=1, ga=0)
    await buy(api, buyer, show["id"], show["seats"])
    assert (await api.gql(JOIN, {"s": show["id"], "q": 1, "t": None}, waiting))["joinWaitlist"]["position"] == 1
    cancel = "mutation($s: ID!) { cancelShow(showId: $s, reason: \"Venue flooded\") { __typename } }"
    assert (await api.gql(cancel, {"s": show["id"]}, org))["cancelShow"]["__typename"] == "Show"

    async def told() -> bool:
        async with api.services.engine.connect() as conn:
            return bool((await conn.execute(text(
                "SELECT count(*) FROM outbox WHERE user_id = :u AND payload->>'kind' = 'SHOW_CANCELLED' "
                "AND payload->>'showId' = :s AND (payload->>'waitlist')::boolean"),
                {"u": waiting_id, "s": show["id"]})).scalar_one() == 1)
    await wait_until(told, "the waiting fan told")
    assert (await _mine(api, waiting))["waitlist"][0]["status"] == "EXPIRED"
