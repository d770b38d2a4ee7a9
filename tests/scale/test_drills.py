"""Failover drills on the shared deployment (conftest.py), each ending with it whole again:
PgBouncer restarted under load, the replica stopped, the replica lagging, Redis restarted."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import uuid


from booking.fixtures_db import make_show
from live_support import Subscription, fan_tokens, gql, subscribe
from scale.conftest import Deployment, replica_metrics
from scale.load import Load
from support import wait_until

EVENTS = "{ events(first: 50) { edges { node { id } } } }"
SEAT_CHANGES = """subscription($show: ID!) { seatChanges(showId: $show) { version seats { seatId status } } }"""
# Refusals a seat subscription ends with that a client answers by subscribing again: the database away
# for a moment (schema/outage_errors.py), the server's seat hub closing (resolvers/live.py).
RESUBSCRIBE = ("RATE_LIMITED", "SERVER_SHUTDOWN")
HOLD = """mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename ... on Hold { id }
  ... on Rejected { code message } } }"""


async def metrics_of(deployment: Deployment) -> list[dict[str, float]]:
    return [await replica_metrics(s.url) for s in deployment.servers]


async def replica_in_use_everywhere(deployment: Deployment, expected: float) -> bool:
    return all(m["boxoffice_replica_in_use"] == expected for m in await metrics_of(deployment))


def audit(deployment: Deployment) -> subprocess.CompletedProcess[str]:
    """`boxoffice audit` against the primary, as an operator runs it after an incident."""
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": deployment.primary.url, "BOXOFFICE_SECRET": deployment.secret,
           "BOXOFFICE_DATA_DIR": str(deployment.root / "audit")}
    return subprocess.run([sys.executable, "-m", "boxoffice.cli", "audit"], env=env, capture_output=True, text=True,
                          timeout=120)


async def test_pgbouncer_restarted_under_load(deployment: Deployment, primary_engine) -> None:
    show, seats, _ = await make_show(primary_engine, seats=60, ga=1, max_tickets=100)
    load = Load([deployment.balancer.url], str(show.id), seats, await fan_tokens(primary_engine, deployment.secret, 4))
    load.start()
    try:
        await load.more(20)
        deployment.bouncer.stop()  # every client connection cut, every server connection closed
        await asyncio.to_thread(deployment.bouncer.start)
        await load.more(40)
    finally:
        await load.stop()
    assert not load.server_errors(), load.server_errors()[:3]
    assert not load.unexpected(), load.unexpected()[:3]  # a cut connection is a typed, retryable refusal
    # The servers were not restarted: sales go on through the new PgBouncer.
    token = load.tokens[0]
    later = await gql(deployment.balancer.url, HOLD, {"i": {"showId": str(show.id), "seatIds": [seats[-1]],
                                                            "idempotencyKey": uuid.uuid4().hex}}, token)
    assert later["holdSeats"]["__typename"] in ("Hold", "Rejected"), later
    result = await asyncio.to_thread(audit, deployment)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_replica_stopped_reads_fall_back_to_the_primary(deployment: Deployment, primary_engine) -> None:
    show, seats, _ = await make_show(primary_engine, seats=30, ga=1, max_tickets=100)
    await wait_until(lambda: replica_in_use_everywhere(deployment, 1), "browse reads on the replica")
    hosts = [s.url for s in deployment.servers]
    load = Load(hosts + [deployment.balancer.url], str(show.id), seats,
                await fan_tokens(primary_engine, deployment.secret, 2))
    load.start(shoppers=1, browsers=4)
    try:
        await load.more(20)
        await asyncio.to_thread(deployment.replica.stop)
        await wait_until(lambda: replica_in_use_everywhere(deployment, 0), "browse reads on the primary")
        assert all(m["boxoffice_replica_lag_seconds"] == -1 for m in await metrics_of(deployment))
        await load.more(30)  # browsing on, from the primary
        await asyncio.to_thread(deployment.replica.start)
        await wait_until(lambda: replica_in_use_everywhere(deployment, 1), "browse reads back on the replica")
        await load.more(10)
    finally:
        await load.stop()
        if not deployment.replica.sql_ok():
            await asyncio.to_thread(deployment.replica.start)
    assert not load.server_errors(), load.server_errors()[:3]
    assert not load.unexpected(), load.unexpected()[:3]


async def test_lagging_replica_is_bypassed(deployment: Deployment, primary_engine) -> None:
    await wait_until(lambda: replica_in_use_everywhere(deployment, 1), "browse reads on the replica")
    deployment.replica.sql("SELECT pg_wal_replay_pause()")
    try:
        show, _, _ = await make_show(primary_engine, seats=2, ga=1)  # the replica does not see it
        await wait_until(lambda: replica_in_use_everywhere(deployment, 0), "the lag to pass the limit")
        assert all(m["boxoffice_replica_lag_seconds"] > 1 and m["boxoffice_replica_lag_bytes"] > 0
                   for m in await metrics_of(deployment))

        async def listed() -> bool:  # from the primary, on every host the balancer picks
            found = [any(e["node"]["id"] == str(show.event_id) for e in (await gql(s.url, EVENTS))["events"]["edges"])
                     for s in deployment.servers]
            return all(found)

        await wait_until(listed, "the new event listed from the primary")
    finally:
        deployment.replica.sql("SELECT pg_wal_replay_resume()")
    await wait_until(lambda: replica_in_use_everywhere(deployment, 1), "browse reads back on the replica")


async def test_redis_restarted_behind_the_balancer(deployment: Deployment, primary_engine) -> None:
    show, seats, _ = await make_show(primary_engine, seats=10, ga=1, max_tickets=10)
    token, watcher = await fan_tokens(primary_engine, deployment.secret, 2)
    lb = deployment.balancer.url
    deployment.redis.stop()
    try:
        # Sales go on without Redis (PostgreSQL is the authority), whichever host answers.
        for seat in seats[:3]:
            held = await gql(lb, HOLD, {"i": {"showId": str(show.id), "seatIds": [seat],
                                              "idempotencyKey": uuid.uuid4().hex}}, token)
            assert held["holdSeats"]["__typename"] == "Hold", held
    finally:
        await asyncio.to_thread(deployment.redis.start)
    # Live deltas come back across hosts: a change made through one host reaches a subscriber of another.
    async with contextlib.AsyncExitStack() as opened:
        async def subscribed() -> Subscription:
            return await opened.enter_async_context(
                subscribe(deployment.servers[0].ws_url, SEAT_CHANGES, {"show": str(show.id)}, watcher))

        sub = await subscribed()

        async def delivered() -> bool:
            nonlocal sub
            seat = seats.pop()
            await gql(deployment.servers[1].url, HOLD, {"i": {"showId": str(show.id), "seatIds": [seat],
                                                              "idempotencyKey": uuid.uuid4().hex}}, token)
            try:
                while True:
                    payload = await sub.next(timeout=2)
                    if payload.get("errors"):
                        # The subscription ended with a refusal: one that tells a client to subscribe again
                        # is followed (seen once in a full run, cause not established; a pooled connection
                        # an earlier drill cut is the likeliest), anything else fails with the server's answer.
                        assert payload["errors"][0].get("extensions", {}).get("code") in RESUBSCRIBE, payload
                        sub = await subscribed()
                        return False
                    if any(c["seatId"] == seat and c["status"] == "HELD" for c in payload["data"]["seatChanges"]["seats"]):
                        return True
            except asyncio.TimeoutError:
                return False

        await wait_until(delivered, "a live delta across hosts after Redis came back", every=0.1)
