"""Past its in-flight limit a process answers RATE_LIMITED at once instead of queueing."""

import asyncio

import httpx

from boxoffice.shed_load import ShedLoad


async def test_requests_past_the_limit_are_refused_with_a_retry_hint() -> None:
    release = asyncio.Event()

    async def slow_app(scope, receive, send):  # type: ignore[no-untyped-def]
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = ShedLoad(slow_app, max_in_flight=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        first = [asyncio.create_task(client.post("/graphql", json={})) for _ in range(2)]
        await asyncio.sleep(0.05)
        refused = await client.post("/graphql", json={})
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert refused.json()["errors"][0]["extensions"] == {"code": "RATE_LIMITED", "retryAfterSeconds": 1}
        other_route = asyncio.create_task(client.get("/healthz"))  # only /graphql is shed
        release.set()
        assert [r.status_code for r in await asyncio.gather(*first)] == [200, 200]
        assert (await other_route).status_code == 200
        assert app.in_flight == 0


async def test_checkout_steps_have_a_reserve_past_the_limit() -> None:
    """A fan paying for seats they hold is not turned away to make room for more hold attempts."""
    release = asyncio.Event()
    bodies: list[bytes] = []

    async def slow_app(scope, receive, send):  # type: ignore[no-untyped-def]
        bodies.append((await receive())["body"])  # the body arrives intact after the peek
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = ShedLoad(slow_app, max_in_flight=2, checkout_reserve=1)
    hold = {"query": "mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename } }"}
    pay = {"query": "mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) { __typename } }",
           "variables": {"i": {"orderId": "x"}}}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        holding = [asyncio.create_task(client.post("/graphql", json=hold)) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert (await client.post("/graphql", json=hold)).status_code == 503  # a new hold: shed
        paying = asyncio.create_task(client.post("/graphql", json=pay))  # checkout: the reserve
        await asyncio.sleep(0.05)
        second_payment = await client.post("/graphql", json=pay)  # the reserve is full too
        assert second_payment.status_code == 503
        release.set()
        assert [r.status_code for r in await asyncio.gather(*holding, paying)] == [200, 200, 200]
    assert b"confirmPayment" in bodies[-1] and b'"orderId":"x"' in bodies[-1].replace(b" ", b"")
    assert app.in_flight == 0


async def test_only_requests_whose_body_has_arrived_take_a_slot() -> None:
    """Behind BodyLimit (as app.py stacks them): uploads that stall mid-body hold no slot, and are
    answered 408 at the deadline, while complete requests are served."""
    from boxoffice.http_body import BodyLimit

    release = asyncio.Event()
    served: list[bytes] = []

    async def api(scope, receive, send):  # type: ignore[no-untyped-def]
        served.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    shed = ShedLoad(api, max_in_flight=2, checkout_reserve=0)
    app = BodyLimit(shed, max_bytes=1000, timeout_s=0.5)

    async def stalled_body():  # type: ignore[no-untyped-def]
        yield b'{"query": "{ serverTi'
        await release.wait()  # never, within the deadline
        yield b'me }"}'

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        stalled = [asyncio.create_task(client.post("/graphql", content=stalled_body())) for _ in range(4)]
        await asyncio.sleep(0.05)
        assert shed.in_flight == 0
        normal = await client.post("/graphql", json={"query": "{ serverTime }"})
        assert normal.status_code == 200 and served == [b'{"query":"{ serverTime }"}']
        late = await asyncio.gather(*stalled)
        release.set()
    assert [r.status_code for r in late] == [408] * 4
    assert late[0].json()["errors"][0]["extensions"] == {"code": "INVALID_INPUT"}
    assert late[0].headers["connection"] == "close"
    assert len(served) == 1 and shed.in_flight == 0
