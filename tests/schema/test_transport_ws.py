"""graphql-transport-ws with seat deltas written from the hub's flush, against the real app on uvicorn
(websockets-sansio, as `boxoffice serve` runs it), PostgreSQL and real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import websockets

from booking.fixtures_db import make_show
from boxoffice.app import create_app
from boxoffice.config import Settings
from boxoffice.schema.transport_ws import protocol_error, send_now
from live_support import fan_tokens, free_port, gql, serving
from support import wait_until

SEAT_CHANGES = """subscription($show: ID!, $since: Int) { seatChanges(showId: $show, sinceVersion: $since) {
  showId version seats { seatId status version } sections { sectionId name available } } }"""
HOLD = """mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename ... on Hold { id } } }"""


@dataclass
class Live:
    url: str
    ws_url: str
    services: Any
    server: uvicorn.Server
    secret: str


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[Live]:
    port = free_port()
    secret = "ws-secret-" + uuid.uuid4().hex
    settings = Settings(database_url=database_url, secret=secret, data_dir=tmp_path, seat_delta_window_ms=50,
                        stripe_webhook_secret="whsec_ws_" + uuid.uuid4().hex, public_url=f"http://127.0.0.1:{port}")
    app = create_app(settings)
    async with serving(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                      ws="websockets-sansio", ws_per_message_deflate=False)) as server:
        yield Live(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/graphql", app.state.services, server, secret)


class Client:
    """One WebSocket with any number of seatChanges operations; keeps raw frames per operation id."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: dict[str, list[str]] = {}
        self.ended: dict[str, dict[str, Any]] = {}

    async def subscribe(self, op_id: str, show_id: str) -> None:
        self.frames[op_id] = []
        await self.ws.send(json.dumps({"type": "subscribe", "id": op_id,
                                       "payload": {"query": SEAT_CHANGES, "variables": {"show": show_id}}}))

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        text = await asyncio.wait_for(self.ws.recv(), timeout)
        message = json.loads(text)
        if message.get("type") == "next":
            self.frames[message["id"]].append(text)
        elif message.get("type") in ("error", "complete"):
            self.ended[message["id"]] = message
        return message  # type: ignore[no-any-return]

    def held(self, op_id: str) -> set[str]:
        return {s["seatId"] for f in self.frames[op_id] for s in json.loads(f)["payload"]["data"]["seatChanges"]["seats"]
                if s["status"] == "HELD"}

    async def until_held(self, op_ids: list[str], seats: list[str], timeout: float = 5.0) -> None:
        while not all(set(seats) <= self.held(op) for op in op_ids):
            await self.receive(timeout)


@asynccontextmanager
async def connect(live: Live) -> AsyncIterator[Client]:
    async with websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                  compression=None, max_size=2**24) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        yield Client(ws)


async def started(live: Live, show_id: str, subscribers: int) -> None:
    """Until the hub has every subscriber of the show (subscribing is asynchronous on the server)."""
    for _ in range(250):
        if live.services.hub.subscriber_count(show_id) == subscribers:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("subscriptions did not start")


async def hold(live: Live, token: str, show_id: str, seats: list[str]) -> None:
    result = await gql(live.url, HOLD, {"i": {"showId": show_id, "seatIds": seats, "idempotencyKey": uuid.uuid4().hex}},
                       token)
    assert result["holdSeats"]["__typename"] == "Hold", result


async def test_every_subscriber_gets_the_same_frame_with_its_own_operation_id(live: Live, engine: Any) -> None:
    show, seats, _ = await make_show(engine, seats=8, ga=1)
    fan, = await fan_tokens(engine, live.secret, 1)
    sid = str(show.id)
    async with connect(live) as one, connect(live) as two:
        await one.subscribe("a", sid)
        await one.subscribe("b", sid)  # two operations on one socket
        await two.subscribe('c"3', sid)  # an id that needs escaping
        await started(live, sid, 3)
        await hold(live, fan, sid, seats[:3])
        await one.until_held(["a", "b"], seats[:3])
        await two.until_held(['c"3'], seats[:3])
        frames = {op: client.frames[op][-1] for client, op in ((one, "a"), (one, "b"), (two, 'c"3'))}
        assert {op: json.loads(f)["id"] for op, f in frames.items()} == {op: op for op in frames}
        bodies = {f.replace(json.dumps(op), '"X"', 1) for op, f in frames.items()}
        assert len(bodies) == 1  # byte for byte the same frame, apart from the id
        assert live.services.hub.delivered_directly(sid) >= 3  # written from the hub's flush


async def test_an_operation_the_client_completes_gets_nothing_more(live: Live, engine: Any) -> None:
    show, seats, _ = await make_show(engine, seats=8, ga=1)
    fan, = await fan_tokens(engine, live.secret, 1)
    sid = str(show.id)
    async with connect(live) as client:
        await client.subscribe("stays", sid)
        await client.subscribe("leaves", sid)
        await started(live, sid, 2)
        await hold(live, fan, sid, seats[:1])
        await client.until_held(["stays", "leaves"], seats[:1])
        await client.ws.send(json.dumps({"type": "complete", "id": "leaves"}))
        await client.ws.send(json.dumps({"type": "ping"}))  # answered after the complete is handled
        while (await client.receive())["type"] != "pong":
            pass
        before = len(client.frames["leaves"])
        await hold(live, fan, sid, seats[1:3])
        await client.until_held(["stays"], seats[1:3])
        assert len(client.frames["leaves"]) == before
        assert "leaves" not in client.ended  # the client completed it: no `complete` back
        await started(live, sid, 1)


async def test_a_stalled_socket_holds_up_no_one_and_catches_up_when_it_drains(live: Live, engine: Any) -> None:
    show, seats, _ = await make_show(engine, seats=12, ga=1, max_tickets=100)
    fan, = await fan_tokens(engine, live.secret, 1)
    sid = str(show.id)
    async with connect(live) as stalled, connect(live) as other:
        await stalled.subscribe("s", sid)
        await other.subscribe("o", sid)
        await started(live, sid, 2)
        await hold(live, fan, sid, seats[:1])
        await stalled.until_held(["s"], seats[:1])
        await other.until_held(["o"], seats[:1])
        # The server's write buffer for this socket is full, as when the client stops reading.
        port = stalled.ws.local_address[1]
        protocol, = [c for c in live.server.server_state.connections if c.client == ("127.0.0.1", port)]
        protocol.pause_writing()
        for i in range(1, 12, 2):
            await hold(live, fan, sid, seats[i:i + 2])
        await other.until_held(["o"], seats)  # everything, while the stalled one waits
        with pytest.raises(asyncio.TimeoutError):
            await stalled.receive(timeout=0.3)
        protocol.resume_writing()
        await stalled.until_held(["s"], seats)  # the backlog, collapsed, once it drains


async def test_server_shutdown_ends_direct_subscriptions_with_server_shutdown(live: Live, engine: Any) -> None:
    show, seats, _ = await make_show(engine, seats=4, ga=1)
    fan, = await fan_tokens(engine, live.secret, 1)
    sid = str(show.id)
    async with connect(live) as client:
        await client.subscribe("a", sid)
        await started(live, sid, 1)
        await hold(live, fan, sid, seats[:1])
        await client.until_held(["a"], seats[:1])
        await live.services.hub.close()
        while "a" not in client.ended:
            message = await client.receive()
            if message["type"] == "next" and message["payload"].get("errors"):
                break
        ended = client.ended.get("a") or message
        errors = ended["payload"] if ended["type"] == "error" else ended["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "SERVER_SHUTDOWN", ended


async def test_send_now_finishes_a_write_that_had_to_wait() -> None:
    async def write(ready: asyncio.Event, out: list[str]) -> None:
        await ready.wait()
        out.append("written")

    ready, out = asyncio.Event(), []
    ready.set()
    assert send_now(write(ready, out)) is True and out == ["written"]
    ready.clear()
    rest = send_now(write(ready, out))
    assert rest is not True and out == ["written"]
    finishing = asyncio.ensure_future(rest)  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    assert not finishing.done()
    ready.set()
    await asyncio.wait_for(finishing, 1)
    assert out == ["written", "written"]


_MALFORMED = {  # the first four are sent first thing; the others after connection_init
    "a number": 5, "a list": [1, 2], "null": None, "a string": "hi",
    "subscribe, numeric id": {"id": 1, "type": "subscribe", "payload": {"query": "{ serverTime }"}},
    "subscribe, object id": {"id": {"a": 1}, "type": "subscribe", "payload": {"query": "{ serverTime }"}},
    "subscribe, empty id": {"id": "", "type": "subscribe", "payload": {"query": "{ serverTime }"}},
    "subscribe, numeric payload": {"id": "1", "type": "subscribe", "payload": 5},
    "subscribe, null payload": {"id": "1", "type": "subscribe", "payload": None},
    "subscribe, list payload": {"id": "1", "type": "subscribe", "payload": ["{ serverTime }"]},
    "subscribe, numeric query": {"id": "1", "type": "subscribe", "payload": {"query": 5}},
    "subscribe, no query": {"id": "1", "type": "subscribe", "payload": {}},
    "subscribe, list variables": {"id": "1", "type": "subscribe", "payload": {"query": "{ serverTime }", "variables": [1]}},
    "subscribe, numeric operationName": {"id": "1", "type": "subscribe",
                                         "payload": {"query": "{ serverTime }", "operationName": 5}},
    "subscribe, string extensions": {"id": "1", "type": "subscribe",
                                     "payload": {"query": "{ serverTime }", "extensions": "x"}},
    "complete, object id": {"id": {"a": 1}, "type": "complete"},
    "complete, numeric id": {"id": 7, "type": "complete"},
    "ping, numeric payload": {"type": "ping", "payload": 5},
}


@pytest.mark.parametrize("message", list(_MALFORMED.values()), ids=list(_MALFORMED))
async def test_a_malformed_message_closes_the_socket_with_4400_and_a_reason(
        live: Live, message: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Not an exception in the server and an abnormal close (strawberry reads the fields unchecked):
    the protocol's 4400 with what was wrong, as graphql-ws's own server answers."""
    caplog.set_level(logging.WARNING)
    async with websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                  compression=None) as ws:
        if isinstance(message, dict):
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        await ws.send(json.dumps(message))
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, closed.value
    assert closed.value.rcvd.reason == protocol_error(message) and closed.value.rcvd.reason, closed.value
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


@pytest.mark.parametrize("frame", ['{"type":"ping","payload":' + "[" * 5_000 + "]" * 5_000 + "}",
                                   '{"type":"ping","payload":' + '{"a":' * 3_000 + "1" + "}" * 3_001],
                         ids=["arrays", "objects"])
async def test_a_message_nested_past_the_stack_is_not_json_we_read(
        live: Live, frame: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                  compression=None) as ws:
        await ws.send(frame)
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, closed.value
    assert closed.value.rcvd.reason == "WebSocket message must be valid JSON", closed.value
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_the_protocol_allows_a_null_connection_init_payload_and_null_optional_fields(live: Live) -> None:
    async with websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                  compression=None) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": None}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        await ws.send(json.dumps({"type": "ping", "payload": None}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "pong"
        await ws.send(json.dumps({"id": "q", "type": "subscribe", "payload": {
            "query": "{ serverTime }", "variables": None, "operationName": None, "extensions": None}}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert answer["type"] == "next" and answer["payload"]["data"]["serverTime"], answer


async def test_a_connections_open_operations_keep_at_most_a_bodys_worth_of_documents_and_variables(
        live: Live, engine: Any) -> None:
    """Unused variables ride along with a subscription for as long as it runs: past MAX_BODY_BYTES in
    all, a new operation is refused with a typed error, and the connection and the others stay."""
    show, _, _ = await make_show(engine, seats=4, ga=1)
    sid = str(show.id)
    padded = {"show": sid, "pad": "x" * 400_000}
    async with connect(live) as client:
        async def subscribe(op_id: str) -> None:
            client.frames[op_id] = []
            await client.ws.send(json.dumps({"type": "subscribe", "id": op_id,
                                             "payload": {"query": SEAT_CHANGES, "variables": padded}}))
        await subscribe("a")
        await subscribe("b")
        await started(live, sid, 2)
        await subscribe("c")  # 1.2 MB with a and b
        refused = await client.receive()
        assert refused["type"] == "error" and refused["id"] == "c", refused
        assert refused["payload"][0]["extensions"]["code"] == "INVALID_INPUT", refused
        assert "complete some first" in refused["payload"][0]["message"], refused
        await client.ws.send(json.dumps({"type": "complete", "id": "a"}))
        await started(live, sid, 1)
        await subscribe("d")  # a's share is free again
        await started(live, sid, 2)


async def test_a_document_of_several_operations_without_an_operation_name_is_refused(live: Live) -> None:
    """The GraphQL spec's GetOperation: the operation to run is named, or the only one; the connection stays."""
    async with websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                  compression=None) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        several = "query A { serverTime } query B { __typename }"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": several}}))
        refused = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert refused["type"] == "error" and refused["id"] == "1", refused
        assert refused["payload"] == [{"message": "Must provide operation name if query contains multiple operations.",
                                       "extensions": {"code": "INVALID_INPUT"}}], refused
        await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": several, "operationName": "B"}}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert answer == {"id": "2", "type": "next", "payload": {"data": {"__typename": "Query"}}}, answer


async def test_past_the_connections_open_operations_a_new_one_is_refused_with_a_code(live: Live, engine: Any) -> None:
    show, _, _ = await make_show(engine, seats=4, ga=1)
    sid = str(show.id)
    async with connect(live) as client:
        for n in range(101):
            client.frames[f"s{n}"] = []
            await client.ws.send(json.dumps({"type": "subscribe", "id": f"s{n}",
                                             "payload": {"query": SEAT_CHANGES, "variables": {"show": sid}}}))
        refused = await client.receive()
        assert refused["type"] == "error" and refused["id"] == "s100", refused
        assert refused["payload"] == [{"message": "This connection has 100 operations open, the most it may have; "
                                                  "complete some first.", "extensions": {"code": "LIMIT_EXCEEDED"}}]
        await started(live, sid, 100)


async def test_text_postgresql_cannot_store_and_deep_variables_are_refused_typed_as_over_http(live: Live) -> None:
    """NUL and unpaired surrogates in variables were stored nowhere and answered "Unexpected error."."""
    search = "query($s: String) { events(filter: {search: $s}) { edges { node { id } } } }"
    deep: Any = "x"
    for _ in range(70):
        deep = [deep]
    async with websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                  compression=None) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        for n, (variables, message) in enumerate((({"s": "a\u0000b"}, "NUL characters"),
                                                  ({"s": "a\udc00b"}, "unpaired surrogates"),
                                                  ({"s": deep}, "at most 64 levels"))):
            await ws.send(json.dumps({"id": str(n), "type": "subscribe",
                                      "payload": {"query": search, "variables": variables}}))
            refused = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert refused["type"] == "error" and refused["id"] == str(n), refused
            assert refused["payload"][0]["extensions"]["code"] == "INVALID_INPUT", refused
            assert message in refused["payload"][0]["message"], refused
        await ws.send(json.dumps({"id": "ok", "type": "subscribe", "payload": {"query": "{ __typename }"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "next"  # the connection stays


async def test_queries_and_mutations_over_the_socket_take_the_processs_slots_as_over_http(
        live: Live, engine: Any) -> None:
    """One pool of slots for every transport: a bot sending its documents over a socket instead of
    POSTs passed the in-flight limit, and the box's CPU with it. Subscriptions take none."""
    from boxoffice.request_lanes import Lane

    app: Any = live.server.config.app
    graphql = next(route for route in app.routes if getattr(route, "path", None) == "/graphql").endpoint
    slots = graphql.request_slots
    taken = [await slots.admit(Lane.GENERAL) for _ in range(slots.max_in_flight)]  # the box is full
    show, _, _ = await make_show(engine, seats=2, ga=1)
    async with connect(live) as client:
        await client.ws.send(json.dumps({"id": "q", "type": "subscribe", "payload": {"query": "{ serverTime }"}}))
        refused = await client.receive()
        assert refused["type"] == "error" and refused["id"] == "q", refused
        assert refused["payload"] == [{"message": "The server is busy; try again in a moment.",
                                       "extensions": {"code": "RATE_LIMITED", "retryAfterSeconds": 1}}]
        await client.subscribe("s", str(show.id))  # a subscription waits on events: it is served
        await started(live, str(show.id), 1)
        taken.pop().give_back()
        client.frames["q2"] = []
        await client.ws.send(json.dumps({"id": "q2", "type": "subscribe", "payload": {"query": "{ __typename }"}}))
        while (answer := await client.receive())["id"] != "q2":
            pass
        assert answer == {"id": "q2", "type": "next", "payload": {"data": {"__typename": "Query"}}}, answer
        await wait_until(lambda: asyncio.sleep(0, slots.in_flight == slots.max_in_flight - 1),
                         "the answered query's slot to go back")
    for held in taken:
        held.give_back()


async def test_each_operation_reads_afresh_and_counts_for_itself(live: Live, engine: Any) -> None:
    """strawberry keeps one context per connection: its DataLoaders cached a hold's status for the
    socket's life (ACTIVE after its release) and every id ever asked for, and the seats a request
    may list were counted over the whole connection."""
    from boxoffice.resolvers.context import Context

    show, seats, _ = await make_show(engine, seats=4, ga=1)
    fan, = await fan_tokens(engine, live.secret, 1)
    held = await gql(live.url, HOLD, {"i": {"showId": str(show.id), "seatIds": [str(s) for s in seats[:1]],
                                           "idempotencyKey": uuid.uuid4().hex}}, fan)
    hold_id = held["holdSeats"]["id"]
    status = "query($h: ID!) { hold(id: $h) { status } }"
    async with websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                  compression=None) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {fan}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"

        async def read(op: str) -> Any:
            await ws.send(json.dumps({"id": op, "type": "subscribe",
                                      "payload": {"query": status, "variables": {"h": hold_id}}}))
            while (message := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "next":
                pass  # the previous operation's complete
            return message["payload"]["data"]["hold"]["status"]

        assert await read("1") == "ACTIVE"
        await gql(live.url, "mutation($h: ID!) { releaseHold(holdId: $h) { __typename } }", {"h": hold_id}, fan)
        assert await read("2") == "RELEASED"
    counted = Context(services=live.services, seats_listed=9_000)
    assert counted.for_operation().seats_listed == 0 and counted.for_operation().viewer is counted.viewer


async def test_an_unknown_operation_name_is_refused_typed_as_over_http(live: Live) -> None:
    async with websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                  compression=None) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": "query A { serverTime }", "operationName": "zzz"}}))
        refused = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert refused == {"id": "1", "type": "error", "payload": [
            {"message": 'Unknown operation named "zzz".', "extensions": {"code": "INVALID_INPUT"}}]}, refused
        await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": "query A { __typename }",
                                                                             "operationName": "A"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "next"  # the connection stays
