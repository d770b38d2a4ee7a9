"""The same-run ceilings of bench/journey.py: the journeys' state changes with no web stack.

  cycle     hold 2 random seats, all or none, in one statement (the available ones locked in key order,
            then updated only if all were), then release them: on the app's show_seats of a show of its
            own. No holds rows (nor does the peer's). The PostGraphile peer's load.py
            spends three round trips on the hold (BEGIN; UPDATE; COMMIT or ROLLBACK when it claimed
            fewer), and its table has a primary key only, so its updates write no other index entry (and
            can be HOT); show_seats has five more indexes, one of them on `version` (from a sequence), so
            no update of a seat is HOT and each writes three or four index entries: the two ceilings
            measure different work, and only each one's ratio to its own ceiling compares.
  purchase  the purchase's state changes, one statement (one round trip) per step, on the app's own
            tables: hold (seats + holds row), order (orders + payments rows), settlement (seats sold,
            hold converted, order confirmed, payment succeeded, tickets, outbox row). No PSP. Its rate
            is confirmed purchases/s, as the app's is.
  zadd/zrank  redis-py asyncio (the app's client) loops on one sorted set: the waiting room's floor.

Each ceiling starts on vacuumed and analysed seats, as each of the server's runs does (`vacuum`).

bare asyncpg + uvloop, 64 tasks on a pool of 16 connections (reset-on-release off), time-bounded.
The ceiling's rows are deleted afterwards (cleanup), so that `boxoffice audit` sees only the app's.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from _common import latency_summary, log
from _db import connect_retry

HOLD_SQL = (
    "UPDATE show_seats SET status = 'H', hold_id = $3, hold_expires_at = now() + interval '10 min', "
    "version = nextval($4::text::regclass) WHERE show_id = $1 AND id = ANY($2::bigint[]) "
    "AND (status = 'A' OR (status = 'H' AND hold_expires_at <= now())) RETURNING id")
# The cycle's hold: one round trip, as the app's hold is one function call.
CYCLE_HOLD_SQL = (
    "WITH free AS (SELECT id FROM show_seats WHERE show_id = $1 AND id = ANY($2::bigint[]) "
    "AND (status = 'A' OR (status = 'H' AND hold_expires_at <= now())) ORDER BY id FOR UPDATE), "
    "every AS (SELECT count(*) = cardinality($2::bigint[]) AS yes FROM free) "
    "UPDATE show_seats ss SET status = 'H', hold_id = $3, hold_expires_at = now() + interval '10 min', "
    "version = nextval($4::text::regclass) FROM free, every "
    "WHERE every.yes AND ss.show_id = $1 AND ss.id = free.id RETURNING ss.id")
RELEASE_SQL = (
    "UPDATE show_seats SET status = 'A', hold_id = NULL, hold_expires_at = NULL, "
    "version = nextval($4::text::regclass) WHERE show_id = $1 AND id = ANY($2::bigint[]) AND hold_id = $3")
# Purchase, step 1: the seats and the holds row in one statement; a partial claim is undone by RELEASE_SQL.
P_HOLD_SQL = (
    "WITH claimed AS (" + HOLD_SQL.replace("RETURNING id", "RETURNING id, price_cents") + "), "
    "n AS (SELECT count(*) AS n, COALESCE(sum(price_cents), 0) AS cents, array_agg(id ORDER BY id) AS ids "
    "FROM claimed) "
    "INSERT INTO holds (id, user_id, show_id, status, expires_at, idempotency_key, request_hash, seat_ids, unit_ids, "
    "ga_lines, ticket_count, total_cents, currency) SELECT $3, $5, $1, 'active', now() + interval '10 min', $6, "
    "'bench', n.ids, n.ids, '[]'::jsonb, n.n, n.cents, 'EUR' FROM n WHERE n.n = cardinality($2::bigint[]) "
    "RETURNING id")
# Step 2: createOrder's rows.
P_ORDER_SQL = (
    "WITH o AS (INSERT INTO orders (id, user_id, show_id, hold_id, ticket_count, total_cents, currency, "
    "idempotency_key, expires_at) SELECT $1, user_id, show_id, id, ticket_count, total_cents, currency, $3, "
    "expires_at FROM holds WHERE id = $2 AND status = 'active' RETURNING id, total_cents, currency) "
    "INSERT INTO payments (order_id, amount_cents, currency, intent_id) SELECT id, total_cents, currency, $4 FROM o "
    "RETURNING order_id")
# Step 3: the settlement (seats locked in key order, as move_seats does).
P_SETTLE_SQL = (
    "WITH locked AS (SELECT id FROM show_seats WHERE show_id = $1 AND hold_id = $2 AND status = 'H' "
    "ORDER BY id FOR UPDATE), "
    "sold AS (UPDATE show_seats ss SET status = 'S', order_id = $3, hold_id = NULL, hold_expires_at = NULL, "
    "version = nextval($5::text::regclass) FROM locked l WHERE ss.show_id = $1 AND ss.id = l.id "
    "RETURNING ss.id, ss.section_id), "
    "h AS (UPDATE holds SET status = 'converted', ended_at = now() WHERE id = $2), "
    "o AS (UPDATE orders SET status = 'confirmed', confirmed_at = now() WHERE id = $3), "
    "p AS (UPDATE payments SET status = 'succeeded', updated_at = now() WHERE order_id = $3), "
    "t AS (INSERT INTO tickets (id, order_id, show_id, place_id, seat_id, section_id, barcode) "
    "SELECT gen_random_uuid(), $3, $1, id, id, section_id, md5(random()::text || id) FROM sold RETURNING id), "
    "x AS (INSERT INTO outbox (topic, user_id, payload) VALUES ('notification', $4, jsonb_build_object("
    "'kind', 'ORDER_CONFIRMED', 'orderId', $3::text, 'showId', $1::text))) "
    "SELECT count(*) FROM t")

POOL_ATTEMPTS = 60


async def _pool(db_url: str, conns: int, sync_off: bool) -> Any:
    import asyncpg

    async def no_reset(conn: Any) -> None:  # asyncpg's reset query would add a round trip per acquire
        return None
    settings = {"synchronous_commit": "off"} if sync_off else {}
    for attempt in range(POOL_ATTEMPTS):  # others share this PostgreSQL: wait (bounded) for free slots
        try:
            return await asyncpg.create_pool(db_url, min_size=conns, max_size=conns, reset=no_reset,
                                             server_settings=settings)
        except asyncpg.TooManyConnectionsError:
            if attempt == POOL_ATTEMPTS - 1:
                raise
            log(f"PostgreSQL has fewer than {conns} free connection slots (others share it): retrying in 2 s")
            await asyncio.sleep(2.0)


async def _timed(tasks: int, seconds: float, one: Callable[[random.Random], Awaitable[str]],
                 seed: int) -> dict[str, Any]:
    """`tasks` closed loops of `one` for `seconds`; outcomes counted, latencies of every call."""
    outcomes: dict[str, int] = {}
    lat: list[float] = []
    end = time.perf_counter() + seconds

    async def loop(rng: random.Random) -> None:
        for _ in range(10_000_000):
            t0 = time.perf_counter()
            if t0 >= end:
                return
            try:
                out = await one(rng)
            except Exception as exc:  # noqa: BLE001 - counted, shown in the table
                out = f"error:{type(exc).__name__}"
            lat.append(time.perf_counter() - t0)
            outcomes[out] = outcomes.get(out, 0) + 1

    start = time.perf_counter()
    rng = random.Random(seed)
    await asyncio.wait_for(asyncio.gather(*(loop(random.Random(rng.random())) for _ in range(tasks))),
                           seconds + 60)
    elapsed = time.perf_counter() - start
    answered = sum(v for k, v in outcomes.items() if not k.startswith("error"))
    return {"outcomes": outcomes, "elapsed": elapsed, "rate": answered / elapsed, "latency": latency_summary(lat)}


async def cycle_ceiling(db_url: str, show_id: uuid.UUID, seats: list[int], seq: str, *, seconds: float,
                        tasks: int = 64, conns: int = 16, seed: int = 1) -> dict[str, Any]:
    """Answered hold attempts/s (held + unavailable) with the release of every held pair."""
    await vacuum(db_url)
    pool = await _pool(db_url, conns, sync_off=True)
    try:
        async def one(rng: random.Random) -> str:
            pair, hid = rng.sample(seats, 2), uuid.uuid4()
            async with pool.acquire() as c:
                if len(await c.fetch(CYCLE_HOLD_SQL, show_id, pair, hid, seq)) < 2:
                    return "unavailable"
            async with pool.acquire() as c:
                await c.execute(RELEASE_SQL, show_id, pair, hid, seq)
            return "held+released"
        return await _timed(tasks, seconds, one, seed)
    finally:
        await pool.close()


async def vacuum(db_url: str) -> None:
    """VACUUM (ANALYZE) of the seats, standing in for autovacuum (this box's CI config turns it off): every
    workload, the app's and the ceilings', starts on seat rows in the same state, not on what the bulk
    insert or the run before left (hint bits unset, dead rows, no statistics: a purchase ceiling on fresh
    rows measured two thirds of one on vacuumed rows). Only the seats: the tables that the runs fill
    (holds, orders, tickets) analysed while near empty keep the statistics of empty tables, as autovacuum
    off never analyses them again as they grow (with the whole database analysed before each run, a's
    PostgreSQL CPU per cycle was 0.79 ms, against 0.51-0.53 ms)."""
    conn = await connect_retry(db_url)
    try:
        await conn.execute("VACUUM (ANALYZE) show_seats")
    finally:
        await conn.close()


async def purchase_ceiling(db_url: str, show_id: uuid.UUID, seats: list[int], seq: str, users: list[str], *,
                           seconds: float, tasks: int = 64, conns: int = 16, seed: int = 2) -> dict[str, Any]:
    """Purchases/s: hold, order, settlement, one statement each (the hold's with synchronous_commit off,
    as the app's holds; the order and the settlement durable)."""
    await vacuum(db_url)
    hold_pool = await _pool(db_url, conns // 2, sync_off=True)
    pool = await _pool(db_url, conns - conns // 2, sync_off=False)
    user_ids = [uuid.UUID(u) for u in users]
    try:
        async def one(rng: random.Random) -> str:
            pair, hid, user = rng.sample(seats, 2), uuid.uuid4(), rng.choice(user_ids)
            async with hold_pool.acquire() as c:
                held = await c.fetchval(P_HOLD_SQL, show_id, pair, hid, seq, user, uuid.uuid4().hex)
                if held is None:
                    await c.execute(RELEASE_SQL, show_id, pair, hid, seq)
                    return "unavailable"
            oid = uuid.uuid4()
            async with pool.acquire() as c:
                if await c.fetchval(P_ORDER_SQL, oid, hid, uuid.uuid4().hex, f"pi_bench_{oid.hex}") is None:
                    return "error:no_order"
            async with pool.acquire() as c:
                tickets = await c.fetchval(P_SETTLE_SQL, show_id, hid, oid, user, seq)
            return "confirmed" if tickets == 2 else "error:tickets"
        result = await _timed(tasks, seconds, one, seed)
        # Purchases/s, as the app's c counts them: an attempt whose seats were taken (then released)
        # is work this loop did, not a purchase.
        result["rate"] = result["outcomes"].get("confirmed", 0) / result["elapsed"]
        return result
    finally:
        await hold_pool.close()
        await pool.close()


async def cleanup(db_url: str, show_id: uuid.UUID) -> None:
    """Deletes what the ceilings wrote for their show and puts its seats back on sale."""
    conn = await connect_retry(db_url)
    try:
        async with conn.transaction():
            await conn.execute("DELETE FROM outbox WHERE payload->>'showId' = $1::text", str(show_id))
            await conn.execute("DELETE FROM tickets WHERE show_id = $1", show_id)
            await conn.execute("UPDATE show_seats SET status = 'A', hold_id = NULL, hold_expires_at = NULL, "
                               "order_id = NULL WHERE show_id = $1 AND status <> 'A'", show_id)
            await conn.execute("DELETE FROM payments WHERE order_id IN (SELECT id FROM orders WHERE show_id = $1)",
                               show_id)
            await conn.execute("DELETE FROM orders WHERE show_id = $1", show_id)
            await conn.execute("DELETE FROM holds WHERE show_id = $1", show_id)
        await conn.execute("VACUUM (ANALYZE) show_seats")
    finally:
        await conn.close()


async def redis_ceiling(redis_url: str, kind: str, key: str, *, seconds: float, concurrency: int,
                        members: int) -> dict[str, Any]:
    """redis-py asyncio ZADD (new members) or ZRANK (of the members the ZADD loop wrote) loops."""
    from redis.asyncio import Redis
    client = Redis.from_url(redis_url, max_connections=concurrency)
    counter = iter(range(10_000_000))
    try:
        async def one(rng: random.Random) -> str:
            if kind == "zadd":
                i = next(counter)
                await client.zadd(key, {f"fan:{i}": i})
            else:
                await client.zrank(key, f"fan:{rng.randrange(members)}")
            return "ok"
        return await _timed(concurrency, seconds, one, 3)
    finally:
        await client.aclose()
