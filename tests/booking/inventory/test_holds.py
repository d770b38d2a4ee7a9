"""holdSeats / releaseHold rules, idempotency and expiry, through GraphQL on real PostgreSQL."""

import asyncio
import json
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from boxoffice.booking.audit import audit
from boxoffice.booking.inventory.hold_release import release_expired_holds
from boxoffice.booking.inventory.holds import _canonical
from support import HOLD, RELEASE

SEATS_Q = "query($id: ID!) { show(id: $id) { seats { id status version } availability { version codes sections { name available } } } }"


async def _expire(api, hold_id: str) -> None:
    """Moves a hold's expiry into the past, as if its TTL had run out."""
    async with api.services.engine.begin() as conn:
        await conn.execute(text("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = :h"),
                           {"h": uuid.UUID(hold_id)})
        await conn.execute(text("UPDATE show_seats SET hold_expires_at = now() - interval '1 second' "
                                "WHERE hold_id = :h"), {"h": uuid.UUID(hold_id)})


async def test_hold_reserved_and_ga_then_release(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(org)
    # Read as the fan: the writer reads its own writes (anonymous answers are shared a moment).
    before = (await api.gql(SEATS_Q, {"id": show["id"]}, fan))["show"]
    hold = await api.hold(fan, show["id"], show["seats"][:2], [(show["gaSectionId"], 3)])
    assert hold["__typename"] == "Hold" and hold["status"] == "ACTIVE"
    assert hold["totalCents"] == 2 * 5000 + 3 * 2000 and hold["currency"] == "EUR"
    assert [s["id"] for s in hold["seats"]] == show["seats"][:2]
    assert all(s["status"] == "HELD" for s in hold["seats"])
    assert hold["generalAdmission"] == [{"sectionId": show["gaSectionId"], "quantity": 3, "priceCents": 2000}]
    expires = datetime.fromisoformat(hold["expiresAt"])
    assert timedelta(seconds=590) < expires - datetime.now(timezone.utc) <= timedelta(seconds=600)
    after = (await api.gql(SEATS_Q, {"id": show["id"]}, fan))["show"]
    assert after["availability"]["codes"].startswith("HHA")
    assert after["availability"]["version"] > before["availability"]["version"]
    assert [s["available"] for s in after["availability"]["sections"]] == [8, 7]
    changed = [s for s in after["seats"] if s["status"] == "HELD"]
    assert all(s["version"] > 0 for s in changed)
    releases = api.services.releases
    assert releases is not None  # the server group-commits releases (release_batch.py)
    sent = releases.releases
    released = (await api.gql(RELEASE, {"id": hold["id"]}, fan))["releaseHold"]
    assert released["status"] == "RELEASED"
    assert releases.releases == sent + 1
    again = (await api.gql(RELEASE, {"id": hold["id"]}, fan))["releaseHold"]
    assert again["status"] == "RELEASED"  # releasing twice is harmless
    final = (await api.gql(SEATS_Q, {"id": show["id"]}, fan))["show"]
    assert final["availability"]["codes"] == "A" * 10
    assert [s["available"] for s in final["availability"]["sections"]] == [10, 10]
    versions = {s["id"]: s["version"] for s in final["seats"]}
    assert all(versions[s["id"]] > s["version"] for s in changed)  # every change bumps the version
    assert (await audit(api.services.engine, uuid.UUID(show["id"]))).clean


async def test_seats_unavailable_names_exactly_the_taken_seats(api) -> None:
    org, _ = await api.user("organizer")
    a, _ = await api.user()
    b, _ = await api.user()
    show = await api.show(org)
    s = show["seats"]
    assert (await api.hold(a, show["id"], [s[1], s[3]]))["__typename"] == "Hold"
    lost = await api.hold(b, show["id"], [s[0], s[1], s[2], s[3]])
    assert lost["__typename"] == "SeatsUnavailable" and lost["code"] == "SEATS_UNAVAILABLE"
    assert sorted(lost["seatIds"]) == sorted([s[1], s[3]])
    # All or nothing: the free seats of the failed request were not taken.
    codes = (await api.gql(SEATS_Q, {"id": show["id"]}))["show"]["availability"]["codes"]
    assert codes[:4] == "AHAH"


async def test_ga_sells_out_exactly(api) -> None:
    org, _ = await api.user("organizer")
    show = await api.show(org, ga=5)
    fans = [(await api.user())[0] for _ in range(3)]
    assert (await api.hold(fans[0], show["id"], ga=[(show["gaSectionId"], 3)]))["__typename"] == "Hold"
    short = await api.hold(fans[1], show["id"], ga=[(show["gaSectionId"], 3)])
    assert short["__typename"] == "SeatsUnavailable" and short["seatIds"] == []
    assert (await api.hold(fans[2], show["id"], ga=[(show["gaSectionId"], 2)]))["__typename"] == "Hold"


async def test_rejections(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(org, max_tickets=4)
    other = await api.show(org)
    s, ga = show["seats"], show["gaSectionId"]

    async def code(token, **inp):
        body = {"showId": show["id"], "idempotencyKey": uuid.uuid4().hex, **inp}
        result = (await api.gql(HOLD, {"input": body}, token))["holdSeats"]
        return result.get("code"), result.get("field")

    assert (await code(None, seatIds=[s[0]]))[0] == "UNAUTHENTICATED"
    assert await code(fan) == ("INVALID_INPUT", "seatIds")
    assert await code(fan, seatIds=[], generalAdmission=[]) == ("INVALID_INPUT", "seatIds")
    assert await code(fan, seatIds=[s[0], s[0]]) == ("INVALID_INPUT", "seatIds")
    assert await code(fan, seatIds=[other["seats"][0]]) == ("INVALID_INPUT", "seatIds")
    assert await code(fan, seatIds=["999999999"]) == ("INVALID_INPUT", "seatIds")
    assert await code(fan, seatIds=["abc"]) == ("INVALID_INPUT", "seatIds")
    for past_bigint in ("9223372036854775808", "-9223372036854775809", "0"):
        assert await code(fan, seatIds=[past_bigint]) == ("INVALID_INPUT", "seatIds")
    assert await code(fan, generalAdmission=[{"sectionId": ga, "quantity": 0}]) == ("INVALID_INPUT", "generalAdmission.quantity")
    assert await code(fan, generalAdmission=[{"sectionId": s[0], "quantity": 1}]) == ("INVALID_INPUT", "generalAdmission.sectionId")
    assert await code(fan, generalAdmission=[{"sectionId": other["gaSectionId"], "quantity": 1}]) == (
        "INVALID_INPUT", "generalAdmission.sectionId")
    assert await code(fan, seatIds=[s[0]], idempotencyKey="") == ("INVALID_INPUT", "idempotencyKey")
    # The server's waitlist offers are told apart by their keys: a fan's hold cannot pass for one.
    assert await code(fan, seatIds=[s[0]], idempotencyKey="waitlist-offer:x") == ("INVALID_INPUT", "idempotencyKey")
    assert await code(fan, seatIds=[str(n) for n in range(101)]) == ("INVALID_INPUT", "seatIds")
    assert await code(fan, generalAdmission=[{"sectionId": str(uuid.uuid4()), "quantity": 1}] * 21) == (
        "INVALID_INPUT", "generalAdmission")
    assert (await code(fan, seatIds=s[:5]))[0] == "LIMIT_EXCEEDED"  # one request over the limit
    assert (await code(fan, seatIds=s[:3]))[0] is None
    assert (await code(fan, seatIds=[s[3]], generalAdmission=[{"sectionId": ga, "quantity": 1}]))[0] == "LIMIT_EXCEEDED"
    assert (await code(fan, generalAdmission=[{"sectionId": ga, "quantity": 1}]))[0] is None
    assert (await code(fan, seatIds=[s[5]]))[0] == "LIMIT_EXCEEDED"  # 3 + 1 held already
    result = (await api.gql(HOLD, {"input": {"showId": "nope", "idempotencyKey": "k", "seatIds": [s[0]]}}, fan))
    assert result["holdSeats"]["code"] == "INVALID_INPUT"
    result = (await api.gql(HOLD, {"input": {"showId": str(uuid.uuid4()), "idempotencyKey": "k", "seatIds": [s[0]]}}, fan))
    assert result["holdSeats"]["code"] == "NOT_FOUND"


async def test_not_on_sale(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    later = await api.show(org, on_sale_at=datetime.now(timezone.utc) + timedelta(hours=2))
    draft = await api.show(org, publish=False)
    for show, who in ((later, fan), (draft, org)):
        result = await api.hold(who, show["id"], show["seats"][:1])
        assert result["code"] == "NOT_ON_SALE", result
    # To anyone but its organizer a draft is no show at all (tests/hardening/test_authorization.py).
    assert (await api.hold(fan, draft["id"], draft["seats"][:1]))["code"] == "NOT_FOUND"


async def test_idempotency(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    other_fan, _ = await api.user()
    show = await api.show(org)
    s = show["seats"]
    first = await api.hold(fan, show["id"], [s[0]], key="k1")
    assert (await api.hold(fan, show["id"], [s[0]], key="k1"))["id"] == first["id"]
    conflict = await api.hold(fan, show["id"], [s[1]], key="k1")
    assert conflict["code"] == "IDEMPOTENCY_CONFLICT" and conflict["field"] == "idempotencyKey"
    # Keys are per user: another fan's "k1" is a different request.
    theirs = await api.hold(other_fan, show["id"], [s[2]], key="k1")
    assert theirs["__typename"] == "Hold" and theirs["id"] != first["id"]
    # Even after release, the key returns the same hold, as a record.
    await api.gql(RELEASE, {"id": first["id"]}, fan)
    replay = await api.hold(fan, show["id"], [s[0]], key="k1")
    assert replay["id"] == first["id"] and replay["status"] == "RELEASED"
    # Two concurrent requests with one key create one hold.
    results = await asyncio.gather(*(api.hold(fan, show["id"], [s[4], s[3]], key="k2") for _ in range(8)))
    assert len({r["id"] for r in results}) == 1
    async with api.services.engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM holds WHERE idempotency_key = 'k2'"))).scalar()
    assert count == 1


async def test_release_is_for_the_owner_only(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    thief, _ = await api.user()
    show = await api.show(org)
    hold = await api.hold(fan, show["id"], show["seats"][:1])
    assert (await api.gql(RELEASE, {"id": hold["id"]}, thief))["releaseHold"]["code"] == "NOT_FOUND"
    assert (await api.gql(RELEASE, {"id": hold["id"]}))["releaseHold"]["code"] == "UNAUTHENTICATED"
    assert (await api.gql(RELEASE, {"id": str(uuid.uuid4())}, fan))["releaseHold"]["code"] == "NOT_FOUND"
    q = "query($id: ID!) { hold(id: $id) { id status } }"
    assert (await api.gql(q, {"id": hold["id"]}, thief))["hold"] is None
    assert (await api.gql(q, {"id": hold["id"]}))["hold"] is None
    assert (await api.gql(q, {"id": hold["id"]}, fan))["hold"]["status"] == "ACTIVE"
    codes = (await api.gql(SEATS_Q, {"id": show["id"]}))["show"]["availability"]["codes"]
    assert codes[0] == "H"


async def test_expired_hold_is_claimable_before_the_sweeper(api) -> None:
    org, _ = await api.user("organizer")
    a, _ = await api.user()
    b, _ = await api.user()
    show = await api.show(org, ga=2)
    first = await api.hold(a, show["id"], show["seats"][:2], [(show["gaSectionId"], 2)])
    await _expire(api, first["id"])
    q = "query($id: ID!) { hold(id: $id) { status } }"
    assert (await api.gql(q, {"id": first["id"]}, a))["hold"]["status"] == "EXPIRED"
    second = await api.hold(b, show["id"], show["seats"][:2], [(show["gaSectionId"], 2)])
    assert second["__typename"] == "Hold", second
    # The sweeper later ends the old hold without touching the seats the new hold owns.
    await release_expired_holds(api.services.engine)
    codes = (await api.gql(SEATS_Q, {"id": show["id"]}))["show"]["availability"]["codes"]
    assert codes[:2] == "HH"
    assert (await api.gql(RELEASE, {"id": first["id"]}, a))["releaseHold"]["status"] == "EXPIRED"
    assert (await audit(api.services.engine, uuid.UUID(show["id"]))).clean


async def test_sweeper_frees_seats_and_tells_the_fan(api) -> None:
    org, _ = await api.user("organizer")
    fan, fan_id = await api.user()
    show = await api.show(org)
    hold = await api.hold(fan, show["id"], show["seats"][:3])
    await _expire(api, hold["id"])
    # The app's own sweeper (every 0.2 s in tests) puts the seats back on sale.
    for _ in range(50):
        async with api.services.engine.connect() as conn:
            status = (await conn.execute(text("SELECT status FROM holds WHERE id = :h"),
                                         {"h": uuid.UUID(hold["id"])})).scalar()
        if status == "expired":
            break
        await asyncio.sleep(0.1)
    assert status == "expired"
    async with api.services.engine.connect() as conn:
        seats = (await conn.execute(text("SELECT count(*) FROM show_seats WHERE show_id = :s AND status = 'H'"),
                                    {"s": uuid.UUID(show["id"])})).scalar()
        outbox = (await conn.execute(text("SELECT payload->>'kind' FROM outbox WHERE user_id = :u"),
                                     {"u": uuid.UUID(fan_id)})).scalars().all()
    assert seats == 0 and outbox == ["HOLD_EXPIRED"]


async def test_hold_ttl_comes_from_the_show(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(org, hold_ttl=45)
    hold = await api.hold(fan, show["id"], show["seats"][:1])
    left = datetime.fromisoformat(hold["expiresAt"]) - datetime.now(timezone.utc)
    assert timedelta(seconds=40) < left <= timedelta(seconds=45)
    server = datetime.fromisoformat((await api.gql("{ serverTime }"))["serverTime"])
    assert abs((server - datetime.now(timezone.utc)).total_seconds()) < 5


def test_the_request_hash_is_the_json_it_always_was() -> None:
    # Holds store the hash of this canonical form; a replay after an upgrade must still match it.
    show = uuid.uuid4()
    for seats in ([5], [3, 1, 2], [2**70, -1, 0]):
        assert _canonical(show, seats, []) == json.dumps({"show": str(show), "seats": sorted(seats),
                                                          "ga": []}).encode()
    ga = [(uuid.uuid4(), 2)]
    assert _canonical(show, [1], ga) == json.dumps({"show": str(show), "seats": [1],
                                                    "ga": [[str(ga[0][0]), 2]]}).encode()


async def test_a_hold_finding_every_connection_busy_is_told_to_retry(database_url) -> None:
    """Overload is a typed RATE_LIMITED with a retry hint, not a masked error; nothing is stored."""
    from boxoffice.booking.catalog.browse import get_show
    from boxoffice.booking.errors import RateLimited
    from boxoffice.booking.inventory.holds import HoldRequest, hold_seats
    from boxoffice.db import create_engine

    from booking.fixtures_db import bulk_users, make_show

    engine = create_engine(database_url, pool_size=1, max_overflow=0, pool_timeout_s=0.2)
    try:
        show, seats, _ = await make_show(engine, seats=4, ga=1)
        settings = await get_show(engine, show.id)
        fan, = await bulk_users(engine, 1)
        request = HoldRequest(show.id, seats[:2], [], "busy-" + uuid.uuid4().hex)
        async with engine.connect():  # the only connection, busy elsewhere
            try:
                await hold_seats(engine, fan, request, show=settings)
                raise AssertionError("the hold went through without a connection")
            except RateLimited as busy:
                assert busy.code == "RATE_LIMITED" and busy.retry_after_s == 1
        hold, _ = await hold_seats(engine, fan, request, show=settings)  # the same key works once it is quiet
        assert list(hold.seat_ids) == [int(s) for s in seats[:2]]
        assert (await audit(engine, show.id)).clean
    finally:
        await engine.dispose()


async def test_a_ga_hold_claims_its_quantity_and_no_more_whatever_the_plan(api) -> None:
    """`id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` run as a nested-loop semi join (the plan a
    new show's unanalysed rows get) ran the subquery once per row, and a hold of 2 took the section."""
    org, _ = await api.user("organizer")
    fan, other = (await api.user())[0], (await api.user())[0]
    show = await api.show(org, ga=50)
    async with api.services.engine.begin() as conn:  # the statistics a new show's rows can have
        await conn.execute(text("ANALYZE show_seats"))
        await conn.execute(text("UPDATE pg_class SET reltuples = 1, relpages = 1 WHERE relname = 'show_seats'"))
    try:
        hold = await api.hold(fan, show["id"], ga=[(show["gaSectionId"], 2)])
    finally:
        async with api.services.engine.begin() as conn:
            await conn.execute(text("ANALYZE show_seats"))  # the real statistics back, for the other tests
    assert hold["__typename"] == "Hold", hold
    async with api.services.engine.connect() as conn:
        held = (await conn.execute(text("SELECT count(*) FROM show_seats WHERE hold_id = :h"),
                                   {"h": hold["id"]})).scalar_one()
    assert held == 2
    assert (await api.hold(other, show["id"], ga=[(show["gaSectionId"], 8)]))["__typename"] == "Hold"
