"""Two doors, two server processes, the same ticket at the same instant: exactly one admits it."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import text

from boxoffice.booking.accounts.sign_in import TokenIssuer, create_user
from booking.fixtures_db import make_show
from .buying import CHECK_IN, ticketed_order

TICKETS = 40
RACING = 4  # tickets raced at once
SCANS_PER_SERVER = 2  # per ticket: four scans of each ticket race, two through each process


async def test_concurrent_scans_across_two_processes_admit_each_ticket_once(cluster, engine, secret) -> None:
    show, seat_ids, _ = await make_show(engine, seats=TICKETS, ga=5)
    fan = await create_user(engine, email=f"door-fan-{uuid.uuid4().hex[:8]}@example.test",
                            password="door-fan-password", name="Fan")
    tickets = await ticketed_order(engine, secret, fan.id, show.id, [int(s) for s in seat_ids])
    assert len(tickets) == TICKETS
    issuer = TokenIssuer(secret, 3600)
    doors = []
    for _ in range(2 * SCANS_PER_SERVER):
        person = await create_user(engine, email=f"door-{uuid.uuid4().hex[:8]}@example.test",
                                   password="door-staff-password", name="Door")
        doors.append(issuer.issue(person))
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO door_staff (show_id, user_id, added_by) "
                                    "SELECT :s, :u, organizer_id FROM events WHERE id = :e"),
                               {"s": show.id, "u": person.id, "e": show.event_id})

    async with httpx.AsyncClient(timeout=30) as client:
        async def scan(server, token: str, barcode: str) -> dict:
            while True:
                response = await client.post(f"{server.url}/graphql", headers={"Authorization": f"Bearer {token}"},
                                             json={"query": CHECK_IN, "variables": {"s": str(show.id), "b": barcode}})
                body = response.json()
                shed = body.get("errors") and body["errors"][0].get("extensions", {}).get("code") == "RATE_LIMITED"
                if not shed:  # a shed request never ran: the scanner tries again, as a real one does
                    break
                await asyncio.sleep(float(response.headers.get("retry-after", "0.2")))
            assert not body.get("errors"), body
            return body["data"]["checkInTicket"]  # type: ignore[no-any-return]

        async def race(barcode: str) -> list[dict]:
            return await asyncio.gather(*(scan(cluster[i % 2], doors[i], barcode) for i in range(len(doors))))

        results = []
        for first in range(0, TICKETS, RACING):  # a few tickets at a time: the busy box sheds past 32 requests
            results += await asyncio.gather(*(race(barcode) for _, barcode in tickets[first:first + RACING]))

    for (ticket_id, _), answers in zip(tickets, results):
        admitted = [a for a in answers if a["__typename"] == "CheckIn"]
        assert len(admitted) == 1, answers
        assert admitted[0]["ticket"]["id"] == str(ticket_id)
        refused = [a for a in answers if a["__typename"] != "CheckIn"]
        assert [r["code"] for r in refused] == ["ALREADY_CHECKED_IN"] * (len(doors) - 1), answers
        assert all("Already checked in at" in r["message"] for r in refused)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM tickets WHERE show_id = :s AND status = 'checked_in'"),
                                   {"s": show.id})).scalar() == TICKETS
