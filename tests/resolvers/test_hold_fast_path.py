"""The holdSeats fast path answers exactly as the schema does.

Every case sends the same request twice: once with a document the fast path serves, once with
the same document plus `@skip(if: false)` on one field, which the fast path declines, so
strawberry executes it. The two answers must be the same bytes (status, content type, body),
for success and for every Problem the mutation can return.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from boxoffice.booking.accounts.guards import Guards
from boxoffice.booking.accounts.limit_policy import RateLimit
from boxoffice.booking.accounts.rate_limits import InProcessRateLimiter, RateDecision
from boxoffice.resolvers import hold_fast_path
from booking.fixtures_db import make_show
from support import Api

# The flash-sale benchmark's document (bench/_common.py).
BENCH = ("mutation Hold($input: HoldSeatsInput!) { holdSeats(input: $input) { __typename "
         "... on Hold { id expiresAt totalCents } ... on SeatsUnavailable { code seatIds } "
         "... on Rejected { code message } } }")
# Everything the fast path can answer, with aliases, a named fragment spread twice and an
# interface fragment, so response-key order and merging are exercised.
RICH = """mutation Rich($input: HoldSeatsInput!) {
  result: holdSeats(input: $input) {
    ...Problem
    ... on Hold { holdId: id status expiresAt totalCents currency
                  generalAdmission { quantity sectionId priceCents __typename } id }
    ... on Rejected { field retryAfterSeconds kind: __typename }
    ... on SeatsUnavailable { seatIds }
    __typename
    ...Problem
  }
}
fragment Problem on Problem { message code }"""
DOCUMENTS = {"bench": BENCH, "rich": RICH}


async def a_show(api: Api, *, max_tickets: int = 20, settings: str | None = None) -> dict[str, Any]:
    """A published 20-seat show with a 10-place GA section; `settings` is SQL for `SET` on the show."""
    show, seats, ga = await make_show(api.services.engine, seats=20, ga=10, max_tickets=max_tickets)
    if settings:
        async with api.services.engine.begin() as conn:
            await conn.execute(text(f"UPDATE shows SET {settings} WHERE id = :s"), {"s": show.id})
    return {"id": str(show.id), "seats": seats, "gaSectionId": ga}


def declined(document: str) -> str:
    """The same document, but one the fast path leaves to strawberry (it takes no directives)."""
    return document.replace("__typename", "__typename @skip(if: false)", 1)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The holds the fast path placed (its place_hold calls)."""
    calls: list[tuple[Any, ...]] = []
    real = hold_fast_path.place_hold

    async def spy(*args: Any) -> Any:
        calls.append(args)
        return await real(*args)

    monkeypatch.setattr(hold_fast_path, "place_hold", spy)
    return calls


async def raw(api: Api, document: str, variables: Any, token: str | None = None,
              operation_name: str | None = None, **extra: Any) -> tuple[int, str, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] = {"query": document, "variables": variables, **extra}
    if operation_name is not None:
        body["operationName"] = operation_name
    response = await api.client.post("/graphql", json=body, headers=headers)
    return response.status_code, response.headers["content-type"], response.content


async def both(api: Api, served: list[Any], document: str, variables: Any, token: str | None = None,
               *, fast: bool = True) -> bytes:
    """Sends through the schema, then through the fast path; the answers must be identical."""
    slow = await raw(api, declined(document), variables, token)
    before = len(served)
    quick = await raw(api, document, variables, token)
    assert len(served) == before + (1 if fast else 0), "the fast path did not serve (or declined) as expected"
    assert quick == slow
    return quick[2]


def hold_input(show: dict[str, Any], seats: list[str] | None = None, key: str | None = None,
               **more: Any) -> dict[str, Any]:
    key = uuid.uuid4().hex if key is None else key
    return {"input": {"showId": show["id"], "seatIds": seats, "idempotencyKey": key, **more}}


@pytest.mark.parametrize("name", DOCUMENTS)
async def test_a_new_hold_and_its_replay(api: Api, served: list[Any], name: str) -> None:
    fan, _ = await api.user()
    show = await a_show(api)
    document = DOCUMENTS[name]
    # New holds through each path: equal up to the new hold's id and expiry.
    slow = await raw(api, declined(document), hold_input(show, show["seats"][:2]), fan)
    quick = await raw(api, document, hold_input(show, show["seats"][2:4]), fan)
    assert len(served) == 1
    a, b = orjson.loads(slow[2]), orjson.loads(quick[2])
    key = next(iter(a["data"]))
    for answer in (a, b):
        result = answer["data"][key]
        for id_key in ("id", "holdId"):
            if id_key in result:
                assert uuid.UUID(result.pop(id_key))
        assert result.pop("expiresAt")
    assert list(a["data"][key]) == list(b["data"][key]) and a == b and slow[:2] == quick[:2]
    # The same key again returns the same hold, byte for byte, whichever path answers.
    replay = hold_input(show, show["seats"][4:6], key="replayed")
    await both(api, served, document, replay, fan)
    assert b'"Hold"' in await both(api, served, document, replay, fan)


async def test_general_admission_lines(api: Api, served: list[Any]) -> None:
    fan, _ = await api.user()
    show = await a_show(api)
    variables = hold_input(show, [show["seats"][0]], key="ga",
                           generalAdmission=[{"sectionId": show["gaSectionId"], "quantity": 2}])
    body = await both(api, served, RICH, variables, fan)
    assert b'"generalAdmission":[{"quantity":2,' in body and b'"__typename":"GeneralAdmissionLine"' in body


@pytest.mark.parametrize("name", DOCUMENTS)
async def test_every_problem(api: Api, served: list[Any], name: str) -> None:
    document = DOCUMENTS[name]
    fan, _ = await api.user()
    rival, _ = await api.user()
    show = await a_show(api, max_tickets=3)
    seats = show["seats"]
    assert (await api.hold(rival, show["id"], seats[:2]))["__typename"] == "Hold"
    cases = {
        "SEATS_UNAVAILABLE": hold_input(show, seats[1:3]),
        "LIMIT_EXCEEDED": hold_input(show, seats[4:8]),
        "UNAUTHENTICATED": hold_input(show, seats[3:4]),
        "NOT_FOUND": {"input": {"showId": str(uuid.uuid4()), "seatIds": seats[3:4], "idempotencyKey": "k"}},
        "INVALID_INPUT": hold_input({"id": "not-a-show"}, seats[3:4]),
        "INVALID_INPUT seat twice": hold_input(show, [seats[3], seats[3]]),
        "INVALID_INPUT no seats": hold_input(show, []),
        "INVALID_INPUT no seats at all": {"input": {"showId": show["id"], "idempotencyKey": "k"}},
        "INVALID_INPUT key": hold_input(show, seats[3:4], key=""),
        "INVALID_INPUT unknown seat": hold_input(show, ["999999999"]),
        "INVALID_INPUT bad seat id": hold_input(show, ["seat-1"]),
        "INVALID_INPUT GA quantity": hold_input(show, None, generalAdmission=[{"sectionId": show["gaSectionId"],
                                                                              "quantity": 0}]),
        "INVALID_INPUT GA section": hold_input(show, None, generalAdmission=[{"sectionId": "x", "quantity": 1}]),
    }
    for label, variables in cases.items():
        body = await both(api, served, document, variables, None if label == "UNAUTHENTICATED" else fan)
        assert label.split()[0].encode() in body, (label, body)
    # Same key, other seats.
    await both(api, served, document, hold_input(show, seats[3:4], key="conflict"), fan)
    assert b"IDEMPOTENCY_CONFLICT" in await both(api, served, document, hold_input(show, seats[4:5], key="conflict"),
                                                 fan)


async def test_not_on_sale_and_admission_required(api: Api, served: list[Any]) -> None:
    fan, _ = await api.user()
    later = await a_show(api, settings="on_sale_at = now() + interval '1 day'")
    assert b"NOT_ON_SALE" in await both(api, served, RICH, hold_input(later, later["seats"][:1]), fan)
    room = await a_show(api, settings="waiting_room_enabled = true")
    assert b"ADMISSION_REQUIRED" in await both(api, served, RICH, hold_input(room, room["seats"][:1]), fan)
    assert b"ADMISSION_REQUIRED" in await both(api, served, RICH, hold_input(room, room["seats"][:1],
                                                                              admissionToken="forged"), fan)


@pytest.mark.parametrize("name", DOCUMENTS)
async def test_rate_limited(api: Api, served: list[Any], name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fan, _ = await api.user()
    show = await a_show(api)

    class Refusing(InProcessRateLimiter):
        async def take(self, scope: str, key: str, rule: RateLimit) -> RateDecision:
            return RateDecision(False, 2.5)

    monkeypatch.setattr(api.services, "limits", Guards(Refusing()))
    body = await both(api, served, DOCUMENTS[name], hold_input(show, show["seats"][:1]), fan)
    assert b"RATE_LIMITED" in body
    if name == "rich":
        assert b'"retryAfterSeconds":2.5' in body


async def test_an_unexpected_fault_is_masked_the_same_way(api: Api, served: list[Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fan, _ = await api.user()
    show = await a_show(api)

    async def broken(show_id: uuid.UUID) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(api.services.shows, "get", broken)
    for document in DOCUMENTS.values():
        body = await both(api, served, document, hold_input(show, show["seats"][:1]), fan)
        assert b'"data":null' in body and b"Unexpected error." in body and b"fire" not in body


@pytest.mark.parametrize("variables", [
    {},
    {"input": None},
    {"input": "x"},
    {"input": {"showId": 5, "seatIds": ["1"], "idempotencyKey": "k"}},
    {"input": {"showId": "00000000-0000-0000-0000-000000000000", "seatIds": "1", "idempotencyKey": "k"}},
    {"input": {"showId": "00000000-0000-0000-0000-000000000000", "seatIds": [1], "idempotencyKey": "k"}},
    {"input": {"showId": "00000000-0000-0000-0000-000000000000", "seatIds": [None], "idempotencyKey": "k"}},
    {"input": {"showId": "00000000-0000-0000-0000-000000000000", "idempotencyKey": 7}},
    {"input": {"showId": "00000000-0000-0000-0000-000000000000", "idempotencyKey": "k", "extra": 1}},
    {"input": {"showId": "00000000-0000-0000-0000-000000000000", "idempotencyKey": "k",
               "generalAdmission": [{"sectionId": "s", "quantity": 1.5}]}},
    {"input": {"showId": "00000000-0000-0000-0000-000000000000", "idempotencyKey": "k",
               "generalAdmission": [{"sectionId": "s", "quantity": 2**31}]}},
    {"input": {"showId": "00000000-0000-0000-0000-000000000000", "idempotencyKey": "k",
               "generalAdmission": {"sectionId": "s", "quantity": 1}}},
    {"input": {"showId": "00000000-0000-0000-0000-000000000000", "idempotencyKey": "k\x00"}},
])
async def test_variables_graphql_would_coerce_or_refuse_go_to_the_schema(api: Api, served: list[Any],
                                                                         variables: Any) -> None:
    fan, _ = await api.user()
    await both(api, served, RICH, variables, fan, fast=False)


async def test_other_requests_go_to_the_schema(api: Api, served: list[Any]) -> None:
    fan, _ = await api.user()
    show = await a_show(api)
    seats = iter(show["seats"])
    for document in (BENCH.replace("... on Hold { id", "... on Hold { seats { id } id"),
                     BENCH.replace("... on Hold { id", "... on Hold { show { id } id")):
        status, _, body = await raw(api, document, hold_input(show, [next(seats)]), fan)
        assert status == 200 and b'"Hold"' in body, body
    spelled_out = ("mutation($s: ID!, $seats: [ID!], $k: String!) { holdSeats(input: {showId: $s, seatIds: $seats, "
                   "idempotencyKey: $k}) { __typename } }")
    status, _, body = await raw(api, spelled_out, {"s": show["id"], "seats": [next(seats)], "k": "spelled"}, fan)
    assert status == 200 and body == b'{"data":{"holdSeats":{"__typename":"Hold"}}}'
    variables = hold_input(show, [next(seats)])
    assert (await raw(api, BENCH, variables, fan, operation_name="Other"))[0] in (200, 400)
    batch = await api.client.post("/graphql", json=[{"query": BENCH, "variables": variables}],
                                  headers={"Authorization": f"Bearer {fan}"})
    assert batch.status_code == 400
    sse = await api.client.post("/graphql", json={"query": BENCH, "variables": variables},
                                headers={"Authorization": f"Bearer {fan}", "Accept": "text/event-stream"})
    assert sse.status_code in (200, 400)
    assert served == []


async def test_an_accept_header_for_graphql_responses_gets_the_same_answer(api: Api, served: list[Any]) -> None:
    fan, _ = await api.user()
    show = await a_show(api)
    headers = {"Authorization": f"Bearer {fan}", "Accept": "application/graphql-response+json, application/json"}
    answers = []
    for document, seat in ((declined(RICH), show["seats"][0]), (RICH, show["seats"][0])):
        response = await api.client.post("/graphql", headers=headers, json={
            "query": document, "variables": hold_input(show, [seat], key="accept")})
        answers.append((response.status_code, response.headers["content-type"], response.content))
    assert answers[0] == answers[1] and len(served) == 1


def test_the_fast_path_can_be_switched_off(tmp_path: Any) -> None:
    from boxoffice.app import create_app
    from boxoffice.config import load_settings
    from boxoffice.resolvers.hold_fast_path import HoldFastPath

    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "BOXOFFICE_DATA_DIR": str(tmp_path)}
    assert load_settings(env).hold_fast_path
    off = load_settings({**env, "BOXOFFICE_HOLD_FAST_PATH": "0"})
    assert not off.hold_fast_path
    assert not any(m.cls is HoldFastPath for m in create_app(off).user_middleware)
    assert any(m.cls is HoldFastPath for m in create_app(load_settings(env)).user_middleware)
