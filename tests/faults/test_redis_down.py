"""Redis down: sales go on (PostgreSQL is the authority), the waiting room fails closed, issued
admission tokens still verify, and everything resumes when Redis returns."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid

import jwt
from sqlalchemy import text

from booking.fixtures_db import make_show
from live_support import ServerProcess, fan_tokens, free_port, gql

ENTER = """mutation($s: ID!) { enterWaitingRoom(showId: $s) { __typename
  ... on WaitingRoomTicket { id status admissionToken } ... on Rejected { code message } } }"""
TICKET = "query($id: ID!) { waitingRoomTicket(id: $id) { id status admissionToken } }"
HOLD = """mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename ... on Hold { id }
  ... on Rejected { code message } } }"""


async def test_redis_outage_degrades_as_documented(database_url, engine, secret, tmp_path) -> None:
    port = free_port()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    server = ServerProcess(database_url, f"redis://127.0.0.1:{port}/0", secret, tmp_path / "srv")
    try:
        time.sleep(0.3)
        server.start()
        organizer, fan, late_fan = (await fan_tokens(engine, secret, 1, role="organizer")
                                    + await fan_tokens(engine, secret, 2))
        room_show, room_seats, _ = await make_show(engine, seats=10, ga=1)
        plain_show, plain_seats, _ = await make_show(engine, seats=10, ga=1)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE events SET organizer_id = :u WHERE id = :e"),
                               {"u": uuid.UUID(jwt.decode(organizer, options={"verify_signature": False})["sub"]),
                                "e": room_show.event_id})
        configured = await gql(server.url, """mutation($s: ID!) { configureWaitingRoom(showId: $s,
            input: {enabled: true, admitPerMinute: 6000}) { __typename } }""", {"s": str(room_show.id)}, organizer)
        assert configured["configureWaitingRoom"]["__typename"] == "Show"
        ticket = (await gql(server.url, ENTER, {"s": str(room_show.id)}, fan))["enterWaitingRoom"]
        assert ticket["__typename"] == "WaitingRoomTicket", ticket
        for _ in range(50):
            ticket = (await gql(server.url, TICKET, {"id": ticket["id"]}, fan))["waitingRoomTicket"]
            if ticket["status"] == "ADMITTED":
                break
            await asyncio.sleep(0.1)
        assert ticket["admissionToken"]

        redis.terminate()
        redis.wait()
        # Sales continue on a show without a waiting room.
        sold = await gql(server.url, HOLD, {"i": {"showId": str(plain_show.id), "seatIds": plain_seats[:1],
                                                  "idempotencyKey": uuid.uuid4().hex}}, fan)
        assert sold["holdSeats"]["__typename"] == "Hold"
        # The waiting room fails closed: nobody new gets in without a queue...
        started = time.monotonic()
        refused = (await gql(server.url, ENTER, {"s": str(room_show.id)}, late_fan))["enterWaitingRoom"]
        assert refused["__typename"] == "Rejected" and refused["code"] == "ADMISSION_REQUIRED"
        assert "unavailable" in refused["message"] and time.monotonic() - started < 5
        # ...but an admission token already issued still verifies (it is signed, not stored).
        admitted = await gql(server.url, HOLD, {"i": {"showId": str(room_show.id), "seatIds": room_seats[:1],
                                                      "admissionToken": ticket["admissionToken"],
                                                      "idempotencyKey": uuid.uuid4().hex}}, fan)
        assert admitted["holdSeats"]["__typename"] == "Hold"
        health = await asyncio.to_thread(lambda: __import__("httpx").get(f"{server.url}/healthz").status_code)
        assert health == 200  # the database is what /healthz reports on

        redis = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        for _ in range(50):  # the waiting room comes back by itself
            back = (await gql(server.url, ENTER, {"s": str(room_show.id)}, late_fan))["enterWaitingRoom"]
            if back["__typename"] == "WaitingRoomTicket":
                break
            await asyncio.sleep(0.2)
        assert back["__typename"] == "WaitingRoomTicket"
    finally:
        server.stop()
        redis.terminate()
        redis.wait()
