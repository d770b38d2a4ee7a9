"""Several API hosts behind HAProxy, PgBouncer in transaction mode and a read replica, sticky nothing:
a fan holds on one host, pays on another and watches live deltas from a third; the balancer serves
the whole journey and WebSockets; browse reads come from the replica, whose lag /metrics shows."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
from sqlalchemy import text

from booking.fixtures_db import make_show
from live_support import fan_tokens, gql, subscribe
from scale.conftest import Deployment
from support import wait_until

HOLD = """mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename ... on Hold { id }
  ... on Rejected { code message } } }"""
ORDER = """mutation($i: CreateOrderInput!) { createOrder(input: $i) { __typename ... on Order { id status }
  ... on Rejected { code message } } }"""
PAY = """mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) { __typename ... on Order { id status }
  ... on Rejected { code message } } }"""
MY_ORDER = "query($id: ID!) { order(id: $id) { id status } }"
SEAT_CHANGES = """subscription($show: ID!) { seatChanges(showId: $show) { version seats { seatId status } } }"""
EVENTS = "{ events(first: 50) { edges { node { id name } } } }"


def metric(body: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", body, re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


async def seat_status(sub, seat: str) -> str:  # type: ignore[no-untyped-def]
    """The next status the live feed reports for `seat`."""
    while True:
        payload = await sub.next(timeout=10)
        assert not payload.get("errors"), payload
        delta = payload["data"]["seatChanges"]
        for change in delta["seats"]:
            if change["seatId"] == seat:
                return str(change["status"])


async def replica_caught_up(deployment: Deployment) -> None:
    """Until the replica has replayed everything the primary wrote so far: a show made a moment ago
    is browsed from the replica (as a fan would, minutes later)."""
    target = await asyncio.to_thread(deployment.primary.sql, "SELECT pg_current_wal_lsn()")

    async def replayed() -> bool:
        answer = await asyncio.to_thread(deployment.replica.sql,
                                         f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")
        return answer == "t"

    await wait_until(replayed, "the replica to replay the new show")


async def test_journey_across_three_hosts_and_the_balancer(deployment: Deployment, primary_engine) -> None:
    show, seats, _ = await make_show(primary_engine, seats=20, ga=1)
    await replica_caught_up(deployment)
    token, = await fan_tokens(primary_engine, deployment.secret, 1)
    one, two, three = (s.url for s in deployment.servers)
    watcher = deployment.servers[2].ws_url
    async with subscribe(watcher, SEAT_CHANGES, {"show": str(show.id)}, token) as sub:
        await asyncio.sleep(0)  # the subscription is registered before the first change (see below)
        held = (await gql(one, HOLD, {"i": {"showId": str(show.id), "seatIds": seats[:2],
                                            "idempotencyKey": uuid.uuid4().hex}}, token))["holdSeats"]
        assert held["__typename"] == "Hold", held
        order = (await gql(two, ORDER, {"i": {"holdId": held["id"], "idempotencyKey": uuid.uuid4().hex}},
                           token))["createOrder"]
        assert order["__typename"] == "Order", order
        paid = (await gql(two, PAY, {"i": {"orderId": order["id"], "paymentMethod": "pm_card_visa",
                                           "idempotencyKey": uuid.uuid4().hex}}, token))["confirmPayment"]
        assert paid == {"__typename": "Order", "id": order["id"], "status": "CONFIRMED"}
        # The third host, which did neither, tells its subscriber the seat was sold.
        status = await seat_status(sub, seats[0])
        while status != "SOLD":
            status = await seat_status(sub, seats[0])
    # Read-your-writes from any host: the order is read from the primary.
    for url in (one, three, deployment.balancer.url):
        assert (await gql(url, MY_ORDER, {"id": order["id"]}, token))["order"]["status"] == "CONFIRMED"


async def test_whole_journey_through_the_balancer_with_websockets(deployment: Deployment, primary_engine) -> None:
    show, seats, _ = await make_show(primary_engine, seats=12, ga=1)
    tokens = await fan_tokens(primary_engine, deployment.secret, 3)
    lb = deployment.balancer.url
    async with subscribe(deployment.balancer.ws_url, SEAT_CHANGES, {"show": str(show.id)}, tokens[0]) as sub:
        orders = []
        for i, token in enumerate(tokens):  # round robin: each call may land on another host
            held = (await gql(lb, HOLD, {"i": {"showId": str(show.id), "seatIds": [seats[i]],
                                               "idempotencyKey": uuid.uuid4().hex}}, token))["holdSeats"]
            order = (await gql(lb, ORDER, {"i": {"holdId": held["id"], "idempotencyKey": uuid.uuid4().hex}},
                               token))["createOrder"]
            paid = (await gql(lb, PAY, {"i": {"orderId": order["id"], "paymentMethod": "pm_card_visa",
                                              "idempotencyKey": uuid.uuid4().hex}}, token))["confirmPayment"]
            assert paid["status"] == "CONFIRMED", paid
            orders.append(order["id"])
        status = await seat_status(sub, seats[2])
        while status != "SOLD":
            status = await seat_status(sub, seats[2])
    async with primary_engine.connect() as conn:
        sold = (await conn.execute(text("SELECT count(*) FROM show_seats WHERE show_id = :s AND status = 'S'"),
                                   {"s": show.id})).scalar()
    assert sold == 3


async def test_browse_reads_come_from_the_replica_and_metrics_show_its_lag(deployment: Deployment,
                                                                           primary_engine) -> None:
    show, _, _ = await make_show(primary_engine, seats=4, ga=1)
    async with httpx.AsyncClient(timeout=10) as client:
        for server in deployment.servers:
            body = (await client.get(f"{server.url}/metrics")).text
            assert metric(body, "boxoffice_replica_in_use") == 1
            assert 0 <= metric(body, "boxoffice_replica_lag_seconds") <= 1
        # The replica's own statistics count the catalog reads it served (a backend reports them
        # within seconds of going idle).
        scans = "SELECT COALESCE(sum(seq_scan + idx_scan), 0) FROM pg_stat_user_tables WHERE relname = 'events'"
        before = int(deployment.replica.sql(scans))

        async def listed() -> bool:
            names = await gql(deployment.balancer.url, EVENTS)
            return any(e["node"]["id"] == str(show.event_id) for e in names["events"]["edges"])

        await wait_until(listed, "the new event to be listed")

        async def counted() -> bool:
            await listed()
            return int(deployment.replica.sql(scans)) > before

        await wait_until(counted, "the replica to count the reads of events", every=0.5)


async def test_one_promoter_across_hosts(deployment: Deployment) -> None:
    """The waiting room's promoter is leased in Redis: one holder among the three hosts."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(deployment.redis.url)
    try:
        holder = await wait_until(lambda: client.get("wr:promoter-lease"), "a promoter lease holder")
        assert holder
        assert len(await client.keys("wr:promoter-lease*")) == 1
    finally:
        await client.aclose()
