"""A crowd entering a waiting room at once, through a real `boxoffice serve` with tiny limits."""

from __future__ import annotations

import asyncio
import random
import re

import httpx
import pytest

from boxoffice.booking.accounts.sign_in import TokenIssuer
from boxoffice.booking.records import UserRecord, Viewer
from boxoffice.booking.waiting_room.access import configure_waiting_room
from booking.fixtures_db import bulk_users, make_show
from live_support import ServerProcess

ENTER = """mutation($s: ID!) { enterWaitingRoom(showId: $s) { __typename
  ... on WaitingRoomTicket { id status position } ... on Rejected { code message } } }"""
TICKET = "query($id: ID!) { waitingRoomTicket(id: $id) { id status position } }"


@pytest.fixture
def small_server(database_url: str, secret: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Two general slots and four for the waiting room: a crowd of 200 is 50 times that."""
    server = ServerProcess(database_url, f"redis://127.0.0.1:6379/{random.randint(3, 13)}", secret,
                           tmp_path_factory.mktemp("crowd"),
                           extra_env={"BOXOFFICE_MAX_IN_FLIGHT": "2", "BOXOFFICE_WAITING_ROOM_IN_FLIGHT": "4",
                                      # the wait is what this test is about, not the box's speed
                                      "BOXOFFICE_SHED_WAIT_MS": "30000"})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _metric(text: str, name: str, lane: str) -> float:
    found = re.search(rf'^{name}\{{lane="{lane}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_a_crowd_entering_at_once_is_queued_not_shed_and_served_in_order(small_server, engine,
                                                                               secret) -> None:
    show, _, _ = await make_show(engine, seats=10, ga=1)
    # One admission a minute: the queue holds (nearly) still while the test reads it.
    await configure_waiting_room(engine, Viewer(user_id=show.organizer_id, role="organizer"), show.id,
                                 enabled=True, admit_per_minute=1, admission_ttl_seconds=None)
    issuer = TokenIssuer(secret, 3600)
    fans = [issuer.issue(UserRecord(id=v.user_id, email=f"{v.user_id}@bulk.test", name="Bulk", role="fan"))
            for v in await bulk_users(engine, 220)]
    crowd, late = fans[:200], fans[200:]
    url = f"{small_server.url}/graphql"

    async def call_all(calls: list[tuple[str, dict[str, str], str]]) -> list[httpx.Response]:
        """All at once, each on its own connection (the server closes idle ones within seconds)."""
        limits = httpx.Limits(max_connections=len(calls), max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            return await asyncio.gather(*(client.post(url, json={"query": query, "variables": variables},
                                                      headers={"Authorization": f"Bearer {token}"})
                                          for query, variables, token in calls))

    entered = await call_all([(ENTER, {"s": str(show.id)}, t) for t in crowd])
    refused = [(r.status_code, r.text[:300]) for r in entered if r.status_code != 200]
    assert refused == []  # not one 503
    tickets = [r.json()["data"]["enterWaitingRoom"] for r in entered]
    assert all(t["__typename"] == "WaitingRoomTicket" for t in tickets), tickets[:3]
    metrics = (await asyncio.to_thread(httpx.get, f"{small_server.url}/metrics")).text
    assert _metric(metrics, "boxoffice_shed_requests_total", "waiting_room") == 0
    assert _metric(metrics, "boxoffice_shed_queue_wait_seconds_count", "waiting_room") > 0  # it queued

    # Later fans, one after another, queue behind the whole crowd in arrival order.
    late_ids = [(await call_all([(ENTER, {"s": str(show.id)}, t)]))[0].json()["data"]["enterWaitingRoom"]["id"]
                for t in late]

    async def positions() -> tuple[list[int | None], list[int | None]]:
        polls = await call_all([(TICKET, {"id": t["id"]}, tok) for t, tok in zip(tickets, crowd)]
                               + [(TICKET, {"id": tid}, tok) for tid, tok in zip(late_ids, late)])
        assert [p.status_code for p in polls] == [200] * len(polls)
        views = [p.json()["data"]["waitingRoomTicket"] for p in polls]
        return [v["position"] for v in views[:200]], [v["position"] for v in views[200:]]

    first, behind = await positions()
    while (first, behind) != (again := await positions()):  # the promoter admitted one mid-read
        first, behind = again
    waiting = sorted(p for p in first if p is not None)
    assert behind == list(range(len(waiting) + 1, len(waiting) + 21))
    assert waiting == list(range(1, len(waiting) + 1)) and len(waiting) >= 198


async def test_a_show_page_outlives_redis_being_down(api, monkeypatch) -> None:
    """queueLength is read from Redis; with Redis unreachable it failed, and being non-null it took
    `waitingRoom`, then the whole `show`, down with it: the seat page of a flash sale, blank. A
    ticket's poll said null ("not yours") instead of "try again"."""
    import uuid
    from datetime import datetime, timezone

    import redis.asyncio as aioredis

    from boxoffice.booking.waiting_room.redis_queue_store import RedisQueueStore
    from boxoffice.booking.waiting_room.room import WaitingRoom

    org, _ = await api.user("organizer")
    show = await api.show(org)
    organizer = (await api.gql("{ viewer { id } }", token=org))["viewer"]["id"]
    await configure_waiting_room(api.services.engine, Viewer(user_id=uuid.UUID(organizer), role="organizer"),
                                 uuid.UUID(show["id"]), enabled=True, admit_per_minute=60, admission_ttl_seconds=None)
    api.services.shows.clear()
    refused = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)  # a Redis that hangs up
    port = refused.sockets[0].getsockname()[1]
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0")
    monkeypatch.setattr(api.services, "waiting_room", WaitingRoom(RedisQueueStore(client, timeout_s=0.3),
                                                                  secret=api.services.settings.secret,
                                                                  clock=lambda: datetime.now(timezone.utc)))
    try:
        page = await api.gql("query($s: ID!) { show(id: $s) { id waitingRoom { enabled queueLength } } }",
                             {"s": show["id"]})
        assert page["show"] == {"id": show["id"], "waitingRoom": {"enabled": True, "queueLength": 0}}, page
        # A fan's poll is told to try again, not that their ticket is not theirs (it answered null).
        fan, _ = await api.user()
        poll = await api.post(TICKET, {"id": str(uuid.uuid4())}, fan)
        assert poll["data"] == {"waitingRoomTicket": None}, poll
        assert poll["errors"][0]["extensions"]["code"] == "RATE_LIMITED", poll
    finally:
        await client.aclose()
        refused.close()
        await refused.wait_closed()
