"""Seat maps, availability and live-map replays read from the replica behind the barrier's WAL
position (boxoffice/replica.py read_replayed): served there while it has replayed that far, and from
the primary when it has not, so an answer never misses a change its version promises.

A server of its own beside the deployment's, believing the replica fresh however far behind
(BOXOFFICE_REPLICA_MAX_LAG_S=3600): with replay paused, only the WAL position stands between a fan
and a stale map."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from booking.fixtures_db import make_show
from live_support import fan_tokens, free_port, gql, subscribe
from scale.conftest import Deployment, ScaleServer, replica_metrics, server_env
from support import wait_until

AVAILABILITY = "query($id: ID!) { show(id: $id) { availability { version codes } seats { id status } } }"
HOLD = """mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename ... on Hold { id }
  ... on Rejected { code message } } }"""
SEAT_CHANGES = """subscription($show: ID!, $since: Int) { seatChanges(showId: $show, sinceVersion: $since) {
  version seats { seatId status } } }"""
SHOW_SEAT_READS = "SELECT COALESCE(sum(seq_scan + idx_scan), 0) FROM pg_stat_user_tables WHERE relname = 'show_seats'"


@pytest.fixture(scope="module")
def patient_server(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaleServer]:
    port = free_port()
    env = {**server_env(deployment.bouncer.url, deployment.replica.url, f"http://127.0.0.1:{port}"),
           "BOXOFFICE_REPLICA_MAX_LAG_S": "3600"}
    server = ScaleServer(deployment.bouncer.url, deployment.redis.url, deployment.secret,
                         tmp_path_factory.mktemp("patient"), port=port, extra_env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def replica_caught_up(deployment: Deployment) -> None:
    target = await asyncio.to_thread(deployment.primary.sql, "SELECT pg_current_wal_insert_lsn()")

    async def replayed() -> bool:
        return await asyncio.to_thread(deployment.replica.sql,
                                       f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") == "t"

    await wait_until(replayed, "the replica to replay the primary's WAL")


async def test_seat_maps_come_from_the_replica_and_never_miss_a_change_it_has_not_replayed(
        deployment: Deployment, patient_server: ScaleServer, primary_engine) -> None:
    browsed, _, _ = await make_show(primary_engine, seats=6, ga=1)
    watched, seats, _ = await make_show(primary_engine, seats=6, ga=1)
    token, = await fan_tokens(primary_engine, deployment.secret, 1)
    await replica_caught_up(deployment)
    await wait_until(lambda: _in_use(patient_server), "the server to read from the replica")

    # (1) The replica serves seat maps: its own statistics count the show_seats reads (a backend
    # reports them within a second or so of going idle).
    before = int(await asyncio.to_thread(deployment.replica.sql, SHOW_SEAT_READS))

    async def counted() -> bool:
        answer = await gql(patient_server.url, AVAILABILITY, {"id": str(browsed.id)})
        assert answer["show"]["availability"]["codes"] == "AAAAAA", answer
        return int(await asyncio.to_thread(deployment.replica.sql, SHOW_SEAT_READS)) > before

    await wait_until(counted, "the replica to count seat-map reads", every=0.3)

    # (2) Replay paused: a hold made through another server is in the next answers all the same.
    await asyncio.to_thread(deployment.replica.sql, "SELECT pg_wal_replay_pause()")
    try:
        await wait_until(lambda: _replica_says(deployment, "SELECT pg_get_wal_replay_pause_state()", "paused"),
                         "replay to pause")
        # Nothing of the show in flight: the sequence's last value is its committed version.
        since = int(await asyncio.to_thread(deployment.primary.sql, "SELECT COALESCE(pg_sequence_last_value("
                                            f"'{watched.version_sequence}'::regclass), 0)"))
        fallbacks = (await replica_metrics(patient_server.url))["boxoffice_replica_snapshot_fallbacks_total"]
        held = (await gql(deployment.servers[0].url, HOLD, {"i": {"showId": str(watched.id), "seatIds": [seats[2]],
                                                                   "idempotencyKey": uuid.uuid4().hex}}, token))
        assert held["holdSeats"]["__typename"] == "Hold", held
        # The replica has not seen it (nor anything since the pause)...
        assert await asyncio.to_thread(deployment.replica.sql,
                                       f"SELECT status FROM show_seats WHERE id = {int(seats[2])}") == "A"
        # ...yet this server's very first map of the show has it: read from the primary.
        show = (await gql(patient_server.url, AVAILABILITY, {"id": str(watched.id)}))["show"]
        assert show["availability"]["codes"] == "AAHAAA", show
        assert [s["status"] for s in show["seats"] if s["id"] == seats[2]] == ["HELD"]
        # A client resuming from before the hold is told of it first thing.
        async with subscribe(patient_server.ws_url, SEAT_CHANGES, {"show": str(watched.id), "since": since},
                             token) as sub:
            delta = (await sub.next(timeout=10))["data"]["seatChanges"]
        assert delta["seats"] == [{"seatId": seats[2], "status": "HELD"}], delta
        assert delta["version"] >= show["availability"]["version"] > since
        after = await replica_metrics(patient_server.url)
        assert after["boxoffice_replica_in_use"] == 1  # the replica stayed in use: the WAL position decided
        assert after["boxoffice_replica_snapshot_fallbacks_total"] > fallbacks
    finally:
        await asyncio.to_thread(deployment.replica.sql, "SELECT pg_wal_replay_resume()")
    await replica_caught_up(deployment)


NEW_SHOW = """query($id: ID!) { show(id: $id) { id event { name venue { name } } priceTiers { name }
  seats { id status } availability { codes } } }"""


async def test_a_show_created_after_the_replica_stopped_replaying_is_found(
        deployment: Deployment, patient_server: ScaleServer, primary_engine) -> None:
    """A row the replica has not replayed yet (an organizer's new show, opened at once from its link)
    is looked up on the primary: late is allowed on the replica, missing is not."""
    await wait_until(lambda: _in_use(patient_server), "the server to read from the replica")
    await asyncio.to_thread(deployment.replica.sql, "SELECT pg_wal_replay_pause()")
    try:
        await wait_until(lambda: _replica_says(deployment, "SELECT pg_get_wal_replay_pause_state()", "paused"),
                         "replay to pause")
        show, seats, _ = await make_show(primary_engine, seats=4, ga=1)
        assert await asyncio.to_thread(deployment.replica.sql,
                                       f"SELECT count(*) FROM shows WHERE id = '{show.id}'") == "0"
        token, = await fan_tokens(primary_engine, deployment.secret, 1)
        found = (await gql(patient_server.url, NEW_SHOW, {"id": str(show.id)}))["show"]
        assert found is not None and found["event"]["venue"]["name"] == "Arena", found
        assert [t["name"] for t in found["priceTiers"]] == ["All"]
        assert [s["id"] for s in found["seats"]] == seats and found["availability"]["codes"] == "AAAA"
        async with subscribe(patient_server.ws_url, SEAT_CHANGES, {"show": str(show.id)}, token) as sub:
            held = await gql(deployment.servers[0].url, HOLD, {"i": {"showId": str(show.id), "seatIds": [seats[1]],
                                                                      "idempotencyKey": uuid.uuid4().hex}}, token)
            assert held["holdSeats"]["__typename"] == "Hold", held
            delta = await sub.next(timeout=10)
        assert delta["data"]["seatChanges"]["seats"] == [{"seatId": seats[1], "status": "HELD"}], delta
        assert (await replica_metrics(patient_server.url))["boxoffice_replica_in_use"] == 1
    finally:
        await asyncio.to_thread(deployment.replica.sql, "SELECT pg_wal_replay_resume()")
    await replica_caught_up(deployment)


async def _in_use(server: ScaleServer) -> bool:
    return (await replica_metrics(server.url)).get("boxoffice_replica_in_use") == 1


async def _replica_says(deployment: Deployment, query: str, expected: str) -> bool:
    return await asyncio.to_thread(deployment.replica.sql, query) == expected
