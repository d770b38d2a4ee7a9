"""Organizer mutations and catalog queries through GraphQL, on real PostgreSQL."""

import base64
import unicodedata
import uuid
from datetime import datetime, timedelta, timezone

from support import CREATE_EVENT, CREATE_SHOW, CREATE_VENUE, HOLD, PUBLISH

SHOW_Q = """query($id: ID!, $sec: ID) { show(id: $id) { id currency holdTtlSeconds maxTicketsPerUser
  event { id name } priceTiers { name priceCents sectionIds }
  seats(sectionId: $sec) { id sectionId section row number status version priceCents accessible obstructedView x y }
  availability { version codes sections { sectionId name generalAdmission capacity available } }
  waitingRoom { enabled admitPerMinute admissionTtlSeconds queueLength } } }"""
EVENTS_Q = """query($f: EventFilter, $first: Int, $after: String) { events(filter: $f, first: $first, after: $after) {
  edges { cursor node { id name performer category status venue { city } shows { startsAt } } }
  pageInfo { hasNextPage endCursor } } }"""


def _venue_input(**over):
    base = {"name": "Hall", "city": "Porto", "sections": [{"name": "A", "rows": [{"label": "1", "seatCount": 3}]}]}
    return {**base, **over}


async def test_organizer_mutations_require_an_organizer(api) -> None:
    fan, _ = await api.user("fan")
    for token, code in ((None, "UNAUTHENTICATED"), (fan, "FORBIDDEN")):
        venue = (await api.gql(CREATE_VENUE, {"input": _venue_input()}, token))["createVenue"]
        assert venue["code"] == code
        event = (await api.gql(CREATE_EVENT, {"input": {"name": "x", "performer": "y", "category": "z",
                                                        "venueId": str(uuid.uuid4())}}, token))["createEvent"]
        assert event["code"] == code
        show = (await api.gql(CREATE_SHOW, {"input": {"eventId": str(uuid.uuid4()), "startsAt": "2030-01-01T20:00:00Z",
                                                      "currency": "EUR", "priceTiers": []}}, token))["createShow"]
        assert show["code"] == code
        published = (await api.gql(PUBLISH, {"id": str(uuid.uuid4())}, token))["publishEvent"]
        assert published["code"] == code


async def test_another_organizer_cannot_touch_my_event(api) -> None:
    mine, _ = await api.user("organizer")
    theirs, _ = await api.user("organizer")
    show = await api.show(mine, publish=False)
    assert (await api.gql(PUBLISH, {"id": show["eventId"]}, theirs))["publishEvent"]["code"] == "FORBIDDEN"


async def test_venue_validation(api) -> None:
    org, _ = await api.user("organizer")
    bad_inputs = [
        _venue_input(sections=[]),
        _venue_input(sections=[{"name": "A"}]),
        _venue_input(sections=[{"name": "A", "rows": [{"label": "1", "seatCount": 2}], "generalAdmissionCapacity": 5}]),
        _venue_input(sections=[{"name": "A", "rows": [{"label": "1", "seatCount": 0}]}]),
        _venue_input(sections=[{"name": "A", "rows": [{"label": "1", "seatCount": 2, "accessibleSeats": [3]}]}]),
        _venue_input(sections=[{"name": "A", "generalAdmissionCapacity": 1}, {"name": "A", "generalAdmissionCapacity": 1}]),
        _venue_input(sections=[{"name": "A", "rows": [{"label": "1", "seatCount": 2}, {"label": "1", "seatCount": 2}]}]),
        _venue_input(name=""),
        _venue_input(sections=[{"name": "A", "generalAdmissionCapacity": -5}]),
    ]
    for venue_input in bad_inputs:
        result = (await api.gql(CREATE_VENUE, {"input": venue_input}, org))["createVenue"]
        assert result["__typename"] == "Rejected" and result["code"] == "INVALID_INPUT", venue_input


async def test_names_shown_to_fans_refuse_hidden_characters_and_welcome_any_script(api) -> None:
    """Venue, city, section, row, event, performer, category and price tier names are shown on seat maps,
    tickets and door screens: control characters and direction overrides would hide or reorder them."""
    org, _ = await api.user("organizer")
    ga = [{"name": "GA", "generalAdmissionCapacity": 5}]
    for venue_input, field in ((_venue_input(name="Hall\u202etxt.exe"), "name"),
                               (_venue_input(city="Po\x07rto"), "city"),
                               # Line and paragraph separators: mail clients break the line there.
                               (_venue_input(name="Rock\u2028Bcc: victim@example.test"), "name"),
                               (_venue_input(city="Porto\u2029Lisbon"), "city"),
                               (_venue_input(sections=[{"name": "A\u2066B", "generalAdmissionCapacity": 5}]),
                                "sections.name"),
                               (_venue_input(sections=[{"name": "A", "rows": [{"label": "1\x1b[2J", "seatCount": 2}]}]),
                                "sections.rows.label"),
                               # Names that look like nothing, or like another name of the same venue:
                               (_venue_input(sections=[{"name": "\u200b\u200b", "generalAdmissionCapacity": 5}]),
                                "sections.name"),
                               (_venue_input(name="\u0301"), "name"),
                               (_venue_input(sections=[{"name": "Caf\u00e9", "generalAdmissionCapacity": 5},
                                                       {"name": "Cafe\u0301", "generalAdmissionCapacity": 5}]),
                                "sections.name"),
                               (_venue_input(sections=[{"name": "Floor", "generalAdmissionCapacity": 5},
                                                       {"name": "FLOOR", "generalAdmissionCapacity": 5}]),
                                "sections.name"),
                               (_venue_input(sections=[{"name": "A", "rows": [{"label": "a", "seatCount": 2},
                                                                              {"label": "A", "seatCount": 2}]}]),
                                "sections.rows.label")):
        result = (await api.gql(CREATE_VENUE, {"input": venue_input}, org))["createVenue"]
        assert (result["code"], result["field"]) == ("INVALID_INPUT", field), (venue_input, result)
    venue = (await api.gql(CREATE_VENUE, {"input": _venue_input(name="Coliseu dos Recreios · 東京ドーム 🎤",
                                                                 sections=ga)}, org))["createVenue"]
    assert venue["name"] == "Coliseu dos Recreios · 東京ドーム 🎤", venue
    event = {"name": "E", "performer": "P", "category": "c", "venueId": venue["id"], "description": "Line 1\n\tLine 2"}
    for field, value in (("name", "E\u202d"), ("performer", "P\x85Q"), ("category", "c\u2069"),
                         ("description", "fine\n\u202eenif")):
        result = (await api.gql(CREATE_EVENT, {"input": {**event, field: value}}, org))["createEvent"]
        assert (result["code"], result["field"]) == ("INVALID_INPUT", field), (field, result)
    made = (await api.gql(CREATE_EVENT, {"input": event}, org))["createEvent"]
    assert made["__typename"] == "Event", made
    tier = {"name": "Floor\x08", "priceCents": 100, "sections": ["GA"]}
    show = (await api.gql(CREATE_SHOW, {"input": {"eventId": made["id"], "startsAt": "2030-01-01T20:00:00Z",
                                                  "currency": "EUR", "priceTiers": [tier]}}, org))["createShow"]
    assert (show["code"], show["field"]) == ("INVALID_INPUT", "priceTiers.name"), show


async def test_show_validation(api) -> None:
    org, _ = await api.user("organizer")
    venue = await api.venue(org)
    event = (await api.gql(CREATE_EVENT, {"input": {"name": "E", "performer": "P", "category": "c",
                                                    "venueId": venue["id"]}}, org))["createEvent"]
    good = {"eventId": event["id"], "startsAt": "2030-01-01T20:00:00Z", "currency": "EUR",
            "priceTiers": [{"name": "T", "priceCents": 100, "sections": ["S0"]}]}
    for override, field in (({"currency": "euro"}, "currency"), ({"currency": "USD\n"}, "currency"),
                            ({"currency": "ZZZ"}, "currency"), ({"currency": "usd"}, "currency"),
                            ({"priceTiers": [{"name": "T", "priceCents": 0, "sections": ["S0"]}]}, "priceTiers.priceCents"),
                            ({"maxTicketsPerUser": 100, "priceTiers": [{"name": "T", "priceCents": 10_000_000,
                                                                      "sections": ["S0"]}]}, "priceTiers.priceCents"),
                            ({"holdTtlSeconds": 5}, "holdTtlSeconds"),
                            ({"maxTicketsPerUser": 0}, "maxTicketsPerUser"),
                            ({"priceTiers": [{"name": "T", "priceCents": 100, "sections": ["Nope"]}]}, "priceTiers.sections"),
                            # Below Stripe's least charge: every one-ticket checkout would be refused.
                            ({"priceTiers": [{"name": "T", "priceCents": 49, "sections": ["S0"]}]}, "priceTiers.priceCents"),
                            ({"currency": "ISK", "priceTiers": [{"name": "T", "priceCents": 150_050,
                                                                 "sections": ["S0"]}]}, "priceTiers.priceCents"),
                            ({"priceTiers": [{"name": "T", "priceCents": -1, "sections": ["S0"]}]}, "priceTiers.priceCents"),
                            ({"priceTiers": [{"name": "T", "priceCents": 100, "sections": ["S0"]},
                                             {"name": "U", "priceCents": 200, "sections": ["S0"]}]}, "priceTiers.sections"),
                            ({"onSaleAt": "2031-01-01T00:00:00Z"}, "onSaleAt"),
                            ({"startsAt": "2001-01-01T20:00:00Z"}, "startsAt"),  # over
                            ({"startsAt": "9999-12-31T20:00:00Z", "onSaleAt": None}, "startsAt"),  # past 10 years
                            ({"onSaleAt": "1900-01-01T00:00:00Z"}, "onSaleAt"),
                            ({"startsAt": "2030-01-01T20:00:00"}, "startsAt"),  # no offset: whose 8 pm?
                            ({"onSaleAt": "2029-12-01T10:00:00"}, "onSaleAt"),
                            ({"priceTiers": [{"name": "T", "priceCents": 100, "sections": ["S0"]},
                                             {"name": "t ", "priceCents": 200, "sections": []}]}, "priceTiers.name"),
                            ({"priceTiers": [{"name": "T", "priceCents": 100, "sections": ["S0"]},
                                             {"name": "U", "priceCents": 200, "sections": []}]}, "priceTiers.sections"),
                            ({"eventId": "not-a-uuid"}, "eventId")):
        result = (await api.gql(CREATE_SHOW, {"input": {**good, **override}}, org))["createShow"]
        assert result["__typename"] == "Rejected" and result["field"] == field, (override, result)
        assert result["code"] == "INVALID_INPUT"
    for time in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):  # no instant in UTC
        for field in ("startsAt", "onSaleAt"):
            unreadable = await api.post(CREATE_SHOW, {"input": {**good, field: time}}, org)
            message = unreadable["errors"][0]["message"]
            assert unreadable["data"] is None and "Value cannot represent a DateTime" in message, unreadable
        unreadable = await api.post(EVENTS_Q, {"f": {"startsAfter": time}})
        assert unreadable["data"] is None and "no instant in UTC" in unreadable["errors"][0]["message"], unreadable
    missing = (await api.gql(CREATE_SHOW, {"input": {**good, "eventId": str(uuid.uuid4())}}, org))["createShow"]
    assert missing["code"] == "NOT_FOUND"
    # Stripe counts a dinar in thousandths: priced in "cents", it would be charged and shown ten times off.
    dinar = (await api.gql(CREATE_SHOW, {"input": {**good, "currency": "KWD"}}, org))["createShow"]
    assert (dinar["field"], dinar["message"]) == (
        "currency", "KWD is counted in thousandths, which boxoffice does not price in yet; choose another currency.")
    yen = (await api.gql(CREATE_SHOW, {"input": {**good, "currency": "JPY"}}, org))["createShow"]
    assert yen["__typename"] == "Show", yen


async def test_show_seats_map_order_prices_and_availability(api) -> None:
    org, _ = await api.user("organizer")
    show = await api.show(org, rows=2, seats=3, ga=7, sections=2)
    data = (await api.gql(SHOW_Q, {"id": show["id"]}))["show"]
    seats = data["seats"]
    assert [(s["section"], s["row"], s["number"]) for s in seats] == [
        (sec, row, str(n)) for sec in ("S0", "S1") for row in ("A", "B") for n in (1, 2, 3)]
    assert all(s["status"] == "AVAILABLE" and s["priceCents"] == 5000 for s in seats)
    assert [s["accessible"] for s in seats[:3]] == [True, False, False]
    assert [s["obstructedView"] for s in seats[:3]] == [False, False, True]
    assert len({(s["x"], s["y"]) for s in seats}) == len(seats)  # every seat has its own spot
    avail = data["availability"]
    assert avail["codes"] == "A" * 12
    assert [(s["name"], s["capacity"], s["available"], s["generalAdmission"]) for s in avail["sections"]] == [
        ("S0", 6, 6, False), ("S1", 6, 6, False), ("GA", 7, 7, True)]
    assert data["holdTtlSeconds"] == 600 and data["maxTicketsPerUser"] == 8
    assert data["waitingRoom"] == {"enabled": False, "admitPerMinute": 600, "admissionTtlSeconds": 900, "queueLength": 0}
    one = (await api.gql(SHOW_Q, {"id": show["id"], "sec": seats[-1]["sectionId"]}))["show"]["seats"]
    assert [s["id"] for s in one] == [s["id"] for s in seats[6:]]


MAP_Q = """query($id: ID!) { show(id: $id) { availability { version codes sections { name available } }
  seats { id status version } } }"""


async def test_signed_in_seat_maps_are_the_anonymous_ones_with_the_callers_own_holds_at_once(api) -> None:
    """A fan's seat map is the one everybody gets (the same bytes, shared); their own new hold is
    on their next read at once."""
    org, _ = await api.user("organizer")
    ann, _ = await api.user()
    bob, _ = await api.user()
    show = await api.show(org, rows=2, seats=5, ga=0)

    async def hold(token: str, seats: list[str]) -> None:
        held = await api.gql(HOLD, {"input": {"showId": show["id"], "seatIds": seats,
                                              "idempotencyKey": uuid.uuid4().hex}}, token)
        assert held["holdSeats"]["__typename"] == "Hold", held

    await hold(ann, show["seats"][:2])
    body = {"query": MAP_Q, "variables": {"id": show["id"]}}
    anonymous = await api.client.post("/graphql", json=body)
    assert anonymous.json()["data"]["show"]["availability"]["codes"] == "HH" + "A" * 8
    for token in (bob, ann):
        signed_in = await api.client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})
        assert signed_in.content == anonymous.content

    await hold(ann, show["seats"][2:3])
    mine = (await api.gql(MAP_Q, {"id": show["id"]}, ann))["show"]
    assert mine["availability"]["codes"] == "HHH" + "A" * 7
    assert [s["status"] for s in mine["seats"][:4]] == ["HELD", "HELD", "HELD", "AVAILABLE"]


async def test_unpriced_sections_are_blocked(api) -> None:
    org, _ = await api.user("organizer")
    venue = await api.venue(org, sections=2, ga=0)
    event = (await api.gql(CREATE_EVENT, {"input": {"name": "E", "performer": "P", "category": "c",
                                                    "venueId": venue["id"]}}, org))["createEvent"]
    show = (await api.gql(CREATE_SHOW, {"input": {"eventId": event["id"], "startsAt": "2030-01-01T20:00:00Z",
                                                  "currency": "USD", "priceTiers": [
                                                      {"name": "T", "priceCents": 100, "sections": ["S0"]}]}},
                          org))["createShow"]
    codes = (await api.gql(SHOW_Q, {"id": show["id"]}, org))["show"]["availability"]["codes"]
    assert codes == "A" * 10 + "B" * 10


async def test_drafts_are_invisible_to_fans(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user("fan")
    show = await api.show(org, publish=False, name=f"Secret {uuid.uuid4().hex[:6]}")
    q = "query($e: ID!, $s: ID!) { event(id: $e) { id status } show(id: $s) { id } }"
    assert await api.gql(q, {"e": show["eventId"], "s": show["id"]}, fan) == {"event": None, "show": None}
    assert await api.gql(q, {"e": show["eventId"], "s": show["id"]}) == {"event": None, "show": None}
    mine = await api.gql(q, {"e": show["eventId"], "s": show["id"]}, org)
    assert mine["event"]["status"] == "DRAFT" and mine["show"]["id"] == show["id"]
    listed = await api.gql(EVENTS_Q, {"f": {"search": "Secret"}, "first": 100})
    assert show["eventId"] not in [e["node"]["id"] for e in listed["events"]["edges"]]


async def test_unknown_and_malformed_ids_are_null(api) -> None:
    q = "query($id: ID!) { event(id: $id) { id } show(id: $id) { id } venue(id: $id) { id } hold(id: $id) { id } }"
    for value in (str(uuid.uuid4()), "nope", ""):
        assert await api.gql(q, {"id": value}) == {"event": None, "show": None, "venue": None, "hold": None}


async def test_event_filters_and_pagination(api) -> None:
    org, _ = await api.user("organizer")
    tag = uuid.uuid4().hex[:8]
    made = []
    for i, (performer, category, days) in enumerate((("Alpha", "concert", 30), ("Beta", "sports", 10),
                                                    ("Gamma", "concert", 20), ("Alpha", "theatre", 40))):
        show = await api.show(org, performer=f"{performer} {tag}", category=category, days=days,
                              name=f"Event{i} {tag}")
        made.append((show["eventId"], days))
    by_soonest = [e for e, _ in sorted(made, key=lambda m: m[1])]

    async def ids(f, first=20, after=None):
        data = (await api.gql(EVENTS_Q, {"f": f, "first": first, "after": after}))["events"]
        return [e["node"]["id"] for e in data["edges"]], data["pageInfo"]

    assert (await ids({"search": tag}))[0] == by_soonest
    assert (await ids({"search": tag, "performer": f"alpha {tag}"}))[0] == [made[0][0], made[3][0]]
    assert (await ids({"search": tag, "category": "CONCERT"}))[0] == [made[2][0], made[0][0]]
    assert set((await ids({"search": tag, "city": "lisbon"}))[0]) == set(by_soonest)
    assert (await ids({"search": tag, "city": "Nowhere"}))[0] == []
    now = datetime.now(timezone.utc)
    window = {"search": tag, "startsAfter": (now + timedelta(days=15)).isoformat(),
              "startsBefore": (now + timedelta(days=35)).isoformat()}
    assert (await ids(window))[0] == [made[2][0], made[0][0]]
    venue_of_first = (await api.gql("query($id: ID!) { event(id: $id) { venue { id } } }", {"id": made[0][0]}))
    assert (await ids({"venueId": venue_of_first["event"]["venue"]["id"]}))[0] == [made[0][0]]
    # Pages of two walk the whole list exactly once.
    seen, after = [], None
    while True:
        page, info = await ids({"search": tag}, first=2, after=after)
        seen += page
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == by_soonest
    # A cancelled show is no upcoming show: its event leaves the date window and lists last.
    soonest = next(e for e in made if e[1] == 10)
    show_id = (await api.gql("query($id: ID!) { event(id: $id) { shows { id } } }",
                             {"id": soonest[0]}))["event"]["shows"][0]["id"]
    cancelled = await api.gql("mutation($s: ID!) { cancelShow(showId: $s, reason: \"Storm\") { __typename } }",
                              {"s": show_id}, org)
    assert cancelled["cancelShow"]["__typename"] == "Show", cancelled
    assert (await ids({"search": tag, "startsAfter": datetime.now(timezone.utc).isoformat()}))[0] == [
        e for e in by_soonest if e != soonest[0]]
    assert (await ids({"search": tag}))[0] == [e for e in by_soonest if e != soonest[0]] + [soonest[0]]
    # Typed decomposed (as some keyboards do), a name stored composed is found; it was not.
    accented = await api.show(org, performer=f"Zoë {tag}", name=f"Café {tag}", days=50)
    assert (await ids({"search": unicodedata.normalize("NFD", f"Café {tag}")}))[0] == [accented["eventId"]]
    assert (await ids({"search": tag, "performer": unicodedata.normalize("NFD", f"zoë {tag}")}))[0] == [
        accented["eventId"]]
    # A time with no offset was read in the database server's zone: another answer on another host.
    naive = await api.post(EVENTS_Q, {"f": {"startsAfter": "2030-01-01T00:00:00"}, "first": 5, "after": None})
    assert naive["errors"][0]["extensions"]["code"] == "INVALID_INPUT", naive


def _forged(stamp: str) -> str:
    return base64.urlsafe_b64encode(f"{stamp}|{uuid.uuid4()}".encode()).decode()


# Parsed by Python, refused by PostgreSQL (no instant in its range, or no offset: whose midnight?).
FORGED_STAMPS = ("2026-W01-1", "2026-01-01T00:00:00,5", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                 "2026-01-01T00:00:00")


async def test_bad_pagination_arguments_are_typed_errors(api) -> None:
    fan, _ = await api.user()
    orders = "query($a: String) { viewer { orders(first: 5, after: $a) { edges { cursor } } } }"
    for variables in ({"first": 1000}, {"first": -1}, {"after": "garbage!"},
                      *({"after": _forged(stamp)} for stamp in FORGED_STAMPS)):
        body = await api.post(EVENTS_Q, variables)
        assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT", body
        assert "Traceback" not in str(body)
    # An offset PostgreSQL would not read ("time zone displacement out of range") is still an instant.
    assert "errors" not in await api.post(EVENTS_Q, {"after": _forged("2026-01-01T00:00:00+23:59")})
    for stamp in (*FORGED_STAMPS, "infinity"):
        body = await api.post(orders, {"a": _forged(stamp)}, fan)
        assert body["errors"][0]["message"] == "That cursor is not one this API gave out.", (stamp, body)


async def test_a_50k_seat_show_is_created_in_one_statement_set(api) -> None:
    org, _ = await api.user("organizer")
    started = datetime.now()
    show = await api.show(org, rows=50, seats=100, sections=10, ga=5000)
    assert len(show["seats"]) == 50_000
    codes = (await api.gql("query($id: ID!) { show(id: $id) { availability { codes } } }",
                           {"id": show["id"]}))["show"]["availability"]["codes"]
    assert codes == "A" * 50_000
    assert (datetime.now() - started).total_seconds() < 120  # generous: the bench measures speed
