"""Sessions end when they should, on every process at once: log-out, a role change, token expiry.

Two `boxoffice serve` processes (A and B) share the database and Redis. Their session cache is
set to a minute (BOXOFFICE_SESSION_CACHE_S=60), so a token refused within a few seconds on the
process that did not make the change was refused because the event bus told it, not because its
cached copy of the user aged out.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import jwt
import pytest
import websockets
from sqlalchemy import text

from boxoffice.booking.accounts.sign_in import TokenIssuer, create_user
from boxoffice.booking.records import UserRecord
from booking.fixtures_db import make_show
from live_support import ServerProcess, gql, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

PASSWORD = "session-password-1"
VIEWER = "{ viewer { id role } }"
LOG_OUT = "mutation { logOut }"
LOG_IN = """mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) {
  __typename ... on AuthPayload { token user { role } } ... on Rejected { code message } } }"""
CREATE_VENUE = """mutation { createVenue(input: {name: "Hall", city: "Porto",
  sections: [{name: "S", rows: [{label: "A", seatCount: 1}]}]}) { __typename ... on Rejected { code } } }"""
SEATS = "subscription($s: ID!, $v: Int) { seatChanges(showId: $s, sinceVersion: $v) { showId version } }"
HOLD = """mutation($input: HoldSeatsInput!) { holdSeats(input: $input) { __typename
  ... on Hold { id } ... on Rejected { code message } } }"""
# A refusal that comes from the bus arrives in milliseconds; this only bounds a failing test.
BUS_DEADLINE_S = 5.0


@pytest.fixture(scope="module")
def servers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ...]]:
    secret = "sessions-secret-" + uuid.uuid4().hex
    redis_url = f"redis://127.0.0.1:6379/{random.randint(3, 13)}"  # pub/sub spans dbs; nothing is flushed
    pair = tuple(ServerProcess(database_url, redis_url, secret, tmp_path_factory.mktemp(f"sessions{i}"),
                               extra_env={"BOXOFFICE_SESSION_CACHE_S": "60"}) for i in range(2))
    try:
        for server in pair:
            server.start()
        yield pair
    finally:
        for server in pair:
            server.stop()


async def _user(engine: Any, role: str = "fan") -> UserRecord:
    return await create_user(engine, email=f"session-{uuid.uuid4().hex[:10]}@example.test", password=PASSWORD,
                             name="Session", role=role)


def _token(servers: tuple[ServerProcess, ...], user: UserRecord, ttl_s: int = 3600) -> str:
    return TokenIssuer(servers[0].secret, ttl_s).issue(user)


async def _viewer(server: ServerProcess, token: str) -> dict[str, Any] | None:
    return (await gql(server.url, VIEWER, token=token))["viewer"]  # type: ignore[no-any-return]


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Polls `check` until it holds (a bus message is on its way), failing after BUS_DEADLINE_S."""
    deadline = time.monotonic() + BUS_DEADLINE_S
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def _refused_on(server: ServerProcess, token: str) -> bool:
    return await _viewer(server, token) is None


async def _closed(ws: Any, timeout: float) -> websockets.ConnectionClosed:
    """Reads (answering pings) until the server closes the socket."""
    try:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            if message.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong"}))
    except websockets.ConnectionClosed as closed:
        return closed


async def test_log_out_ends_every_token_on_both_processes(servers, engine) -> None:
    a, b = servers
    user = await _user(engine)
    logged_in = (await gql(a.url, LOG_IN, {"e": user.email, "p": PASSWORD}))["logIn"]
    assert logged_in["__typename"] == "AuthPayload", logged_in
    token, older = logged_in["token"], _token(servers, user)
    for server in (a, b):  # both processes have the user cached now
        for t in (token, older):
            assert (await _viewer(server, t)) == {"id": str(user.id), "role": "FAN"}

    assert (await gql(b.url, LOG_OUT, token=token))["logOut"] is True
    for t in (token, older):
        assert await _viewer(b, t) is None  # the process that logged out: at once
        await _eventually(lambda: _refused_on(a, t), "the other process still accepts a logged-out token")
    assert (await gql(a.url, LOG_OUT, token=token))["logOut"] is False  # nobody left to log out

    again = (await gql(a.url, LOG_IN, {"e": user.email, "p": PASSWORD}))["logIn"]["token"]
    for server in (a, b):  # a new log-in works everywhere
        assert (await _viewer(server, again))["id"] == str(user.id)  # type: ignore[index]


async def test_anonymous_log_out_is_false(servers) -> None:
    assert (await gql(servers[0].url, LOG_OUT))["logOut"] is False


async def test_a_changed_role_is_refused_at_once_on_every_process(servers, engine) -> None:
    a, b = servers
    organizer = await _user(engine, "organizer")
    token = _token(servers, organizer)
    for server in (a, b):
        assert (await gql(server.url, CREATE_VENUE, token=token))["createVenue"]["__typename"] == "Venue"

    env = {**os.environ, "DATABASE_URL": a.database_url, "REDIS_URL": a.redis_url or "",
           "BOXOFFICE_DATA_DIR": str(a.data_dir), "BOXOFFICE_SECRET": a.secret}
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "boxoffice.cli", "set-role", "--email",
                                                    organizer.email, "--role", "fan"],
                                   env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "now" in done.stdout, done.stdout

    for server in (a, b):
        await _eventually(lambda: _refused_on(server, token), f"{server.url} still accepts the organizer's token")
        refused = (await gql(server.url, CREATE_VENUE, token=token))["createVenue"]
        assert refused == {"__typename": "Rejected", "code": "UNAUTHENTICATED"}
    # A token of the current version says "organizer" in its claims, but the role is the database's.
    async with engine.connect() as conn:
        version = (await conn.execute(text("SELECT token_version FROM users WHERE id = :u"),
                                      {"u": organizer.id})).scalar_one()
    stale_claim = _token(servers, UserRecord(organizer.id, organizer.email, organizer.name, "organizer", version))
    for server in (a, b):
        assert (await _viewer(server, stale_claim))["role"] == "FAN"  # type: ignore[index]
        refused = (await gql(server.url, CREATE_VENUE, token=stale_claim))["createVenue"]
        assert refused == {"__typename": "Rejected", "code": "FORBIDDEN"}


async def test_log_out_closes_the_live_subscriptions_of_that_user_only(servers, engine) -> None:
    a, b = servers
    show, seats, _ = await make_show(engine, seats=4, ga=1)
    fan, other = await _user(engine), await _user(engine)
    token, other_token = _token(servers, fan), _token(servers, other)
    variables = {"s": str(show.id), "v": 0}
    async with subscribe(b.ws_url, SEATS, variables, token=token) as mine, \
            subscribe(b.ws_url, SEATS, variables) as anonymous, \
            subscribe(a.ws_url, SEATS, variables, token=other_token) as others:
        for sub in (mine, anonymous, others):
            assert (await sub.next())["data"]["seatChanges"]["showId"] == str(show.id)

        assert (await gql(a.url, LOG_OUT, token=token))["logOut"] is True  # on A; the socket is on B
        closed = await _closed(mine.ws, BUS_DEADLINE_S)
        assert (closed.rcvd.code, closed.rcvd.reason) == (4403, "Session ended")  # type: ignore[union-attr]

        # Everyone else's subscriptions carry on: the next seat change reaches them.
        held = (await gql(a.url, HOLD, {"input": {"showId": str(show.id), "seatIds": seats[:1],
                                                  "idempotencyKey": uuid.uuid4().hex}}, other_token))["holdSeats"]
        assert held["__typename"] == "Hold", held
        for sub in (anonymous, others):
            delta = (await sub.next())["data"]["seatChanges"]
            assert delta["showId"] == str(show.id)


async def test_an_expired_token_closes_its_subscription(servers, engine, tmp_path) -> None:
    """A server whose tokens last 3 s (BOXOFFICE_TOKEN_TTL_S): the socket closes when the token runs out."""
    a = servers[0]
    short = ServerProcess(a.database_url, a.redis_url, a.secret, tmp_path / "short",
                          extra_env={"BOXOFFICE_TOKEN_TTL_S": "3"})
    await asyncio.to_thread(short.start)
    try:
        show, _, _ = await make_show(engine, seats=2, ga=1)
        user = await _user(engine)
        token = (await gql(short.url, LOG_IN, {"e": user.email, "p": PASSWORD}))["logIn"]["token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 3
        async with subscribe(short.ws_url, SEATS, {"s": str(show.id), "v": 0}, token=token) as sub:
            assert (await sub.next())["data"]["seatChanges"]["showId"] == str(show.id)
            closed = await _closed(sub.ws, 15)
            assert (closed.rcvd.code, closed.rcvd.reason) == (4403, "Token expired")  # type: ignore[union-attr]
        assert await _viewer(short, token) is None  # and over HTTP it is anonymous now
    finally:
        await asyncio.to_thread(short.stop)


async def test_the_hold_fast_path_refuses_a_revoked_token(servers, engine) -> None:
    a, b = servers
    show, seats, _ = await make_show(engine, seats=4, ga=1)
    token = _token(servers, await _user(engine))

    def hold(seat: str) -> dict[str, Any]:
        return {"input": {"showId": str(show.id), "seatIds": [seat], "idempotencyKey": uuid.uuid4().hex}}

    for server, seat in ((a, seats[0]), (b, seats[1])):  # the fast path is on by default
        assert (await gql(server.url, HOLD, hold(seat), token))["holdSeats"]["__typename"] == "Hold"
    assert (await gql(a.url, LOG_OUT, token=token))["logOut"] is True
    refused = (await gql(a.url, HOLD, hold(seats[2]), token))["holdSeats"]
    assert refused["__typename"] == "Rejected" and refused["code"] == "UNAUTHENTICATED", refused

    async def refused_on_b() -> bool:
        return (await gql(b.url, HOLD, hold(seats[3]), token))["holdSeats"]["__typename"] == "Rejected"

    await _eventually(refused_on_b, "the other process's fast path still accepts a logged-out token")
    async with engine.connect() as conn:
        taken = (await conn.execute(text("SELECT count(*) FROM holds WHERE show_id = :s"), {"s": show.id})).scalar()
    assert taken == 2
