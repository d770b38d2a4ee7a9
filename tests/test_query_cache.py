"""Anonymous read queries share answers; seat-inventory writes leave them be (the writer, signed in,
reads its own writes); only a catalog change that was made clears them, never a request as such
(garbage, a bad document, a refused mutation); a stale answer is served while one refreshes."""

import asyncio
import uuid

import httpx
import orjson

from boxoffice.query_cache import QueryCache, QueryCacheMiddleware, SharedAnswers
from boxoffice.schema.build import build_schema
from boxoffice.schema.viewer_marks import DocumentKinds
from support import HOLD

SCHEMA = build_schema()
KINDS = DocumentKinds(SCHEMA._schema, SCHEMA.parsed_documents.parse)

QUERY = {"query": "query($id: ID!) { show(id: $id) { availability { version codes } } }", "variables": {"id": "s"}}
HOLD_BODY = {"query": "mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename } }", "variables": {}}
CATALOG_BODY = {"query": "mutation($id: ID!) { publishEvent(eventId: $id) { __typename } }", "variables": {"id": "e"}}
GARBAGE = [b"garbage", b"{", b"[]", b'{"query": 1}', b'{"query": "mutation {"}', b'{"query": "{ a } { b }"}',
           b'{"query": "subscription { seatChanges(showId: \"x\") { version } }"}',
           orjson.dumps({"query": "mutation { noSuchField }"}), orjson.dumps({"query": "query { x } mutation { y }"})]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingApp:
    """Answers every request with the number of requests it has executed so far."""

    def __init__(self) -> None:
        self.executed = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        self.executed += 1
        answer = f'{{"data":{{"n":{self.executed}}}}}'.encode()
        if self.gate is not None:
            await self.gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})


def _client(app: CountingApp, cache: QueryCache) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=QueryCacheMiddleware(app, cache, KINDS)), base_url="http://t")


async def test_requests_never_clear_shared_answers_and_catalog_changes_do() -> None:
    app, cache = CountingApp(), QueryCache(ttl_s=0.2, clock=Clock())
    async with _client(app, cache) as client:
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}  # shared
        await client.post("/graphql", json=HOLD_BODY)
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}  # kept
        signed_in = await client.post("/graphql", json=QUERY, headers={"Authorization": "Bearer t"})
        assert signed_in.json() == {"data": {"n": 3}}  # never from the shared answers
        for body in GARBAGE:
            await client.post("/graphql", content=body, headers={"content-type": "application/json"})
        await client.post("/graphql", json=CATALOG_BODY)  # whether it ran is the resolver's to say
        await client.post("/graphql", json=CATALOG_BODY, headers={"Authorization": "Bearer t"})
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}  # kept
        cache.clear()  # what ShowCache(on_clear=...) does when an organizer's change was made
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 2 + len(GARBAGE) + 4}}


async def test_a_stale_answer_is_served_while_one_request_refreshes_it() -> None:
    clock = Clock()
    app, cache = CountingApp(), QueryCache(ttl_s=0.2, clock=clock)
    async with _client(app, cache) as client:
        await client.post("/graphql", json=QUERY)
        clock.now += 0.3  # past the ttl, within twice it
        app.gate = asyncio.Event()
        refreshing = asyncio.create_task(client.post("/graphql", json=QUERY))
        while app.executed < 2:
            await asyncio.sleep(0)
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}  # not queued
        app.gate.set()
        assert (await refreshing).json() == {"data": {"n": 2}}
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 2}}
        clock.now += 0.5  # past twice the ttl: too old to serve, readers wait for the new answer
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 3}}


async def test_shared_answers_in_front_spare_hits_the_rest_of_the_stack() -> None:
    app, cache = CountingApp(), QueryCache(ttl_s=0.2, clock=Clock())
    behind = []

    async def stack(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        behind.append(scope["path"])  # load shedding, body limit, ... would run here
        await QueryCacheMiddleware(app, cache, KINDS)(scope, receive, send)

    transport = httpx.ASGITransport(app=SharedAnswers(stack, cache, KINDS))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}
        assert len(behind) == 1  # the hit was answered in front
        await client.post("/graphql", json=QUERY, headers={"Authorization": "Bearer t"})
        async def body():  # type: ignore[no-untyped-def]
            yield orjson.dumps(QUERY)

        chunked = await client.post("/graphql", content=body())  # no declared length: not looked at in front
        assert chunked.status_code == 200 and len(behind) == 3


async def test_when_a_refresh_is_refused_every_reader_still_gets_the_stale_answer() -> None:
    clock = Clock()
    app, cache = CountingApp(), QueryCache(ttl_s=0.2, stale_if_error_s=2.0, clock=clock)
    shedding = False
    refused = 0

    async def stack(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        nonlocal refused
        if shedding:  # as ShedLoad does past its in-flight limit
            refused += 1
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b'{"errors":[{"message":"busy"}]}'})
            return
        await QueryCacheMiddleware(app, cache, KINDS)(scope, receive, send)

    transport = httpx.ASGITransport(app=SharedAnswers(stack, cache, KINDS))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.post("/graphql", json=QUERY)
        clock.now += 0.25  # stale
        shedding = True
        for _ in range(3):  # the one sent to refresh is refused, and given the stale answer too
            assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}
        assert refused == 1
        clock.now += 0.06  # a quarter ttl later, the next one tries again
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}
        assert refused == 2
        clock.now += 0.2  # past twice the ttl: while refreshes are refused, still the stale answer
        for _ in range(2):
            assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}
        assert refused == 3
        clock.now += 2.0  # past stale_if_error_s: nothing to give instead of the refusal
        assert (await client.post("/graphql", json=QUERY)).status_code == 503
        shedding = False
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 2}}
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 2}}


async def test_the_writer_reads_its_hold_at_once_and_anonymous_answers_are_shared(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(org)
    q = "query($id: ID!) { show(id: $id) { availability { version codes } } }"
    first = await api.client.post("/graphql", json={"query": q, "variables": {"id": show["id"]}})
    second = await api.client.post("/graphql", json={"query": q, "variables": {"id": show["id"]}})
    assert first.content == second.content
    await api.gql(HOLD, {"input": {"showId": show["id"], "seatIds": show["seats"][:1],
                                   "idempotencyKey": uuid.uuid4().hex}}, fan)
    mine = await api.gql(q, {"id": show["id"]}, fan)
    assert mine["show"]["availability"]["codes"].startswith("H")


async def test_garbage_and_refused_requests_do_not_empty_the_shared_answers_of_a_real_server(
        database_url, engine, tmp_path) -> None:
    """Through `boxoffice serve`: anonymous `{ serverTime }` is shared (a long window here, so the
    shared answer can only change when it is cleared); nobody can clear it by posting junk."""
    from datetime import datetime, timedelta, timezone

    from live_support import ServerProcess, fan_tokens, gql
    from support import CREATE_EVENT, CREATE_SHOW, CREATE_VENUE, PUBLISH

    secret = "cache-" + uuid.uuid4().hex
    server = ServerProcess(database_url, None, secret, tmp_path / "srv",
                           extra_env={"BOXOFFICE_QUERY_CACHE_MS": "600000"})
    server.start()
    try:
        organizer, fan = (await fan_tokens(engine, secret, 1, "organizer"))[0], (await fan_tokens(engine, secret, 1))[0]
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            async def shared_time() -> str:
                response = await client.post("/graphql", json={"query": "{ serverTime }"})
                assert response.status_code == 200, response.text
                return str(response.json()["data"]["serverTime"])

            first = await shared_time()
            assert await shared_time() == first
            venue = (await gql(server.url, CREATE_VENUE, {"input": {
                "name": "Cache hall", "city": "Porto", "sections": [{"name": "GA", "generalAdmissionCapacity": 5}]}},
                organizer, client))["createVenue"]
            event = (await gql(server.url, CREATE_EVENT, {"input": {
                "name": "Cache night", "performer": "Band", "category": "concert", "venueId": venue["id"]}},
                organizer, client))["createEvent"]
            show = (await gql(server.url, CREATE_SHOW, {"input": {
                "eventId": event["id"], "currency": "EUR",
                "priceTiers": [{"name": "Floor", "priceCents": 2000, "sections": ["GA"]}],
                "startsAt": (datetime.now(timezone.utc) + timedelta(days=5)).isoformat(),
                "onSaleAt": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()}},
                organizer, client))["createShow"]
            assert show["__typename"] == "Show", show
            assert await shared_time() == first  # drafts are nobody else's business
            for headers in ({}, {"Authorization": f"Bearer {fan}"}):
                for body in GARBAGE:
                    await client.post("/graphql", content=body, headers={"content-type": "application/json", **headers})
                refused = await client.post("/graphql", json={"query": PUBLISH, "variables": {"id": event["id"]}},
                                            headers=headers)
                assert refused.json()["data"]["publishEvent"]["__typename"] == "Rejected", refused.text
                await client.post("/graphql", content=b"x" * 2_000_000, headers=headers)  # 413
                assert await shared_time() == first, "a request that changed nothing emptied the shared answers"
            published = await gql(server.url, PUBLISH, {"id": event["id"]}, organizer, client)
            assert published["publishEvent"]["status"] == "PUBLISHED"
            assert await shared_time() != first  # a change anonymous readers see: cleared at once
    finally:
        server.stop()


async def test_which_documents_signed_in_callers_share_is_read_from_the_schema() -> None:
    from boxoffice.schema.viewer_marks import Audience

    def shared(query: str, name: str | None = None) -> Audience | None:
        return KINDS.of(query, name).shared

    assert shared("{ serverTime }") is Audience.EVERYONE
    assert shared("{ venue(id: \"v\") { name } events { edges { node { name shows { startsAt } } } } }") \
        is Audience.EVERYONE
    assert shared(QUERY["query"]) is Audience.PUBLISHED_ONLY  # an organizer may see a draft show
    assert shared("{ show(id: \"s\") { seats { id status } } }") is Audience.PUBLISHED_ONLY
    for private in ("{ viewer { id } }", "{ serverTime me: viewer { email } }", "{ hold(id: \"h\") { id } }",
                    "{ order(id: \"o\") { id } }", "{ waitingRoomTicket(id: \"t\") { id } }",
                    # a fragment counts whether or not it is spread, an @include whatever its variable
                    "query { serverTime } fragment F on Query { viewer { id } }",
                    "query($x: Boolean!) { serverTime viewer @include(if: $x) { id } }",
                    "{ ...on Query { viewer { id } } }",
                    "{ noSuchField }", "{ serverTime", HOLD_BODY["query"], "query A { serverTime } query B { viewer { id } }"):
        assert shared(private) is None, private
    assert KINDS.of("query A { serverTime } mutation B { logOut }", "A").shared is Audience.EVERYONE
    assert KINDS.of("query A { serverTime } mutation B { logOut }", "B").shared is None


def test_every_root_query_field_is_either_marked_or_known_to_answer_the_same_for_everybody() -> None:
    """A new root field must be looked at: unmarked, its answers would be shared by every caller."""
    from graphql import GraphQLObjectType
    from strawberry.schema.schema_converter import GraphQLCoreConverter

    from boxoffice.schema.viewer_marks import VIEWER

    query = build_schema()._schema.query_type
    assert isinstance(query, GraphQLObjectType)
    unmarked = {name for name, field in query.fields.items()
                if VIEWER not in (field.extensions[GraphQLCoreConverter.DEFINITION_BACKREF].metadata or {})}
    assert unmarked == {"serverTime", "events", "venue"}


LOG_OUT = "mutation { logOut }"
VIEWER_Q = "query { serverTime viewer { id email } }"


async def test_signed_in_callers_share_answers_only_of_documents_that_do_not_depend_on_them(
        database_url, engine, tmp_path) -> None:
    """Through `boxoffice serve`, with a long window so that a shared answer can be told from an
    executed one by its serverTime: every caller whose token holds shares `{ serverTime }`; a
    document with `viewer` is each caller's own, never another's; a token logged out is not
    answered from the shared answers (it gets what it got before: the anonymous execution)."""
    from live_support import ServerProcess, fan_tokens, gql

    secret = "cache-" + uuid.uuid4().hex
    server = ServerProcess(database_url, None, secret, tmp_path / "srv",
                           extra_env={"BOXOFFICE_QUERY_CACHE_MS": "600000"})
    server.start()
    try:
        ann, bob = await fan_tokens(engine, secret, 2)
        (organizer,) = await fan_tokens(engine, secret, 1, "organizer")
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            async def server_time(token: str | None) -> str:
                return str((await gql(server.url, "{ serverTime }", token=token, client=client))["serverTime"])

            first = await server_time(ann)  # a signed-in caller's miss executes as an anonymous one
            assert await server_time(None) == first
            assert await server_time(bob) == first
            assert await server_time(organizer) == first
            assert await server_time(ann) == first

            ann_view = await gql(server.url, VIEWER_Q, token=ann, client=client)
            bob_view = await gql(server.url, VIEWER_Q, token=bob, client=client)
            nobody = await gql(server.url, VIEWER_Q, client=client)
            assert ann_view["viewer"]["id"] != bob_view["viewer"]["id"]
            assert nobody["viewer"] is None
            for _ in range(3):  # asked again: still each one's own, never the other's nor the anonymous one
                assert (await gql(server.url, VIEWER_Q, token=bob, client=client))["viewer"] == bob_view["viewer"]
                assert (await gql(server.url, VIEWER_Q, token=ann, client=client))["viewer"] == ann_view["viewer"]
                assert (await gql(server.url, VIEWER_Q, client=client))["viewer"] is None

            assert (await gql(server.url, LOG_OUT, token=ann, client=client))["logOut"] is True
            revoked = await client.post("/graphql", json={"query": "{ serverTime }", "variables": {}},  # gql's body
                                        headers={"Authorization": f"Bearer {ann}"})
            assert revoked.status_code == 200 and "errors" not in revoked.json()
            assert revoked.json()["data"]["serverTime"] != first  # executed, not served from the shared answers
            assert (await gql(server.url, VIEWER_Q, token=ann, client=client))["viewer"] is None
            assert await server_time(bob) == first
    finally:
        server.stop()


async def test_a_write_over_a_websocket_is_the_writers_next_read(database_url, engine, tmp_path) -> None:
    """Only writes over HTTP were noted: a fan who held seats over the socket read the map from
    before their hold (a shared answer) for up to its window."""
    import json

    import websockets

    from booking.fixtures_db import make_show
    from live_support import ServerProcess, fan_tokens

    secret = "cache-ws-" + uuid.uuid4().hex
    server = ServerProcess(database_url, None, secret, tmp_path / "srv",
                           extra_env={"BOXOFFICE_QUERY_CACHE_MS": "600000"})
    server.start()
    try:
        show, seats, _ = await make_show(engine, seats=3, ga=1)
        [fan] = await fan_tokens(engine, secret, 1)
        read = {"query": QUERY["query"], "variables": {"id": str(show.id)}}
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            async def codes() -> str:
                answer = await client.post("/graphql", json=read, headers={"Authorization": f"Bearer {fan}"})
                return str(answer.json()["data"]["show"]["availability"]["codes"])

            assert await codes() == "AAA"  # now shared, for ten minutes
            ws_url = server.url.replace("http://", "ws://") + "/graphql"
            async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {fan}"}}))
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": HOLD, "variables": {
                    "input": {"showId": str(show.id), "seatIds": [seats[0]], "idempotencyKey": uuid.uuid4().hex}}}}))
                held = json.loads(await ws.recv())
                assert held["payload"]["data"]["holdSeats"]["__typename"] == "Hold", held
                assert json.loads(await ws.recv())["type"] == "complete"
            assert await codes() == "HAA"
    finally:
        server.stop()
