"""Live seat maps across real server processes sharing PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
import uuid

import httpx
import pytest
from sqlalchemy import text

from booking.fixtures_db import make_show
from live_support import ServerProcess, SubscriptionEnded, fan_tokens as _fans, free_port, gql, subscribe

SEAT_CHANGES = """subscription($show: ID!, $since: Int) { seatChanges(showId: $show, sinceVersion: $since) {
  showId version seats { seatId status version } sections { sectionId name available } } }"""
HOLD = """mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename ... on Hold { id }
  ... on SeatsUnavailable { seatIds } ... on Rejected { code message } } }"""
RELEASE = "mutation($id: ID!) { releaseHold(holdId: $id) { __typename } }"
SNAPSHOT = "query($id: ID!) { show(id: $id) { seats { id } availability { version codes } } }"


async def _until(sub, predicate, timeout=1.0):
    """Deltas until one satisfies predicate; returns (delta, seconds waited)."""
    started = time.monotonic()
    while True:
        left = timeout - (time.monotonic() - started)
        if left <= 0:
            raise AssertionError("no matching delta in time")
        payload = await sub.next(timeout=left)
        assert "seatChanges" in (payload.get("data") or {}), payload
        delta = payload["data"]["seatChanges"]
        if predicate(delta):
            return delta, time.monotonic() - started


def _seat(delta, seat_id, status):
    return any(s["seatId"] == seat_id and s["status"] == status for s in delta["seats"])


async def test_changes_on_one_process_reach_subscribers_of_the_other(cluster, engine, secret) -> None:
    a, b = cluster
    show, seats, floor = await make_show(engine, seats=10, ga=5)
    fan, = await _fans(engine, secret, 1)
    async with subscribe(b.ws_url, SEAT_CHANGES, {"show": str(show.id)}) as sub:
        await asyncio.sleep(0.3)  # the subscription is live
        held = (await gql(a.url, HOLD, {"i": {"showId": str(show.id), "seatIds": seats[:2],
                                              "idempotencyKey": uuid.uuid4().hex}}, fan))["holdSeats"]
        delta, waited = await _until(sub, lambda d: _seat(d, seats[0], "HELD") and _seat(d, seats[1], "HELD"))
        assert waited < 1.0 and delta["version"] >= 0
        await gql(a.url, RELEASE, {"id": held["id"]}, fan)
        _, waited = await _until(sub, lambda d: _seat(d, seats[0], "AVAILABLE"))
        assert waited < 1.0
        # A sale: hold, order, pay on A.
        hold = (await gql(a.url, HOLD, {"i": {"showId": str(show.id), "seatIds": [seats[3]],
                                              "idempotencyKey": uuid.uuid4().hex}}, fan))["holdSeats"]
        order = (await gql(a.url, "mutation($i: CreateOrderInput!) { createOrder(input: $i) { ... on Order { id } } }",
                           {"i": {"holdId": hold["id"], "idempotencyKey": uuid.uuid4().hex}}, fan))["createOrder"]
        paid = await gql(a.url, "mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) { "
                                "... on Order { status } ... on Rejected { code message } } }",
                         {"i": {"orderId": order["id"], "paymentMethod": "pm_card_visa",
                                "idempotencyKey": uuid.uuid4().hex}}, fan)
        assert paid["confirmPayment"]["status"] == "CONFIRMED", paid
        _, waited = await _until(sub, lambda d: _seat(d, seats[3], "SOLD"))
        assert waited < 1.0
        # An expiry: the sweeper of either process frees the seat.
        hold = (await gql(a.url, HOLD, {"i": {"showId": str(show.id), "seatIds": [seats[5]],
                                              "idempotencyKey": uuid.uuid4().hex}}, fan))["holdSeats"]
        await _until(sub, lambda d: _seat(d, seats[5], "HELD"))
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE holds SET expires_at = now() WHERE id = :h"), {"h": uuid.UUID(hold["id"])})
            await conn.execute(text("UPDATE show_seats SET hold_expires_at = now() WHERE hold_id = :h"),
                               {"h": uuid.UUID(hold["id"])})
        _, waited = await _until(sub, lambda d: _seat(d, seats[5], "AVAILABLE"), timeout=1.5)
        assert waited < 1.0 + 0.2  # within a second of the expiry being swept (sweep interval 0.2 s)
        # GA changes arrive as section counts.
        await gql(a.url, HOLD, {"i": {"showId": str(show.id), "generalAdmission": [{"sectionId": floor, "quantity": 2}],
                                      "idempotencyKey": uuid.uuid4().hex}}, fan)
        delta, _ = await _until(sub, lambda d: any(s["sectionId"] == floor for s in d["sections"]))
        assert next(s for s in delta["sections"] if s["sectionId"] == floor)["available"] == 3


async def test_snapshot_plus_deltas_converge_to_the_truth(cluster, engine, secret) -> None:
    a, b = cluster
    show, seats, _ = await make_show(engine, seats=60, ga=1, max_tickets=100)
    fans = await _fans(engine, secret, 12)
    snapshot = (await gql(b.url, SNAPSHOT, {"id": str(show.id)}))["show"]
    order = [s["id"] for s in snapshot["seats"]]
    state = dict(zip(order, snapshot["availability"]["codes"]))
    version = {s: snapshot["availability"]["version"] for s in order}
    stop = asyncio.Event()

    async def churn(token: str, server: ServerProcess, rng: random.Random) -> None:
        held: list[str] = []
        async with httpx.AsyncClient(timeout=30) as client:
            while not stop.is_set():
                if held and rng.random() < 0.45:
                    await gql(server.url, RELEASE, {"id": held.pop(rng.randrange(len(held)))}, token, client)
                else:
                    r = (await gql(server.url, HOLD, {"i": {"showId": str(show.id), "seatIds": rng.sample(seats, 2),
                                                            "idempotencyKey": uuid.uuid4().hex}}, token, client))
                    if r["holdSeats"]["__typename"] == "Hold":
                        held.append(r["holdSeats"]["id"])

    codes = {"AVAILABLE": "A", "HELD": "H", "SOLD": "S", "BLOCKED": "B"}
    async with subscribe(b.ws_url, SEAT_CHANGES, {"show": str(show.id),
                                                  "since": snapshot["availability"]["version"]}) as sub:
        workers = [asyncio.create_task(churn(t, (a, b)[i % 2], random.Random(i))) for i, t in enumerate(fans)]
        # Changes made between the snapshot and the subscription are covered by sinceVersion.
        deadline = time.monotonic() + 4
        deltas = 0
        while True:
            if time.monotonic() > deadline and not stop.is_set():
                stop.set()
                await asyncio.gather(*workers)
                quiet_until = time.monotonic() + 1.5
            try:
                payload = await sub.next(timeout=0.5)
                assert "seatChanges" in (payload.get("data") or {}), payload
                delta = payload["data"]["seatChanges"]
            except asyncio.TimeoutError:
                if stop.is_set() and time.monotonic() > quiet_until:
                    break
                continue
            deltas += 1
            for change in delta["seats"]:
                if change["version"] > version[change["seatId"]]:  # the contract's convergence rule
                    version[change["seatId"]] = change["version"]
                    state[change["seatId"]] = codes[change["status"]]
    async with engine.connect() as conn:
        truth = {str(r[0]): r[1] for r in (await conn.execute(text(
            "SELECT id, status FROM show_seats WHERE show_id = :s AND position IS NOT NULL"), {"s": show.id})).all()}
    assert deltas > 5
    assert state == truth


async def test_order_updates_are_for_the_owner_only(cluster, engine, secret) -> None:
    a, b = cluster
    show, seats, _ = await make_show(engine, seats=4, ga=1)
    owner, other = await _fans(engine, secret, 2)
    hold = (await gql(a.url, HOLD, {"i": {"showId": str(show.id), "seatIds": seats[:1],
                                          "idempotencyKey": uuid.uuid4().hex}}, owner))["holdSeats"]
    order = (await gql(a.url, "mutation($i: CreateOrderInput!) { createOrder(input: $i) { ... on Order { id } } }",
                       {"i": {"holdId": hold["id"], "idempotencyKey": uuid.uuid4().hex}}, owner))["createOrder"]
    query = "subscription($id: ID!) { orderUpdates(orderId: $id) { id status } }"
    for token in (other, None):
        async with subscribe(b.ws_url, query, {"id": order["id"]}, token) as sub:
            try:
                payload = await sub.next()
            except SubscriptionEnded as ended:
                assert ended.value.message["type"] == "error"
            else:  # an error result for the operation, and no order data
                assert payload["data"] is None and payload["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    async with subscribe(b.ws_url, query, {"id": order["id"]}, owner) as sub:
        assert (await sub.next())["data"]["orderUpdates"]["status"] == "PENDING_PAYMENT"
        await gql(a.url, "mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) { __typename } }",
                  {"i": {"orderId": order["id"], "paymentMethod": "pm_card_visa", "idempotencyKey": "k"}}, owner)
        seen = []
        while "CONFIRMED" not in seen:
            seen.append((await sub.next(timeout=3))["data"]["orderUpdates"]["status"])


async def test_subscriptions_resume_after_a_redis_restart(database_url, engine, secret, tmp_path) -> None:
    port = free_port()
    redis_cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
    servers = [ServerProcess(database_url, f"redis://127.0.0.1:{port}/0", secret, tmp_path / f"s{i}") for i in range(2)]
    try:
        time.sleep(0.3)
        for s in servers:
            s.start()
        a, b = servers
        show, seats, _ = await make_show(engine, seats=10, ga=1)
        fan, = await _fans(engine, secret, 1)
        async with subscribe(b.ws_url, SEAT_CHANGES, {"show": str(show.id)}) as sub:
            await asyncio.sleep(0.3)
            redis.terminate()
            redis.wait()
            # Sales go on while Redis is down (PostgreSQL is the authority)...
            r = await gql(a.url, HOLD, {"i": {"showId": str(show.id), "seatIds": [seats[0]],
                                              "idempotencyKey": uuid.uuid4().hex}}, fan)
            assert r["holdSeats"]["__typename"] == "Hold"
            redis = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
            # ...and after the restart, the resync brings the subscriber back to the truth,
            await _until(sub, lambda d: _seat(d, seats[0], "HELD"), timeout=10)
            # and live deltas flow again.
            await asyncio.sleep(0.5)
            await gql(a.url, HOLD, {"i": {"showId": str(show.id), "seatIds": [seats[1]],
                                          "idempotencyKey": uuid.uuid4().hex}}, fan)
            await _until(sub, lambda d: _seat(d, seats[1], "HELD"), timeout=5)
    finally:
        for s in servers:
            s.stop()
        redis.terminate()
        redis.wait()


async def test_shutdown_ends_subscriptions_cleanly(database_url, engine, secret, tmp_path) -> None:
    server = ServerProcess(database_url, None, secret, tmp_path / "solo")
    server.start()
    show, _, _ = await make_show(engine, seats=3, ga=1)
    try:
        async with subscribe(server.ws_url, SEAT_CHANGES, {"show": str(show.id)}) as sub:
            await asyncio.sleep(0.2)
            server.proc.terminate()  # type: ignore[union-attr]
            with pytest.raises(Exception) as ended:
                while True:
                    await sub.next(timeout=10)
            assert not isinstance(ended.value, asyncio.TimeoutError)
            close = getattr(sub.ws, "close_code", None)
            assert close in (1000, 1001, 1012, None) or isinstance(ended.value, SubscriptionEnded), close
    finally:
        server.stop()


async def test_subscribers_of_one_show_get_the_same_delta_uncompressed(cluster, engine, secret) -> None:
    """Every subscriber of a process gets the one shared rendering of a window's delta, whatever its
    sinceVersion; permessage-deflate is not negotiated (it would compress each copy separately)."""
    a, b = cluster
    show, seats, _ = await make_show(engine, seats=6, ga=2)
    fan, = await _fans(engine, secret, 1)
    async with (subscribe(b.ws_url, SEAT_CHANGES, {"show": str(show.id)}) as first,
                subscribe(b.ws_url, SEAT_CHANGES, {"show": str(show.id), "since": 10**6}) as second,
                subscribe(b.ws_url, SEAT_CHANGES, {"show": str(show.id)}) as third):
        assert [s.ws.protocol.extensions for s in (first, second, third)] == [[], [], []]
        await asyncio.sleep(0.3)
        await gql(a.url, HOLD, {"i": {"showId": str(show.id), "seatIds": seats[:3],
                                      "idempotencyKey": uuid.uuid4().hex}}, fan)
        got = [await _until(s, lambda d: all(_seat(d, seat, "HELD") for seat in seats[:3]))
               for s in (first, second, third)]
        assert got[0][0] == got[1][0] == got[2][0]
