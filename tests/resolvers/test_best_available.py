"""Show.bestAvailable through the API: together, nearest the stage, in the tier and accessibility asked,
read only, and [] once nothing fits."""

from __future__ import annotations

import uuid
from typing import Any

from support import CREATE_EVENT, CREATE_SHOW, CREATE_VENUE, PUBLISH

BEST_Q = """query($id: ID!, $q: Int!, $tier: ID, $acc: Boolean) { show(id: $id) {
  bestAvailable(quantity: $q, priceTierId: $tier, accessible: $acc) {
    id section row number status accessible priceCents } } }"""
SHOW_Q = """query($id: ID!) { show(id: $id) { maxTicketsPerUser priceTiers { id name }
  availability { codes } seats { id section row number } } }"""


async def _show(api, org: str, sections: list[dict[str, Any]], tiers: list[dict[str, Any]],
                max_tickets: int = 8) -> dict[str, Any]:
    venue = (await api.gql(CREATE_VENUE, {"input": {"name": f"Hall {uuid.uuid4().hex[:6]}", "city": "Porto",
                                                    "sections": sections}}, org))["createVenue"]
    event = (await api.gql(CREATE_EVENT, {"input": {"name": "Gig", "performer": "P", "category": "c",
                                                    "venueId": venue["id"]}}, org))["createEvent"]
    show = (await api.gql(CREATE_SHOW, {"input": {
        "eventId": event["id"], "currency": "EUR", "startsAt": "2031-01-01T20:00:00Z",
        "onSaleAt": "2020-01-01T00:00:00Z", "maxTicketsPerUser": max_tickets, "priceTiers": tiers}},
        org))["createShow"]
    assert show["__typename"] == "Show", show
    await api.gql(PUBLISH, {"id": event["id"]}, org)
    data = (await api.gql(SHOW_Q, {"id": show["id"]}))["show"]
    return {"id": show["id"], **data,
            "seat": {(s["section"], s["row"], s["number"]): s["id"] for s in data["seats"]}}


def _rows(section: str, rows: int, seats: int, **row_extra: Any) -> dict[str, Any]:
    return {"name": section, "rows": [{"label": chr(65 + r), "seatCount": seats, **row_extra} for r in range(rows)]}


async def _best(api, show_id: str, quantity: int, tier: str | None = None, accessible: bool | None = None,
                token: str | None = None) -> list[dict[str, Any]]:
    return (await api.gql(BEST_Q, {"id": show_id, "q": quantity, "tier": tier, "acc": accessible},
                          token))["show"]["bestAvailable"]


def _places(seats: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(s["section"], s["row"], int(s["number"])) for s in seats]


async def test_together_in_one_row_nearest_the_stage_and_nothing_held(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await _show(api, org, [_rows("Stalls", 4, 10)], [{"name": "All", "priceCents": 4000,
                                                              "sections": ["Stalls"]}])
    # The stage is in front of row A; seats 1..10 run left to right: the middle of row A first.
    best = await _best(api, show["id"], 3)
    assert _places(best) == [("Stalls", "A", 4), ("Stalls", "A", 5), ("Stalls", "A", 6)]
    assert all(s["status"] == "AVAILABLE" and s["priceCents"] == 4000 for s in best)
    assert _places(await _best(api, show["id"], 1)) == [("Stalls", "A", 5)]
    assert len(await _best(api, show["id"], 8)) == 8

    # Asking held nothing: the map is as it was, and another fan can hold exactly those seats.
    codes = (await api.gql(SHOW_Q, {"id": show["id"]}))["show"]["availability"]["codes"]
    assert codes == "A" * 40
    held = await api.hold(fan, show["id"], [s["id"] for s in best])
    assert held["__typename"] == "Hold", held

    # With the middle of row A gone, the middle of row B is nearer than what is left of row A.
    after = await _best(api, show["id"], 3, token=fan)  # the holder reads its own write at once
    assert _places(after) == [("Stalls", "B", 4), ("Stalls", "B", 5), ("Stalls", "B", 6)]
    # A pair still fits at row A's side, nearer than row B's middle.
    assert [p[1] for p in _places(await _best(api, show["id"], 2, token=fan))] == ["A", "A"]


async def test_adjacency_then_one_section_when_no_row_fits(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await _show(api, org, [_rows("Stalls", 2, 8)],
                       [{"name": "All", "priceCents": 4000, "sections": ["Stalls"]}], max_tickets=20)
    # Seat 4 of both rows taken: each row has runs of 3 (1-3) and 4 (5-8).
    held = await api.hold(fan, show["id"], [show["seat"][("Stalls", r, "4")] for r in "AB"])
    assert held["__typename"] == "Hold", held
    four = _places(await _best(api, show["id"], 4, token=fan))
    assert four == [("Stalls", "A", n) for n in (5, 6, 7, 8)]
    # Five together fit in no row: the five nearest seats of the section, all of them free.
    five = await _best(api, show["id"], 5, token=fan)
    assert len(five) == 5 and all(s["status"] == "AVAILABLE" for s in five)
    # Nearest the stage point (centre, in front of row A) whatever the row: B5 is nearer than A2 or A7
    # (which are as near as each other: either).
    places = _places(five)
    assert {("Stalls", "A", 3), ("Stalls", "A", 5), ("Stalls", "A", 6), ("Stalls", "B", 5)} < set(places)
    assert {("Stalls", "A", 2), ("Stalls", "A", 7)} & set(places)


async def test_tiers_and_accessible_seats(api) -> None:
    org, _ = await api.user("organizer")
    show = await _show(api, org, [
        {"name": "Front", "rows": [{"label": "A", "seatCount": 6, "accessibleSeats": [1, 2]},
                                   {"label": "B", "seatCount": 6}]},
        {"name": "Back", "rows": [{"label": "A", "seatCount": 6, "accessibleSeats": [5]},
                                  {"label": "B", "seatCount": 6}]},
        {"name": "Closed", "rows": [{"label": "A", "seatCount": 6}]},
    ], [{"name": "Premium", "priceCents": 9000, "sections": ["Front"]},
        {"name": "Cheap", "priceCents": 2000, "sections": ["Back"]}])
    tiers = {t["name"]: t["id"] for t in show["priceTiers"]}

    cheap = await _best(api, show["id"], 4, tier=tiers["Cheap"])
    assert len(cheap) == 4 and {s["section"] for s in cheap} == {"Back"}
    assert {s["priceCents"] for s in cheap} == {2000} and len({s["row"] for s in cheap}) == 1
    premium = await _best(api, show["id"], 2, tier=tiers["Premium"])
    assert {s["section"] for s in premium} == {"Front"}
    # Any tier: never the unpriced section (not on sale).
    assert all(s["section"] != "Closed" for s in await _best(api, show["id"], 6))

    accessible = await _best(api, show["id"], 2, accessible=True)
    assert _places(accessible) == [("Front", "A", 1), ("Front", "A", 2)]
    assert all(s["accessible"] for s in accessible)
    assert _places(await _best(api, show["id"], 1, tier=tiers["Cheap"], accessible=True)) == [("Back", "A", 5)]
    assert await _best(api, show["id"], 2, tier=tiers["Cheap"], accessible=True) == []  # one such seat
    assert await _best(api, show["id"], 3, accessible=True) == []  # no section has three

    for bad_tier in (str(uuid.uuid4()), "not-an-id"):
        body = await api.post(BEST_Q, {"id": show["id"], "q": 2, "tier": bad_tier})
        assert body["data"] is None or body["data"]["show"] is None
        assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND", "field": "priceTierId"}


async def test_quantity_bounds_are_a_clear_error(api) -> None:
    org, _ = await api.user("organizer")
    show = await _show(api, org, [_rows("Stalls", 1, 10)],
                       [{"name": "All", "priceCents": 4000, "sections": ["Stalls"]}], max_tickets=4)
    for quantity in (0, -1, 5, 2**31 - 1):
        body = await api.post(BEST_Q, {"id": show["id"], "q": quantity})
        assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "quantity"}, quantity
        assert "between 1 and 4" in body["errors"][0]["message"]
    assert len(await _best(api, show["id"], 4)) == 4


async def test_a_sold_out_show_gives_an_empty_list(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await _show(api, org, [_rows("Stalls", 2, 5)],
                       [{"name": "All", "priceCents": 4000, "sections": ["Stalls"]}], max_tickets=10)
    held = await api.hold(fan, show["id"], list(show["seat"].values()))
    assert held["__typename"] == "Hold", held
    assert await _best(api, show["id"], 1, token=fan) == []
    assert await _best(api, show["id"], 2, accessible=True, token=fan) == []
