"""Anonymous read queries share answers; seat-inventory writes leave them be (the writer, signed in,
reads its own writes); other mutations clear them; a stale answer is served while one refreshes."""

import asyncio
import uuid

import httpx
import orjson

from boxoffice.query_cache import QueryCache, QueryCacheMiddleware, SharedAnswers
from support import HOLD

QUERY = {"query": "query($id: ID!) { show(id: $id) { availability { version codes } } }", "variables": {"id": "s"}}
HOLD_BODY = {"query": "mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename } }", "variables": {}}
CATALOG_BODY = {"query": "mutation($id: ID!) { publishEvent(eventId: $id) { __typename } }", "variables": {"id": "e"}}


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
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=QueryCacheMiddleware(app, cache)), base_url="http://t")


async def test_seat_inventory_mutations_keep_shared_answers_and_catalog_mutations_clear_them() -> None:
    app, cache = CountingApp(), QueryCache(ttl_s=0.2, clock=Clock())
    async with _client(app, cache) as client:
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}  # shared
        await client.post("/graphql", json=HOLD_BODY)
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}  # kept
        signed_in = await client.post("/graphql", json=QUERY, headers={"Authorization": "Bearer t"})
        assert signed_in.json() == {"data": {"n": 3}}  # never from the shared answers
        await client.post("/graphql", json=CATALOG_BODY)
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 5}}  # cleared


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
        await QueryCacheMiddleware(app, cache)(scope, receive, send)

    transport = httpx.ASGITransport(app=SharedAnswers(stack, cache))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}
        assert len(behind) == 1  # the hit was answered in front
        await client.post("/graphql", json=QUERY, headers={"Authorization": "Bearer t"})
        async def body():  # type: ignore[no-untyped-def]
            yield orjson.dumps(QUERY)

        chunked = await client.post("/graphql", content=body())  # no declared length: not looked at in front
        assert chunked.status_code == 200 and len(behind) == 3


async def test_when_a_refresh_is_refused_the_other_readers_still_get_the_stale_answer() -> None:
    clock = Clock()
    app, cache = CountingApp(), QueryCache(ttl_s=0.2, clock=clock)
    shedding = False

    async def stack(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if shedding:  # as ShedLoad does past its in-flight limit
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b'{"errors":[{"message":"busy"}]}'})
            return
        await QueryCacheMiddleware(app, cache)(scope, receive, send)

    transport = httpx.ASGITransport(app=SharedAnswers(stack, cache))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.post("/graphql", json=QUERY)
        clock.now += 0.25  # stale
        shedding = True
        assert (await client.post("/graphql", json=QUERY)).status_code == 503  # the one sent to refresh
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}  # the others: stale
        clock.now += 0.06  # a quarter ttl later, the next one tries again
        assert (await client.post("/graphql", json=QUERY)).status_code == 503
        clock.now += 0.2  # past twice the ttl: while refreshes are refused, still the stale answer
        assert (await client.post("/graphql", json=QUERY)).status_code == 503
        assert (await client.post("/graphql", json=QUERY)).json() == {"data": {"n": 1}}
        shedding = False
        clock.now += 0.06
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
