"""Churn across two real `boxoffice serve` processes on one database and one Redis: holders release
through both, both processes' offer rounds make offers, offered fans buy (Stripe simulator), let the
offer lapse or leave, and others try to hold the released seats on open sale. Afterwards every tier's
line was offered in FIFO order, no seat was ever in two offers at once, none is lost, and
`boxoffice audit` is clean."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import uuid
from collections import Counter

import httpx
from sqlalchemy import text

from boxoffice.booking.accounts.sign_in import TokenIssuer
from boxoffice.booking.records import UserRecord
from booking.door.buying import CONFIRM, CREATE_ORDER
from booking.fixtures_db import bulk_users
from booking.waitlist.helpers import lapse, tiered_show
from live_support import ServerProcess

SEATS, GA = 12, 4  # the Seats tier (row A) and the Floor tier (general admission)
WAITING = {"Seats": 10, "Floor": 5}  # one place each, so a tier's line is offered strictly in order
HOLD = """mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename ... on Hold { id } } }"""
RELEASE = """mutation($h: ID!) { releaseHold(holdId: $h) { __typename } }"""
JOIN = """mutation($s: ID!, $t: ID) { joinWaitlist(showId: $s, quantity: 1, priceTierId: $t) {
  __typename ... on WaitlistEntry { id status } ... on Rejected { code message } } }"""
LEAVE = """mutation($e: ID!) { leaveWaitlist(entryId: $e) { __typename ... on WaitlistEntry { status } } }"""
# Two offer holds of the show sharing a seat or place, both active at this instant.
SHARED = ("SELECT p, count(*) FROM holds h, unnest(h.seat_ids || h.unit_ids) p WHERE h.show_id = :s "
          "AND h.status = 'active' AND h.idempotency_key LIKE 'waitlist-offer:%' GROUP BY p HAVING count(*) > 1")


async def _fans(engine, secret: str, n: int) -> list[tuple[uuid.UUID, str]]:
    issuer = TokenIssuer(secret, 3600)
    return [(v.user_id, issuer.issue(UserRecord(v.user_id, f"{v.user_id}@bulk.test", "Bulk", "fan")))
            for v in await bulk_users(engine, n)]


async def _call(client: httpx.AsyncClient, server: ServerProcess, token: str, query: str, variables: dict) -> dict:
    body = (await client.post(f"{server.url}/graphql", json={"query": query, "variables": variables},
                              headers={"Authorization": f"Bearer {token}"})).json()
    assert not body.get("errors"), body
    return dict(body["data"])


def _audit(server: ServerProcess, show_id: uuid.UUID) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": server.database_url, "BOXOFFICE_SECRET": server.secret,
           "BOXOFFICE_DATA_DIR": str(server.data_dir)}
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "boxoffice.cli", "audit", "--show", str(show_id)], env=env,
                          capture_output=True, text=True, timeout=60)


async def test_offers_under_churn_from_two_server_processes(database_url, engine, secret, tmp_path) -> None:
    show, seats, floor, tier_ids = await tiered_show(engine, seats=SEATS, ga=GA, tiers=True)
    # As `cluster` picks its Redis db, and not emptied: `cluster` may be using the same one right now
    # (the same database, so the same deployment); nothing here reads a notification stream.
    redis_url = f"redis://127.0.0.1:6379/{random.randint(3, 13)}"
    env = {"BOXOFFICE_WAITLIST_INTERVAL_S": "0.1", "BOXOFFICE_WAITLIST_OFFER_S": "30",  # 30: the minimum
           "BOXOFFICE_DB_POOL_SIZE": "4"}  # a handful of fans at a time: PostgreSQL's connections are shared
    servers = [ServerProcess(database_url, redis_url, secret, tmp_path / f"srv{i}", extra_env=env) for i in range(2)]
    rng = random.Random(2020)
    try:
        for server in servers:
            server.start()
        holders = await _fans(engine, secret, SEATS // 2 + GA // 2)
        waiters = await _fans(engine, secret, sum(WAITING.values()))
        grabbers = await _fans(engine, secret, 3)
        token_of = {u: t for u, t in holders + waiters + grabbers}
        sid = str(show.id)
        async with httpx.AsyncClient(timeout=30) as client:
            held = []  # sold out: every seat and place held, through both processes
            for i, (_, token) in enumerate(holders):
                places = ({"seatIds": seats[2 * i:2 * i + 2]} if i < SEATS // 2
                          else {"generalAdmission": [{"sectionId": floor, "quantity": 2}]})
                made = (await _call(client, servers[i % 2], token, HOLD, {"i": {
                    "showId": sid, "idempotencyKey": uuid.uuid4().hex, **places}}))["holdSeats"]
                assert made["__typename"] == "Hold", made
                held.append((token, made["id"]))
            line: dict[str, list[str]] = {tier: [] for tier in WAITING}  # join order per tier
            queue = [(tier, w) for w, tier in zip(waiters, [t for t, n in WAITING.items() for _ in range(n)])]
            for i, (tier, (_, token)) in enumerate(queue):
                joined = (await _call(client, servers[i % 2], token, JOIN,
                                      {"s": sid, "t": str(tier_ids[tier])}))["joinWaitlist"]
                assert (joined["__typename"], joined["status"]) == ("WaitlistEntry", "WAITING"), joined
                line[tier].append(joined["id"])

            stop = asyncio.Event()
            handled: set[uuid.UUID] = set()
            outcomes: Counter[str] = Counter()
            overlaps: list = []
            grabbed: list[str] = []

            async def release() -> None:
                for i, (token, hold_id) in enumerate(held):  # through A, B, A, ... while offers are made
                    done = (await _call(client, servers[i % 2], token, RELEASE, {"h": hold_id}))["releaseHold"]
                    assert done["__typename"] == "Hold", done

            async def take(user_id: uuid.UUID, hold_id: uuid.UUID, server: ServerProcess) -> None:
                token = token_of[user_id]
                order = (await _call(client, server, token, CREATE_ORDER, {"i": {
                    "holdId": str(hold_id), "idempotencyKey": uuid.uuid4().hex}}))["createOrder"]
                assert order["__typename"] == "Order", order
                paid = (await _call(client, server, token, CONFIRM, {"i": {
                    "orderId": order["id"], "paymentMethod": "pm_card_visa",
                    "idempotencyKey": uuid.uuid4().hex}}))["confirmPayment"]
                assert paid["status"] == "CONFIRMED", paid

            async def offered_fans() -> None:  # each offer: bought, left to lapse, or the fan leaves
                while not stop.is_set():
                    async with engine.connect() as conn:
                        offered = (await conn.execute(text(
                            "SELECT id, user_id, offer_hold_id FROM waitlist_entries WHERE show_id = :s "
                            "AND status = 'offered' ORDER BY offered_at, id"), {"s": show.id})).all()
                        overlaps.extend((await conn.execute(text(SHARED), {"s": show.id})).all())
                    acts = []
                    for entry in offered:
                        if entry.id in handled:
                            continue
                        handled.add(entry.id)
                        server, roll = rng.choice(servers), rng.random()
                        if roll < 0.4:
                            outcomes["bought"] += 1
                            acts.append(take(entry.user_id, entry.offer_hold_id, server))
                        elif roll < 0.8:
                            outcomes["lapsed"] += 1
                            acts.append(lapse(engine, entry.offer_hold_id))  # as if 30 s went by unpaid
                        else:
                            outcomes["left"] += 1
                            acts.append(_call(client, server, token_of[entry.user_id], LEAVE, {"e": str(entry.id)}))
                    await asyncio.gather(*acts)
                    await asyncio.sleep(0.05)

            async def open_sale() -> None:  # others try their luck on every place, through both processes
                while not stop.is_set():
                    _, token = rng.choice(grabbers)
                    places = ({"seatIds": [rng.choice(seats)]} if rng.random() < 0.75
                              else {"generalAdmission": [{"sectionId": floor, "quantity": 1}]})
                    made = (await _call(client, rng.choice(servers), token, HOLD, {"i": {
                        "showId": sid, "idempotencyKey": uuid.uuid4().hex, **places}}))["holdSeats"]
                    if made["__typename"] == "Hold":
                        grabbed.append(made["id"])
                    await asyncio.sleep(0.02)

            async def settled() -> bool:
                async with engine.connect() as conn:
                    busy = (await conn.execute(text(
                        "SELECT (SELECT count(*) FROM show_seats WHERE show_id = :s AND status = 'W') "
                        "+ (SELECT count(*) FROM waitlist_entries WHERE show_id = :s AND status = 'offered') "
                        "+ (SELECT count(*) FROM holds WHERE show_id = :s AND status = 'active' "
                        "   AND expires_at < now())"),
                        {"s": show.id})).scalar_one()
                return busy == 0

            jobs = [asyncio.create_task(offered_fans()), asyncio.create_task(open_sale())]
            try:
                await release()
                async with asyncio.timeout(40):
                    while not await settled():  # every release passed on, every offer answered
                        await asyncio.sleep(0.1)
            finally:
                stop.set()
                await asyncio.gather(*jobs)
    finally:
        for server in servers:
            server.stop()

    assert overlaps == []  # no seat or place was ever in two active offers at once
    assert outcomes["bought"] and outcomes["lapsed"], outcomes
    async with engine.connect() as conn:
        entries = {str(r.id): r for r in await conn.execute(text(
            "SELECT w.id, w.status, w.offered_at, w.price_tier_id, "
            "  (SELECT count(*) FROM holds h WHERE h.idempotency_key LIKE 'waitlist-offer:' || w.id || ':%') AS offers "
            "FROM waitlist_entries w WHERE w.show_id = :s"), {"s": show.id})}
        places = dict((await conn.execute(text(
            "SELECT status, count(*) FROM show_seats WHERE show_id = :s GROUP BY status"), {"s": show.id})).all())
        free_by_tier = dict((await conn.execute(text(
            "SELECT sc.price_tier_id, count(*) FROM show_seats ss JOIN show_sections sc "
            "ON sc.show_id = ss.show_id AND sc.section_id = ss.section_id "
            "WHERE ss.show_id = :s AND ss.status = 'A' GROUP BY 1"), {"s": show.id})).all())
        grabbed_places = (await conn.execute(text(
            "SELECT COALESCE(sum(ticket_count), 0) FROM holds WHERE show_id = :s AND status = 'active' "
            "AND id = ANY(CAST(:g AS uuid[]))"), {"s": show.id, "g": grabbed})).scalar_one()
        # When open sale got each place of a tier, and when that tier's line was last offered a place.
        open_sale_got = dict((await conn.execute(text(
            "SELECT sc.price_tier_id, min(h.created_at) FROM holds h, unnest(h.seat_ids || h.unit_ids) p, "
            "show_seats ss, show_sections sc WHERE h.id = ANY(CAST(:g AS uuid[])) AND ss.show_id = :s AND ss.id = p "
            "AND sc.show_id = ss.show_id AND sc.section_id = ss.section_id GROUP BY 1"),
            {"s": show.id, "g": grabbed})).all())
        told = (await conn.execute(text(
            "SELECT count(*) FROM outbox WHERE payload->>'kind' = 'WAITLIST_OFFER' AND payload->>'showId' = :s"),
            {"s": sid})).scalar_one()
    # FIFO per tier: those offered are the head of the line, offered in the order they joined.
    for tier, ids in line.items():
        rows = [entries[i] for i in ids]
        assert all(r.price_tier_id == tier_ids[tier] for r in rows)
        offered = [r for r in rows if r.offered_at is not None]
        assert rows[:len(offered)] == offered, (tier, [(r.status, r.offered_at) for r in rows])
        assert [r.offered_at for r in offered] == sorted(r.offered_at for r in offered), tier
        if any(r.status == "waiting" for r in rows):  # someone of the tier still waits: none of its places free
            assert free_by_tier.get(tier_ids[tier], 0) == 0, (tier, free_by_tier)
        # Open sale only got a tier's places once nobody of the tier was waiting any more.
        first_grab = open_sale_got.get(tier_ids[tier])
        if first_grab is not None:
            assert len(offered) == len(rows) and first_grab >= max(r.offered_at for r in offered), tier
    # Each entry offered at most once, each offer told once; every entry ended the way its fan chose.
    assert all(r.offers <= 1 and (r.offers == 1) == (r.offered_at is not None) for r in entries.values())
    assert told == sum(r.offers for r in entries.values())
    states = Counter(r.status for r in entries.values())
    assert (states["fulfilled"], states["expired"], states["left"]) == (
        outcomes["bought"], outcomes["lapsed"], outcomes["left"]), (states, outcomes)
    assert states["offered"] == 0 and sum(states.values()) == sum(WAITING.values())
    # No place lost: sold to a fan who took an offer, held by open sale, or on sale; none parked.
    assert set(places) <= {"S", "H", "A"} and sum(places.values()) == SEATS + GA, places
    assert places.get("S", 0) == outcomes["bought"] and places.get("H", 0) == grabbed_places, (places, grabbed_places)
    report = _audit(servers[0], show.id)
    assert report.returncode == 0 and "every invariant holds" in report.stdout, report.stdout + report.stderr
