"""Past its in-flight limit a process queues a request briefly, first come first served, and
answers RATE_LIMITED only once the wait is over; checkout and the waiting room have lanes."""

import asyncio
from collections.abc import Callable

import httpx

from boxoffice.metrics import Metrics
import pytest

from boxoffice.request_lanes import LaneReader
from boxoffice.schema.build import PARSED_CHARS_KEPT, ParsedDocuments
from boxoffice.shed_load import RequestSlots, ShedLoad, Slots, outside_slot

HOLD = {"query": "mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename } }"}
PAY = {"query": "mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) { __typename } }",
       "variables": {"i": {"orderId": "x"}}}
ENTER = {"query": "mutation($s: ID!) { enterWaitingRoom(showId: $s) { __typename } }", "variables": {"s": "1"}}


class GatedApp:
    """An API whose requests finish only when the test lets them, in arrival order."""

    def __init__(self) -> None:
        self.started: list[bytes] = []
        self.gates: list[asyncio.Event] = []

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        gate = asyncio.Event()
        self.gates.append(gate)
        self.started.append((await receive())["body"])  # the body arrives intact after the peek
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    def finish(self, n: int) -> None:
        for gate in [g for g in self.gates if not g.is_set()][:n]:
            gate.set()


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0)


def lane_reader() -> LaneReader:
    return LaneReader(ParsedDocuments(max_chars=PARSED_CHARS_KEPT).parse)  # app.py: the schema's


def shed(api: object, **limits: object) -> ShedLoad:
    return ShedLoad(api, lane_reader(), RequestSlots(**limits))  # type: ignore[arg-type]


def client(app: ShedLoad) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_without_a_wait_requests_past_the_limit_are_refused_with_a_retry_hint() -> None:
    api = GatedApp()
    app = shed(api, max_in_flight=2, max_wait_ms=0)
    async with client(app) as c:
        first = [asyncio.create_task(c.post("/graphql", json=HOLD)) for _ in range(2)]
        await until(lambda: len(api.started) == 2)
        refused = await c.post("/graphql", json=HOLD)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert refused.json()["errors"][0]["extensions"] == {"code": "RATE_LIMITED", "retryAfterSeconds": 1}
        other_route = asyncio.create_task(c.get("/healthz"))  # only /graphql is shed
        await until(lambda: len(api.started) == 3)
        api.finish(3)
        assert [r.status_code for r in await asyncio.gather(*first)] == [200, 200]
        assert (await other_route).status_code == 200
    assert app.in_flight == 0


async def test_a_burst_past_the_limit_waits_in_order_and_is_answered_when_slots_free() -> None:
    api = GatedApp()
    metrics = Metrics()
    app = shed(api, max_in_flight=2, max_wait_ms=60_000, metrics=metrics)
    bodies = [{"query": f"query Q{i} {{ serverTime }}"} for i in range(8)]
    async with client(app) as c:
        burst = []
        for body in bodies:  # arrival order is the order they are sent
            burst.append(asyncio.create_task(c.post("/graphql", json=body)))
            await until(lambda: len(api.started) + app.slots.general.queued == len(burst))
        assert len(api.started) == 2 and app.slots.general.queued == 6
        while len(api.started) < 8:  # each finished request hands its slot to the next in line
            n = len(api.started)
            api.finish(1)
            await until(lambda: len(api.started) == n + 1)
        api.finish(8)
        assert [r.status_code for r in await asyncio.gather(*burst)] == [200] * 8
    assert [b.split(b"Q")[1][:1] for b in api.started] == [str(i).encode() for i in range(8)]  # FIFO
    assert metrics.shed_requests.labels("general")._value.get() == 0
    assert metrics.shed_queue_wait.labels("general")._sum.get() > 0
    assert app.in_flight == 0


async def test_a_request_is_shed_only_once_its_wait_is_over() -> None:
    api = GatedApp()
    metrics = Metrics()
    app = shed(api, max_in_flight=1, max_wait_ms=50, metrics=metrics)
    async with client(app) as c:
        busy = asyncio.create_task(c.post("/graphql", json=HOLD))
        await until(lambda: len(api.started) == 1)
        loop = asyncio.get_running_loop()
        asked = loop.time()
        refused = await c.post("/graphql", json=HOLD)  # the slot never frees within the wait
        assert refused.status_code == 503 and loop.time() - asked >= 0.05
        assert app.slots.general.queued == 0
        api.finish(1)
        assert (await busy).status_code == 200
    assert metrics.shed_requests.labels("general")._value.get() == 1
    assert app.in_flight == 0


async def test_the_queue_is_bounded() -> None:
    api = GatedApp()
    app = shed(api, max_in_flight=1, max_wait_ms=60_000, max_queued=2)
    async with client(app) as c:
        served = [asyncio.create_task(c.post("/graphql", json=HOLD)) for _ in range(3)]
        await until(lambda: app.slots.general.queued == 2)
        assert (await c.post("/graphql", json=HOLD)).status_code == 503  # a third waiter: shed at once
        while not all(task.done() for task in served):
            api.finish(1)
            await asyncio.sleep(0)
        assert [r.status_code for r in await asyncio.gather(*served)] == [200] * 3
    assert app.in_flight == 0


async def test_a_client_leaving_the_line_takes_no_slot_with_it() -> None:
    slots = Slots(max_queued=10, wait_s=60)
    assert await slots.take(1)
    leaving = asyncio.create_task(slots.take(1))
    staying = asyncio.create_task(slots.take(1))
    await until(lambda: slots.queued == 2)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert slots.queued == 1
    slots.give_back()  # the slot goes to the one still in line
    assert await staying and slots.in_flight == 1 and slots.queued == 0
    slots.give_back()
    assert slots.in_flight == 0


async def test_checkout_steps_have_a_reserve_past_the_limit() -> None:
    """A fan paying for seats they hold is not turned away to make room for more hold attempts."""
    api = GatedApp()
    app = shed(api, max_in_flight=2, checkout_reserve=1, max_wait_ms=0)
    async with client(app) as c:
        holding = [asyncio.create_task(c.post("/graphql", json=HOLD)) for _ in range(2)]
        await until(lambda: len(api.started) == 2)
        assert (await c.post("/graphql", json=HOLD)).status_code == 503  # a new hold: shed
        paying = asyncio.create_task(c.post("/graphql", json=PAY))  # checkout: the reserve
        await until(lambda: len(api.started) == 3)
        assert (await c.post("/graphql", json=PAY)).status_code == 503  # the reserve is full too
        # Naming a checkout field beside something else is not checkout.
        mixed = {"query": "mutation { confirmPayment(input: {orderId: \"x\"}) { __typename } "
                          "holdSeats(input: {showId: \"1\", seatIds: []}) { __typename } }"}
        api.finish(1)
        await until(lambda: app.in_flight == 2)
        assert (await c.post("/graphql", json=mixed)).status_code == 503  # general: full
        api.finish(3)
        assert [r.status_code for r in await asyncio.gather(*holding, paying)] == [200, 200, 200]
    assert b"confirmPayment" in api.started[2] and b'"orderId":"x"' in api.started[2].replace(b" ", b"")
    assert app.in_flight == 0


async def test_checkout_waiting_for_the_reserve_goes_before_earlier_general_waiters() -> None:
    api = GatedApp()
    app = shed(api, max_in_flight=1, checkout_reserve=1, max_wait_ms=60_000)
    async with client(app) as c:
        tasks = [asyncio.create_task(c.post("/graphql", json=HOLD))]
        await until(lambda: len(api.started) == 1)
        tasks.append(asyncio.create_task(c.post("/graphql", json=PAY)))  # the reserve, at once
        await until(lambda: len(api.started) == 2)
        tasks.append(asyncio.create_task(c.post("/graphql", json=HOLD)))  # waits for a general slot
        await until(lambda: app.slots.general.queued == 1)
        tasks.append(asyncio.create_task(c.post("/graphql", json=PAY)))  # waits for the reserve
        await until(lambda: app.slots.general.queued == 2)
        api.finish(1)  # the first hold ends: one slot, within the checkout limit only
        await until(lambda: len(api.started) == 3)
        assert b"confirmPayment" in api.started[2]
        api.finish(2)  # both payments end: the general slot is free again, for the hold in line
        await until(lambda: len(api.started) == 4)
        assert b"holdSeats" in api.started[3]
        api.finish(4)
        assert [r.status_code for r in await asyncio.gather(*tasks)] == [200] * 4
    assert app.in_flight == 0


async def test_the_waiting_room_has_slots_of_its_own() -> None:
    """A crowd entering the waiting room neither takes the general slots nor is turned away by them."""
    api = GatedApp()
    app = shed(api, max_in_flight=1, waiting_room_in_flight=2, max_wait_ms=0,
                   waiting_room_wait_ms=60_000)
    async with client(app) as c:
        hold = asyncio.create_task(c.post("/graphql", json=HOLD))
        await until(lambda: len(api.started) == 1)
        crowd = [asyncio.create_task(c.post("/graphql", json=ENTER)) for _ in range(6)]
        await until(lambda: app.slots.waiting_room.in_flight == 2 and app.slots.waiting_room.queued == 4)
        assert app.slots.general.in_flight == 1
        assert (await c.post("/graphql", json=HOLD)).status_code == 503  # general is full, as before
        # A document that only mentions the waiting room in a comment is general.
        sneaky = {"query": "query { serverTime } # enterWaitingRoom"}
        assert (await c.post("/graphql", json=sneaky)).status_code == 503
        while not all(task.done() for task in crowd):
            api.finish(1)
            await asyncio.sleep(0)
        assert [r.status_code for r in await asyncio.gather(*crowd)] == [200] * 6
        api.finish(10)
        assert (await hold).status_code == 200
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

    shedder = shed(api, max_in_flight=2, checkout_reserve=0)
    app = BodyLimit(shedder, max_bytes=1000, timeout_s=0.5)
    started: list[int] = []

    async def stalled_body():  # type: ignore[no-untyped-def]
        started.append(1)
        yield b'{"query": "{ serverTi'
        await release.wait()  # never, within the deadline
        yield b'me }"}'

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        stalled = [asyncio.create_task(client.post("/graphql", content=stalled_body())) for _ in range(4)]
        await until(lambda: len(started) == 4)
        assert shedder.in_flight == 0
        normal = await client.post("/graphql", json={"query": "{ serverTime }"})
        assert normal.status_code == 200 and served == [b'{"query":"{ serverTime }"}']
        late = await asyncio.gather(*stalled)
        release.set()
    assert [r.status_code for r in late] == [408] * 4
    assert late[0].json()["errors"][0]["extensions"] == {"code": "INVALID_INPUT"}
    assert late[0].headers["connection"] == "close"
    assert len(served) == 1 and shedder.in_flight == 0


async def test_a_request_waiting_on_the_payment_provider_lends_its_slot() -> None:
    """A payment waiting seconds on a slow PSP does no work here: its slot serves the next request
    meanwhile, and it takes one again (past the limit if need be) to finish once the PSP answers."""
    psp_answers, hold_ends = asyncio.Event(), asyncio.Event()
    seen: list[str] = []

    async def api(scope, receive, send):  # type: ignore[no-untyped-def]
        if b"confirmPayment" in (await receive())["body"]:
            async with outside_slot():
                seen.append("paying waits on the PSP")
                await psp_answers.wait()
            seen.append(f"paying settles, {app.in_flight} in flight")
        else:
            seen.append("hold")
            await hold_ends.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = shed(api, max_in_flight=1, checkout_reserve=0, max_wait_ms=0)
    async with client(app) as c:
        paying = asyncio.create_task(c.post("/graphql", json=PAY))
        await until(lambda: seen == ["paying waits on the PSP"])
        assert app.in_flight == 0
        holding = asyncio.create_task(c.post("/graphql", json=HOLD))  # the lent slot: served, not shed
        await until(lambda: len(seen) == 2 and app.in_flight == 1)
        assert (await c.post("/graphql", json=HOLD)).status_code == 503  # the limit still holds for new work
        psp_answers.set()  # the payment, admitted before, finishes at once, past the limit
        assert (await paying).status_code == 200
        assert seen[-1] == "paying settles, 2 in flight" and app.in_flight == 1
        hold_ends.set()
        assert (await holding).status_code == 200
    assert app.in_flight == 0
    async with outside_slot():  # outside a request (webhooks, the CLI): nothing to lend
        assert app.in_flight == 0


async def test_a_client_that_does_not_read_its_answer_holds_no_slot() -> None:
    """The slot bounds the work done at once; once the answer is whole, writing it waits on the client
    (a stalled reader, a pipelined request behind a full buffer), and another request goes in."""
    async def api(scope, receive, send):  # type: ignore[no-untyped-def]
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = shed(api, max_in_flight=1, max_wait_ms=0)
    writing, reading = asyncio.Event(), asyncio.Event()

    async def stalled_client(message):  # type: ignore[no-untyped-def]
        if message["type"] == "http.response.body":
            writing.set()
            await reading.wait()  # the client does not read

    async def request():  # type: ignore[no-untyped-def]
        return {"type": "http.request", "body": b'{"query": "{ serverTime }"}', "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": [], "query_string": b""}
    stalled = asyncio.create_task(app(scope, request, stalled_client))
    await writing.wait()
    assert app.in_flight == 0
    async with client(app) as c:
        assert (await c.post("/graphql", json=HOLD)).status_code == 200
    reading.set()
    await stalled
    assert app.in_flight == 0
