"""The waiting room across two server processes sharing PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta, timezone

import jwt
from sqlalchemy import text

from boxoffice.booking.waiting_room.admission import issue_admission_token
from booking.fixtures_db import make_show
from live_support import fan_tokens, gql

CONFIGURE = """mutation($s: ID!, $i: WaitingRoomInput!) { configureWaitingRoom(showId: $s, input: $i) {
  __typename ... on Show { waitingRoom { enabled admitPerMinute admissionTtlSeconds queueLength } }
  ... on Rejected { code message field } } }"""
ENTER = """mutation($s: ID!) { enterWaitingRoom(showId: $s) { __typename
  ... on WaitingRoomTicket { id showId status position estimatedWaitSeconds admissionToken admissionExpiresAt }
  ... on Rejected { code message } } }"""
TICKET = """query($id: ID!) { waitingRoomTicket(id: $id) { id status position estimatedWaitSeconds admissionToken
  admissionExpiresAt } }"""
HOLD = """mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename ... on Hold { id }
  ... on Rejected { code message field } } }"""


async def _room_show(engine, organizer_token, url, *, rate: int, on_sale_in: float | None = None):
    show, seats, _ = await make_show(engine, seats=40, ga=1, max_tickets=8)
    async with engine.begin() as conn:  # the organizer of the show is the token's user
        user_id = jwt.decode(organizer_token, options={"verify_signature": False})["sub"]
        await conn.execute(text("UPDATE events SET organizer_id = :u WHERE id = :e"),
                           {"u": uuid.UUID(user_id), "e": show.event_id})
        if on_sale_in is not None:
            await conn.execute(text("UPDATE shows SET on_sale_at = now() + make_interval(secs => :s) WHERE id = :id"),
                               {"s": on_sale_in, "id": show.id})
    result = (await gql(url, CONFIGURE, {"s": str(show.id), "i": {"enabled": True, "admitPerMinute": rate,
                                                                  "admissionTtlSeconds": 600}},
                        organizer_token))["configureWaitingRoom"]
    assert result["__typename"] == "Show" and result["waitingRoom"]["enabled"], result
    return show, seats


async def _stable_read(server, tickets, tokens):
    """Every ticket, read until two reads agree (the promoter may move the queue mid-read)."""
    async def read_all():
        return [(await gql(server.url, TICKET, {"id": t}, tok))["waitingRoomTicket"] for t, tok in zip(tickets, tokens)]

    def queue(views):  # the ETA may tick between reads; the queue itself must not move
        return [(v["status"], v["position"]) for v in views]

    views, previous = await read_all(), None
    while previous is None or queue(views) != queue(previous):
        previous, views = views, await read_all()
    return views


async def _watch_admissions(server, tickets, tokens, deadline_s: float):
    """Stable reads until everyone is admitted: samples of (seconds, admitted indexes)."""
    samples: list[tuple[float, list[int]]] = []
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        views = await _stable_read(server, tickets, tokens)
        admitted = [i for i, v in enumerate(views) if v["status"] == "ADMITTED"]
        samples.append((time.monotonic() - started, admitted))
        if len(admitted) == len(tickets):
            break
        await asyncio.sleep(0.05)
    return samples


async def test_fifo_admission_at_the_rate_with_exact_positions(cluster, engine, secret) -> None:
    a, b = cluster
    organizer, = await fan_tokens(engine, secret, 1, role="organizer")
    show, _ = await _room_show(engine, organizer, a.url, rate=120)  # 2 per second
    fans = await fan_tokens(engine, secret, 12)
    tickets = []
    entered_at = time.monotonic()
    for i, token in enumerate(fans):  # arrival order, alternating processes
        t = (await gql((a, b)[i % 2].url, ENTER, {"s": str(show.id)}, token))["enterWaitingRoom"]
        assert t["__typename"] == "WaitingRoomTicket", t
        tickets.append(t["id"])
        again = (await gql((b, a)[i % 2].url, ENTER, {"s": str(show.id)}, token))["enterWaitingRoom"]
        assert again["id"] == t["id"]  # entering again returns the same ticket
    # Positions are exact: the waiting fans are numbered 1..k in arrival order.
    for _ in range(20):
        views = [(await gql(a.url, TICKET, {"id": tk}, tok))["waitingRoomTicket"] for tk, tok in zip(tickets, fans)]
        waiting = [v["position"] for v in views if v["status"] == "WAITING"]
        admitted = [v for v in views if v["status"] == "ADMITTED"]
        if waiting == list(range(1, len(waiting) + 1)) and len(admitted) + len(waiting) == len(fans):
            break
        await asyncio.sleep(0.05)  # the promoter moved the queue mid-read: read again
    else:
        raise AssertionError(f"positions not exact: {views}")
    assert all(v["estimatedWaitSeconds"] is not None for v in views if v["status"] == "WAITING")
    samples = await _watch_admissions(b, tickets, fans, deadline_s=20)
    assert samples[-1][1] == list(range(len(fans))), samples  # everyone got in
    since_entry = time.monotonic() - entered_at - samples[-1][0]  # seconds from the first entry to sample 0
    for elapsed, admitted in samples:
        # Admission order is arrival order: whoever is in is always the first k to arrive.
        assert admitted == list(range(len(admitted))), samples
        # Never more than the rate (2/s) plus the one-second burst the bucket allows.
        assert len(admitted) <= 2 * (elapsed + since_entry) + 2, samples


async def test_pre_queue_is_shuffled_then_fifo(cluster, engine, secret) -> None:
    a, b = cluster
    organizer, = await fan_tokens(engine, secret, 1, role="organizer")
    early = await fan_tokens(engine, secret, 12)  # accounts first: hashing passwords takes time
    late = await fan_tokens(engine, secret, 4)
    # One admission a minute: the queue holds still while the test reads every position.
    show, _ = await _room_show(engine, organizer, a.url, rate=1, on_sale_in=2.5)
    tickets = []
    for i, token in enumerate(early):
        t = (await gql((a, b)[i % 2].url, ENTER, {"s": str(show.id)}, token))["enterWaitingRoom"]
        assert t["status"] == "WAITING" and t["position"] is None, t  # not ordered before the on-sale
        tickets.append(t["id"])
    async with engine.connect() as conn:
        left = (await conn.execute(text("SELECT extract(epoch FROM on_sale_at - now()) FROM shows WHERE id = :s"),
                                   {"s": show.id})).scalar()
    await asyncio.sleep(max(0.0, float(left)) + 0.2)
    for i, token in enumerate(late):
        tickets.append((await gql((a, b)[i % 2].url, ENTER, {"s": str(show.id)}, token))["enterWaitingRoom"]["id"])
    # At on-sale the early fans were placed in a random order ahead of everyone later; with one
    # admission a minute, nearly all are still waiting and their positions show that order.
    views = await _stable_read(a, tickets, early + late)
    admitted = [i for i, v in enumerate(views) if v["status"] == "ADMITTED"]
    waiting = sorted((v["position"], i) for i, v in enumerate(views) if v["status"] == "WAITING")
    assert len(admitted) <= 3 and all(i < 12 for i in admitted)
    queue = admitted + [i for _, i in waiting]
    assert [p for p, _ in waiting] == list(range(1, len(waiting) + 1))
    assert sorted(queue[:12]) == list(range(12)) and queue[12:] == [12, 13, 14, 15]
    assert queue[:12] != list(range(12))  # the early fans were shuffled, not served by arrival


async def test_holds_need_a_valid_admission_token(cluster, engine, secret) -> None:
    a, b = cluster
    organizer, = await fan_tokens(engine, secret, 1, role="organizer")
    show, seats = await _room_show(engine, organizer, a.url, rate=6000)
    other_show, other_seats = await _room_show(engine, organizer, a.url, rate=6000)
    fan, other_fan = await fan_tokens(engine, secret, 2)
    ticket = (await gql(b.url, ENTER, {"s": str(show.id)}, fan))["enterWaitingRoom"]
    for _ in range(60):
        ticket = (await gql(a.url, TICKET, {"id": ticket["id"]}, fan))["waitingRoomTicket"]
        if ticket["status"] == "ADMITTED":
            break
        await asyncio.sleep(0.1)
    token = ticket["admissionToken"]
    assert ticket["status"] == "ADMITTED" and token and ticket["position"] is None
    theirs = (await gql(a.url, ENTER, {"s": str(other_show.id)}, other_fan))["enterWaitingRoom"]
    for _ in range(60):
        theirs = (await gql(a.url, TICKET, {"id": theirs["id"]}, other_fan))["waitingRoomTicket"]
        if theirs["status"] == "ADMITTED":
            break
        await asyncio.sleep(0.1)
    fan_id = jwt.decode(fan, options={"verify_signature": False})["sub"]
    now = datetime.now(timezone.utc)
    expired = issue_admission_token(secret=secret, user_id=fan_id, show_id=str(show.id), ticket_id=ticket["id"],
                                    issued_at=now - timedelta(hours=2), expires_at=now - timedelta(hours=1))
    forged = issue_admission_token(secret="not-the-secret", user_id=fan_id, show_id=str(show.id),
                                   ticket_id=ticket["id"], issued_at=now, expires_at=now + timedelta(hours=1))
    claims = jwt.decode(token, options={"verify_signature": False})
    alg_none = jwt.encode(claims, None, algorithm="none")

    async def hold(admission, token_user=fan, seat=seats[0]):
        return (await gql(b.url, HOLD, {"i": {"showId": str(show.id), "seatIds": [seat], "admissionToken": admission,
                                              "idempotencyKey": uuid.uuid4().hex}}, token_user))["holdSeats"]

    for bad in (None, "garbage", expired, forged, alg_none, theirs["admissionToken"]):
        result = await hold(bad)
        assert result.get("code") == "ADMISSION_REQUIRED", (bad, result)
    assert (await hold(token, token_user=other_fan))["code"] == "ADMISSION_REQUIRED"  # another user's token
    assert (await hold(token))["__typename"] == "Hold"
    assert other_seats  # the other show exists only to mint a token for the wrong show


async def test_waiting_room_rules(cluster, engine, secret) -> None:
    a, _ = cluster
    organizer, fan = await fan_tokens(engine, secret, 1, role="organizer") + await fan_tokens(engine, secret, 1)
    other_org, = await fan_tokens(engine, secret, 1, role="organizer")
    show, _ = await _room_show(engine, organizer, a.url, rate=60)
    async def configure(token, **inp):
        body = {"enabled": True, "admitPerMinute": 60, **inp}
        return (await gql(a.url, CONFIGURE, {"s": str(show.id), "i": body}, token))["configureWaitingRoom"]
    assert (await configure(None))["code"] == "UNAUTHENTICATED"
    assert (await configure(fan))["code"] == "FORBIDDEN"
    assert (await configure(other_org))["code"] == "FORBIDDEN"
    assert (await configure(organizer, admitPerMinute=0))["code"] == "INVALID_INPUT"
    assert (await configure(organizer, admissionTtlSeconds=5))["code"] == "INVALID_INPUT"
    assert (await gql(a.url, ENTER, {"s": str(show.id)}))["enterWaitingRoom"]["code"] == "UNAUTHENTICATED"
    assert (await gql(a.url, ENTER, {"s": "nope"}, fan))["enterWaitingRoom"]["code"] == "INVALID_INPUT"
    mine = (await gql(a.url, ENTER, {"s": str(show.id)}, fan))["enterWaitingRoom"]
    assert (await gql(a.url, TICKET, {"id": mine["id"]}, organizer))["waitingRoomTicket"] is None
    assert (await gql(a.url, TICKET, {"id": mine["id"]}))["waitingRoomTicket"] is None
    off = await configure(organizer, enabled=False)
    assert off["waitingRoom"]["enabled"] is False
