"""A void ticket stays on its buyer's order, VOID (issues 19/20): refunded, or transferred away, it is
listed once under its old id, with its revoked barcode but no code to scan and no PDF to print."""

from __future__ import annotations

import uuid

from ..after_sale.journeys import ACCEPT, TRANSFER_TICKET, assert_clean, buy, email_of

TICKET = "id barcode status checkedInAt qrSvg seat { id } sectionId"
ORDER_Q = f"query($id: ID!) {{ order(id: $id) {{ id status tickets {{ {TICKET} }} }} }}"
REFUND = """mutation($o: ID!, $k: String!) { refundOrder(orderId: $o, idempotencyKey: $k) {
  __typename ... on Order { id status tickets { id status } } ... on Rejected { code message field } } }"""
POLICY = """mutation($s: ID!, $i: RefundPolicyInput!) { setRefundPolicy(showId: $s, input: $i) {
  __typename ... on Show { id } ... on Rejected { code message } } }"""
CHECK_IN = """mutation($s: ID!, $b: String!) { checkInTicket(showId: $s, barcode: $b) {
  __typename ... on CheckIn { checkedInAt } ... on Rejected { code message } } }"""


async def _order(api, token: str, order_id: str) -> dict:
    return dict((await api.gql(ORDER_Q, {"id": order_id}, token))["order"])


async def _pdf_status(api, token: str, ticket_id: str) -> int:
    response = await api.client.get(f"/tickets/{ticket_id}.pdf", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


def _shown(order: dict) -> list[tuple[str, str]]:
    return [(t["id"], t["status"]) for t in order["tickets"]]


async def test_a_refunded_order_lists_its_tickets_void(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(org)
    bought = await _order(api, fan, (await buy(api, fan, show, seats=show["seats"][:2], ga=1))["id"])
    assert [t["status"] for t in bought["tickets"]] == ["VALID"] * 3
    assert all("VOID" not in t["qrSvg"] for t in bought["tickets"])
    assert await _pdf_status(api, fan, bought["tickets"][0]["id"]) == 200

    await api.gql(POLICY, {"s": show["id"], "i": {"fanRefundsUntilHoursBefore": 24}}, org)
    refunded = (await api.gql(REFUND, {"o": bought["id"], "k": uuid.uuid4().hex}, fan))["refundOrder"]
    assert refunded["status"] == "REFUNDED", refunded

    seen = await _order(api, fan, bought["id"])
    assert seen["status"] == "REFUNDED"
    # The same tickets, in the same (map) order, each once, now VOID: the fan sees what they had.
    assert _shown(seen) == [(t["id"], "VOID") for t in bought["tickets"]]
    for before, after in zip(bought["tickets"], seen["tickets"]):
        assert after["barcode"] == before["barcode"] and after["seat"] == before["seat"]
        assert after["sectionId"] == before["sectionId"] and after["checkedInAt"] is None
        # No code to scan on screen, no ticket to print; the door refuses the old barcode.
        assert "VOID" in after["qrSvg"] and after["qrSvg"] != before["qrSvg"]
        assert await _pdf_status(api, fan, after["id"]) == 404
    door = (await api.gql(CHECK_IN, {"s": show["id"], "b": seen["tickets"][0]["barcode"]}, org))["checkInTicket"]
    assert door["code"] == "TICKET_VOID", door
    await assert_clean(api, show["id"])


async def test_a_ticket_transferred_away_is_void_for_its_buyer_once(api) -> None:
    org, _ = await api.user("organizer")
    buyer, _ = await api.user()
    friend, _ = await api.user()
    show = await api.show(org)
    order = await buy(api, buyer, show, seats=show["seats"][:2])
    first, second = order["tickets"]

    async def hand(token: str, ticket_id: str, to: str) -> dict:
        offer = (await api.gql(TRANSFER_TICKET, {"t": ticket_id, "e": await email_of(api, to)}, token))
        accepted = (await api.gql(ACCEPT, {"x": offer["transferTicket"]["id"]}, to))["acceptTransfer"]
        assert accepted["__typename"] == "Ticket", accepted
        return dict(accepted)

    # Given to a friend: the buyer's old ticket is VOID (listed once), the friend's new one is not theirs.
    theirs = await hand(buyer, first["id"], friend)
    seen = await _order(api, buyer, order["id"])
    assert sorted(_shown(seen)) == sorted([(first["id"], "VOID"), (second["id"], "VALID")])
    assert theirs["id"] not in {t["id"] for t in seen["tickets"]}
    assert await _pdf_status(api, buyer, first["id"]) == 404
    assert await _pdf_status(api, friend, theirs["id"]) == 200

    # Given back: the buyer holds it again under a third id; the friend's (void) id was never the buyer's.
    back = await hand(friend, theirs["id"], buyer)
    seen = await _order(api, buyer, order["id"])
    assert sorted(_shown(seen)) == sorted([(first["id"], "VOID"), (second["id"], "VALID"), (back["id"], "VALID")])
    assert await _pdf_status(api, buyer, back["id"]) == 200
    await assert_clean(api, show["id"])
