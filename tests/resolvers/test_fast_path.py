"""The general fast path (boxoffice/fast_path.py) answers every document exactly as strawberry does.

Each case sends the same request twice to one server: once with the fast path standing aside
(strawberry answers), once through it. Status, content type and body must be the same bytes. The
corpus: every query and mutation of the frontend sample (read from its sources), the test
suite's documents, Problems, syntax and validation errors, variables errors, document limits,
the response budget, requests strawberry refuses with an HTTP error, and masked faults.

Where a mutation cannot be sent twice with one answer (a new hold, a log-in's new token), each
path gets its own identical situation and the answers must match but for ids, tokens, e-mail
addresses and times. The holdSeats fast path (resolvers/hold_fast_path.py) stands aside
throughout, so holdSeats reaches this path too.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import graphql.execution.executor as executor_module
import httpx
import pytest
import uvicorn

from boxoffice.app import create_app
from boxoffice.config import Settings, load_settings
from boxoffice.fast_path import GraphQLFastPath
from boxoffice.resolvers.hold_fast_path import HoldFastPath
from conftest import free_port
from frontend_documents import FRONTEND_DOCUMENTS
from live_support import serving
from support import CREATE_EVENT, CREATE_VENUE, HOLD, RELEASE, Api

MAX_RESPONSE_BYTES = 60_000  # small enough for the introspection answer to pass it


@pytest.fixture(scope="module")
async def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """The app with shared answers off (every request executes) and a small response budget."""
    port = free_port()
    settings = Settings(database_url=database_url, redis_url=None, secret="fast-path-" + uuid.uuid4().hex,
                        data_dir=tmp_path_factory.mktemp("fast"), query_cache_ms=0,
                        max_response_bytes=MAX_RESPONSE_BYTES, public_url=f"http://127.0.0.1:{port}",
                        stripe_webhook_secret="whsec_" + uuid.uuid4().hex, stripe_timeout_s=5.0,
                        # What the paths answer, not how fast a loaded box validates (a CI run took over
                        # the default 30 ms for the response-budget document): tests/hardening times that.
                        validation_budget_ms=2_000)
    app = create_app(settings)
    async with (serving(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                       timeout_keep_alive=600)),
                httpx.AsyncClient(base_url=settings.public_url, timeout=30) as client):
        yield Api(client, app.state.services, port)


class Paths:
    """Which path answers: `strawberry()` stands the fast path aside for a block."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.served = 0
        real = GraphQLFastPath.send

        async def counted(fast_path: GraphQLFastPath, *args: Any) -> None:
            self.served += 1
            await real(fast_path, *args)

        monkeypatch.setattr(GraphQLFastPath, "send", counted)
        monkeypatch.setattr(HoldFastPath, "_compiled", lambda *_: None)

    @contextmanager
    def strawberry(self) -> Iterator[None]:
        with self.monkeypatch.context() as m:
            m.setattr(GraphQLFastPath, "request", lambda *_: None)
            yield


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Paths:
    return Paths(monkeypatch)


Answer = tuple[int, str, bytes]


async def send(api: Api, body: Any, token: str | None = None, *, content: bytes | None = None) -> Answer:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if content is not None:
        response = await api.client.post("/graphql", content=content,
                                         headers={**headers, "Content-Type": "application/json"})
    else:
        response = await api.client.post("/graphql", json=body, headers=headers)
    return response.status_code, response.headers.get("content-type", ""), response.content


def request(document: str, variables: dict[str, Any] | None = None, name: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"query": document, "variables": variables or {}}
    if name is not None:
        body["operationName"] = name
    return body


async def both(api: Api, paths: Paths, body: Any, token: str | None = None, *, fast: bool = True,
               content: bytes | None = None) -> Answer:
    """Strawberry's answer, then the fast path's: the same bytes. `fast`: whether the fast path
    answers this request itself (else it hands it to strawberry)."""
    with paths.strawberry():
        slow = await send(api, body, token, content=content)
    before = paths.served
    quick = await send(api, body, token, content=content)
    assert paths.served == before + (1 if fast else 0), ("served" if not fast else "not served", body)
    assert quick == slow, (body, slow, quick)
    return quick


_VARYING = re.compile(rb'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'  # ids
                      rb'|eyJ[\w-]+\.[\w-]+\.[\w-]+'  # tokens
                      rb'|[\w.+-]+@example\.test'  # e-mail addresses
                      rb'|\d{4}-\d\d-\d\dT[\d:.]+(?:\+00:00|Z)?'  # times
                      rb'|"(?:id|holdId|barcode|pdfUrl|nextActionUrl)":"[^"]*"')


def alike(answer: Answer) -> Answer:
    return answer[0], answer[1], _VARYING.sub(b"*", answer[2])


async def pair(api: Api, paths: Paths, make: Callable[[], Any]) -> Answer:
    """For a request that changes something: each path answers its own, equal, situation."""
    body, token = await make()
    with paths.strawberry():
        slow = await send(api, body, token)
    body, token = await make()
    before = paths.served
    quick = await send(api, body, token)
    assert paths.served == before + 1
    assert alike(quick) == alike(slow), (slow, quick)
    return quick


def hold_input(show: dict[str, Any], seats: list[str] | None, key: str | None = None, **more: Any) -> dict[str, Any]:
    return {"input": {"showId": show["id"], "seatIds": seats, "idempotencyKey": key or uuid.uuid4().hex, **more}}


async def test_the_frontend_documents(server: Api, paths: Paths) -> None:
    docs = FRONTEND_DOCUMENTS
    assert {"Viewer", "Show", "ShowSeats", "HoldSeats", "ReleaseHold", "CreateOrder", "ConfirmPayment", "Order",
            "Account", "Events", "Event", "CheckoutHold", "LogIn", "SignUp", "LogOut", "EnterWaitingRoom",
            "WaitingRoomTicket", "QueueShow", "ServerTime", "Hold"} <= set(docs), sorted(docs)
    organizer, _ = await server.user("organizer")
    fan, _ = await server.user()
    show = await server.show(organizer, max_tickets=8)
    seats = show["seats"]
    for token in (None, fan):
        for name, variables in (("Show", {"id": show["id"]}), ("ShowSeats", {"id": show["id"], "sectionId": None}),
                                ("Event", {"id": show["eventId"]}), ("QueueShow", {"id": show["id"]}),
                                ("Events", {"filter": {}, "first": 20, "after": None}),
                                ("Viewer", None), ("Account", {"first": 10, "after": None, "withNotifications": True})):
            await both(server, paths, request(docs[name], variables), token)
    await pair(server, paths, _no_token(request(docs["ServerTime"])))
    # A hold, read back, ordered, paid, read again; replays by idempotency key answer alike.
    hold_vars = hold_input(show, seats[:2], key="frontend-hold")
    held = await both(server, paths, request(docs["HoldSeats"], hold_vars), fan)
    hold_id = re.search(rb'"id":"([^"]+)"', held[2]).group(1).decode()  # type: ignore[union-attr]
    for name in ("Hold", "CheckoutHold"):
        await both(server, paths, request(docs[name], {"id": hold_id}), fan)
    order_input = {"input": {"holdId": hold_id, "idempotencyKey": "frontend-order"}}
    ordered = await both(server, paths, request(docs["CreateOrder"], order_input), fan)
    order_id = re.search(rb'"id":"([^"]+)"', ordered[2]).group(1).decode()  # type: ignore[union-attr]
    await both(server, paths, request(docs["Order"], {"id": order_id}), fan)
    await both(server, paths, request(docs["Order"], {"id": order_id}), None)
    pay = {"input": {"orderId": order_id, "paymentMethod": "pm_card_visa", "idempotencyKey": "frontend-pay"}}
    with paths.strawberry():
        await send(server, request(docs["ConfirmPayment"], pay), fan)  # settles (webhook); then replays agree
    paid = await both(server, paths, request(docs["ConfirmPayment"], pay), fan)
    assert b'"Order"' in paid[2], paid
    # Holds released, one by each path.

    async def released() -> tuple[Any, str]:
        data = await server.gql(HOLD, hold_input(show, None, generalAdmission=[
            {"sectionId": show["gaSectionId"], "quantity": 1}]), fan)
        return request(docs["ReleaseHold"], {"holdId": data["holdSeats"]["id"]}), fan
    assert b"RELEASED" in (await pair(server, paths, released))[2]
    await both(server, paths, request(docs["ReleaseHold"], {"holdId": str(uuid.uuid4())}), fan)
    # Accounts: sign up, log in, log out.
    email = iter(f"fan-{uuid.uuid4().hex[:10]}@example.test" for _ in range(4))

    async def signed_up() -> tuple[Any, None]:
        return request(docs["SignUp"], {"input": {"email": next(email), "password": "password-123", "name": "F"}}), None
    await pair(server, paths, signed_up)
    await both(server, paths, request(docs["LogIn"], {"email": "nobody@example.test", "password": "wrong-one!"}))

    async def logged_in() -> tuple[Any, None]:
        fresh = f"fan-{uuid.uuid4().hex[:10]}@example.test"
        await server.gql(docs["SignUp"], {"input": {"email": fresh, "password": "password-123", "name": "F"}})
        return request(docs["LogIn"], {"email": fresh, "password": "password-123"}), None
    await pair(server, paths, logged_in)

    async def logged_out() -> tuple[Any, str]:
        token, _ = await server.user()
        return request(docs["LogOut"]), token
    await pair(server, paths, logged_out)
    # The waiting room.
    await both(server, paths, request(docs["EnterWaitingRoom"], {"showId": show["id"]}), fan)
    await both(server, paths, request(docs["WaitingRoomTicket"], {"id": str(uuid.uuid4())}), fan)


def _no_token(body: Any) -> Callable[[], Any]:
    async def make() -> tuple[Any, None]:
        return body, None
    return make


async def test_problems_of_mutations(server: Api, paths: Paths) -> None:
    organizer, _ = await server.user("organizer")
    fan, _ = await server.user()
    rival, _ = await server.user()
    show = await server.show(organizer, max_tickets=3)
    seats = show["seats"]
    await server.hold(rival, show["id"], seats[:2])
    cases = [hold_input(show, seats[1:3]), hold_input(show, seats[4:8]),
             {"input": {"showId": str(uuid.uuid4()), "seatIds": seats[3:4], "idempotencyKey": "k"}},
             hold_input({"id": "not-a-show"}, seats[3:4]), hold_input(show, [seats[3], seats[3]]),
             hold_input(show, []), hold_input(show, seats[3:4], key=""), hold_input(show, ["999999999"])]
    for variables in cases:
        await both(server, paths, request(HOLD, variables), fan)
    await both(server, paths, request(HOLD, hold_input(show, seats[3:4])), None)  # UNAUTHENTICATED
    venue = {"input": {"name": "V", "city": "C", "sections": [{"name": "GA", "generalAdmissionCapacity": 5}]}}
    await both(server, paths, request(CREATE_VENUE, venue), fan)  # FORBIDDEN
    await both(server, paths, request(CREATE_EVENT, {"input": {"name": "", "performer": "P", "category": "c",
                                                               "venueId": str(uuid.uuid4())}}), organizer)
    await both(server, paths, request(RELEASE, {"id": "nonsense"}), fan)


SHOW_QUERY = "query($id: ID!) { show(id: $id) { id currency event { name } } }"
EVENTS_QUERY = "query Q($f: EventFilter, $n: Int) { events(filter: $f, first: $n) { edges { node { id } } } }"


@pytest.mark.parametrize("body", [
    request("{ serverTim }"),  # unknown field
    request("query { show(id: 1) { id nothing } }"),
    request("query Q($id: ID!) { show(id: $id) { id } }"),  # missing variable
    request("query Q($id: ID!) { show(id: $id) { id } }", {"id": {"an": "object"}}),
    request("query Q($n: Int) { events(first: $n) { edges { node { id } } } }", {"n": "many"}),
    request("query Q($n: Int) { events(first: $n) { edges { node { id } } } }", {"n": 2**40}),
    request("{ show(id: \"x\") { id } "),  # syntax
    request("query A { __typename } query B { viewer { id } }", name="B"),
    request("{ a: __typename b: __typename c: __typename }"),
    request("{ " + " ".join(f"a{i}: __typename" for i in range(40)) + " }"),  # too many aliases
    request("{ events { edges { node { shows { event { shows { event { shows { event { shows { event { "
            "shows { event { shows { id } } } } } } } } } } } } } }"),  # too deep
    request('mutation { logIn(email: "a\\u0000b", password: "x") { __typename } }'),  # unstorable, literal
    request("query Q($id: ID!) @skip(if: true) { show(id: $id) { id } }", {"id": "x"}),
    request("{ show(id: \"00000000-0000-0000-0000-000000000000\") { id } }", None),
    request("query { __schema { types { name } } }"),
    request("query { __schema { types { name fields { name args { name type { name } } } } } }"),
    request("query { __type(name: \"Show\") { name fields { name } } }"),
    request(SHOW_QUERY, {"id": "not-an-id"}),
    {"query": "{ __typename }", "variables": None, "extensions": {"persistedQuery": {"version": 1}}},
    # Variables: coerced by the prepared execution, or left to graphql-core (schema/variable_coercion.py)
    request("query Q($n: Int = 3) { events(first: $n) { edges { node { id } } } }"),  # a default applied
    request(EVENTS_QUERY, {"f": {"city": None, "search": "nothing like it"}, "n": None}),
    request(EVENTS_QUERY, {"f": {"city": "x", "nope": 1}}),  # an unknown field
    request(EVENTS_QUERY, {"f": {"startsAfter": "not a time"}}),
    request(EVENTS_QUERY, {"f": "a string for an object"}),
    request(SHOW_QUERY, {"id": ["a", "list"]}),
    request(SHOW_QUERY, {"id": None}),
])
async def test_errors_and_limits(server: Api, paths: Paths, body: Any) -> None:
    status, _, content = await both(server, paths, body)
    assert status == 200


def nested_lists(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("body", [
    [request("{ serverTime }")],  # a batch
    {"query": None},
    {"query": ""},
    {"query": 5},
    {"query": "{ serverTime }", "variables": [1]},
    {"query": "{ serverTime }", "extensions": "x"},
    {"query": "{ serverTime }", "operationName": 5},
    request("query A { serverTime }", name="B"),  # no such operation
    request("query A { __typename } query B { viewer { id } }"),  # several operations, none named
    request("{ __typename } query B { viewer { id } }"),
    request("subscription { seatChanges(showId: \"x\") { version } }"),
    request("query Q($s: String) { serverTime }", {"s": "nul\x00"}),
    request("query A { serverTime }", name="A\x00"),
    request("query Q($s: String) { serverTime }", {"s": nested_lists(70)}),  # past the text walk's depth
    request("{ serverTime }" + " " * 256_001),
    "just a string",
])
async def test_requests_strawberry_refuses_stay_its_own(server: Api, paths: Paths, body: Any) -> None:
    status, _, _ = await both(server, paths, body, fast=False)
    assert status == 400


async def test_a_document_of_several_operations_needs_the_operation_name(server: Api, paths: Paths) -> None:
    """The GraphQL spec's GetOperation (strawberry alone ran the first operation)."""
    several = "query A { serverTime } query B { __typename }"
    status, _, content = await both(server, paths, request(several), fast=False)
    assert (status, json.loads(content)) == (400, {"errors": [{
        "message": "Must provide operation name if query contains multiple operations.",
        "extensions": {"code": "INVALID_INPUT"}}]}), content
    _, _, content = await both(server, paths, request(several, name="B"))
    assert json.loads(content) == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("content", [b"{not json", b'{"query": "{ serverTime }"', b"\xff\xfe", b"[]"])
async def test_bodies_that_are_not_json(server: Api, paths: Paths, content: bytes) -> None:
    await both(server, paths, None, content=content, fast=False)


async def test_an_unexpected_fault_is_masked_and_logged(server: Api, paths: Paths, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    organizer, _ = await server.user("organizer")
    fan, _ = await server.user()
    show = await server.show(organizer)

    async def broken(show_id: uuid.UUID) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(server.services.shows, "get", broken)
    with caplog.at_level(logging.INFO, logger="strawberry.execution"):
        for body in (request(HOLD, hold_input(show, show["seats"][:1])),
                     request(SHOW_QUERY, {"id": show["id"]})):
            caplog.clear()
            _, _, content = await both(server, paths, body, fan)
            assert b"Unexpected error." in content and b"fire" not in content
            faults = [r for r in caplog.records if r.levelno == logging.ERROR]
            assert len(faults) == 2 and all(r.exc_info for r in faults)  # one per path, with the traceback


async def test_a_client_error_is_one_info_line_and_counted(server: Api, paths: Paths,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="strawberry.execution"):
        await both(server, paths, request("{ serverTim }"))
    lines = [r for r in caplog.records if r.name == "strawberry.execution"]
    assert [r.levelno for r in lines] == [logging.INFO, logging.INFO] and lines[0].getMessage() == lines[1].getMessage()
    metrics = (await server.client.get("/metrics")).text
    assert 'boxoffice_graphql_requests_total{operation_type="query"}' in metrics


def test_the_fast_path_can_be_switched_off(tmp_path: Any) -> None:
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "BOXOFFICE_DATA_DIR": str(tmp_path)}
    assert load_settings(env).fast_path
    off = load_settings({**env, "BOXOFFICE_FAST_PATH": "0"})
    assert not off.fast_path
    assert not any(m.cls is GraphQLFastPath for m in create_app(off).user_middleware)
    assert any(m.cls is GraphQLFastPath for m in create_app(load_settings(env)).user_middleware)


async def test_the_response_budget_holds_on_both_paths(server: Api, paths: Paths) -> None:
    # The whole schema once a document (schema/cost.py); one type read thirty times is past the budget too.
    show = ('__type(name: "Show") { name description fields { name description args { name description '
            'type { name kind } } type { name kind ofType { name kind } } } }')
    body = request("query { " + " ".join(f"t{i}: {show}" for i in range(30)) + " }")
    _, _, content = await both(server, paths, body)
    assert b"would be larger than 60,000 bytes" in content and b'"data":null' in content


async def test_plain_variables_are_coerced_without_graphql_cores_walk(server: Api, paths: Paths,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A document's operation is found and its variables coerced by code prepared once; graphql-core
    builds per request only what that code leaves to it (here, a default to apply)."""
    builds: list[str] = []
    real = executor_module.get_variable_values

    def counted(*args: Any, **kwargs: Any) -> Any:
        builds.append("build")
        return real(*args, **kwargs)

    monkeypatch.setattr(executor_module, "get_variable_values", counted)
    answer = await send(server, request(EVENTS_QUERY, {"f": {"city": "Nowhere"}, "n": 2}))
    assert answer[0] == 200 and b'"edges":[]' in answer[2] and builds == []
    await send(server, request("query Q($n: Int = 3) { events(first: $n) { edges { node { id } } } }"))
    assert builds == ["build"]
