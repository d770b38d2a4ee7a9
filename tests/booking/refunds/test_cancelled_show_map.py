"""A cancelled show's seat map: nothing on sale, though its voided orders put their seats back."""

from __future__ import annotations

import asyncio
import json
import uuid

import websockets
from sqlalchemy import text

from support import wait_until

from ..after_sale.journeys import buy

MAP = """query($s: ID!) { show(id: $s) { status availability { codes sections { generalAdmission available } }
  seats { status } bestAvailable(quantity: 1) { id } } }"""
CANCEL = "mutation($s: ID!) { cancelShow(showId: $s, reason: \"Storm damage\") { __typename } }"


async def test_a_cancelled_shows_map_offers_nothing(api) -> None:
    org, _ = await api.user("organizer")
    show = await api.show(org, rows=1, seats=4, ga=5)
    fan, _ = await api.user()
    order = await buy(api, fan, show, seats=show["seats"][:2], ga=1)
    before = (await api.gql(MAP, {"s": show["id"]}))["show"]
    assert before["availability"]["codes"] == "SSAA" and before["bestAvailable"], before

    assert (await api.gql(CANCEL, {"s": show["id"]}, org))["cancelShow"]["__typename"] == "Show"

    async def voided() -> bool:
        status = (await api.gql("query($o: ID!) { order(id: $o) { status } }", {"o": order["id"]}, fan))
        return bool(status["order"]["status"] == "REFUNDED")
    await wait_until(voided, "the cancelled show's order voided")  # its seats are back as available

    async def closed() -> bool:
        shown = (await api.gql(MAP, {"s": show["id"]}))["show"]
        return bool(shown["status"] == "CANCELLED" and shown["availability"]["codes"] == "BBBB")
    await wait_until(closed, "the map closed")
    for token in (None, fan, org):
        shown = (await api.gql(MAP, {"s": show["id"]}, token))["show"]
        assert shown["availability"] == {"codes": "BBBB", "sections": [
            {"generalAdmission": False, "available": 0}, {"generalAdmission": True, "available": 0}]}, shown
        assert {s["status"] for s in shown["seats"]} == {"BLOCKED"} and shown["bestAvailable"] == []

    # A live map of it is refused as the holds are: nothing will go on sale.
    async with websockets.connect(f"ws://127.0.0.1:{api.port}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        op = uuid.uuid4().hex
        await ws.send(json.dumps({"type": "subscribe", "id": op, "payload": {
            "query": "subscription($s: ID!) { seatChanges(showId: $s) { version } }", "variables": {"s": show["id"]}}}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert answer["payload"]["errors"][0]["extensions"]["code"] == "SHOW_CANCELLED", answer


async def test_a_started_shows_map_offers_nothing_and_keeps_what_was_sold(api) -> None:
    """Holds are refused once a show starts ("This show has started."): the map said every unsold
    place was available, and bestAvailable offered them."""
    org, _ = await api.user("organizer")
    show = await api.show(org, rows=1, seats=4, ga=5)
    await buy(api, (await api.user())[0], show, seats=show["seats"][:1])
    async with api.services.engine.begin() as conn:
        await conn.execute(text("UPDATE shows SET starts_at = now() - interval '1 minute' WHERE id = :s"),
                           {"s": show["id"]})

    async def closed() -> bool:
        shown = (await api.gql(MAP, {"s": show["id"]}))["show"]
        return bool(shown["availability"]["codes"] == "SBBB")
    await wait_until(closed, "the map closed")  # once this process's show cache has the new time
    shown = (await api.gql(MAP, {"s": show["id"]}, org))["show"]
    assert [s["available"] for s in shown["availability"]["sections"]] == [0, 0]
    assert [s["status"] for s in shown["seats"]] == ["SOLD", "BLOCKED", "BLOCKED", "BLOCKED"]
    assert shown["bestAvailable"] == []
