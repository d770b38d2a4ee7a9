"""Where a hold's time goes, without HTTP or GraphQL: round trips and CPU per hold, layer by layer.

    .venv/bin/python bench/hold_path.py [--duration 5] [--tasks 64] [--keep]

1. Trace: calls boxoffice.booking.holds.hold_seats (the domain function the holdSeats resolver calls)
   sequentially on an idle database and counts what reaches PostgreSQL per hold: pool checkouts,
   pre-ping round trips, BEGIN/COMMIT/ROLLBACK, statements.
2. Throughput ladder, 64 concurrent tasks, fresh seats (1..4 adjacent), each on its own show:
   a. hold_seats in-process (SQLAlchemy engine configured as the server's: pool 20+10, pre-ping)
   b. the same SQL statements through bare asyncpg (one pool checkout, no pre-ping, no SQLAlchemy)
   c. the same hold as one PL/pgSQL function call (one round trip), a prototype made for this bench
   d. the issue's bare conditional UPDATE (the ceiling; no idempotency, limit check or hold row)
   holds/s, p50/p99, and CPU per hold of this Python process and of PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import json
import os
import random
import secrets
import sys
import tempfile
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import CEILING_UPDATE, install_uvloop, latency_summary, log, table  # noqa: E402
from _db import BenchDatabase, audit_app_holds, connect_retry, dispose_scratch  # noqa: E402
from _meter import CpuMeter, busy_before, postgres_pids  # noqa: E402
from _server import print_environment, server_env  # noqa: E402
from _stadium import ShowLayout, build_stadium, fresh_groups  # noqa: E402

# A prototype of the whole hold as one round trip (same checks, same locks, same rows as hold_seats).
HOLD_FUNCTION = r"""
CREATE OR REPLACE FUNCTION bench_hold(p_hold uuid, p_user uuid, p_show uuid, p_ids bigint[], p_key text,
                                      p_hash text, p_ttl int, p_max int, p_seq text, p_currency text)
RETURNS TABLE (outcome text, hold_id uuid, expires_at timestamptz, total_cents int)
LANGUAGE plpgsql AS $$
DECLARE
  v_n int := cardinality(p_ids);
  v_found int; v_free int; v_in_use int; v_exp timestamptz; v_total int; v_existing uuid;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM pg_advisory_xact_lock_shared(hashtextextended(p_show::text, 7));
  PERFORM pg_advisory_xact_lock(hashtextextended(p_user::text || p_show::text, 11));
  SELECT h.id INTO v_existing FROM holds h WHERE h.user_id = p_user AND h.idempotency_key = p_key;
  IF FOUND THEN RETURN QUERY SELECT 'existing', v_existing, NULL::timestamptz, NULL::int; RETURN; END IF;
  SELECT COALESCE((SELECT sum(ticket_count) FROM holds WHERE user_id = p_user AND show_id = p_show
                   AND status = 'active' AND holds.expires_at > now()), 0)
       + COALESCE((SELECT sum(ticket_count) FROM orders WHERE user_id = p_user AND show_id = p_show
                   AND status = 'confirmed'), 0) INTO v_in_use;
  IF v_in_use + v_n > p_max THEN RETURN QUERY SELECT 'limit', NULL::uuid, NULL::timestamptz, NULL::int; RETURN; END IF;
  SELECT count(*), count(*) FILTER (WHERE s.status = 'A' OR (s.status = 'H' AND s.hold_expires_at <= now()))
    INTO v_found, v_free
    FROM (SELECT ss.status, ss.hold_expires_at FROM show_seats ss WHERE ss.show_id = p_show AND ss.id = ANY(p_ids)
          AND ss.position IS NOT NULL ORDER BY ss.id FOR UPDATE) s;
  IF v_found <> v_n THEN RETURN QUERY SELECT 'invalid', NULL::uuid, NULL::timestamptz, NULL::int; RETURN; END IF;
  IF v_free < v_n THEN RETURN QUERY SELECT 'unavailable', NULL::uuid, NULL::timestamptz, NULL::int; RETURN; END IF;
  v_exp := now() + make_interval(secs => p_ttl);
  WITH u AS (UPDATE show_seats SET status = 'H', hold_id = p_hold, hold_expires_at = v_exp, order_id = NULL,
                    version = nextval(p_seq::regclass)
             WHERE show_id = p_show AND id = ANY(p_ids) RETURNING price_cents)
  SELECT sum(price_cents) INTO v_total FROM u;
  INSERT INTO holds (id, user_id, show_id, expires_at, idempotency_key, request_hash, seat_ids, unit_ids, ga_lines,
                     ticket_count, total_cents, currency)
  VALUES (p_hold, p_user, p_show, v_exp, p_key, p_hash, p_ids, '{}', '[]'::jsonb, v_n, v_total, p_currency);
  RETURN QUERY SELECT 'ok', p_hold, v_exp, v_total;
END $$;
"""

# hold_seats' statements as of commit 9d52843 ("Fewer round trips on the hold path"), for bare asyncpg.
RAW_SHOW = ("SELECT s.id, s.event_id, s.venue_id, s.starts_at, s.on_sale_at, s.currency, s.hold_ttl_seconds, "
            "s.max_tickets_per_user, s.waiting_room_enabled, s.admit_per_minute, s.admission_ttl_seconds, "
            "s.version_sequence, e.status AS event_status, e.organizer_id FROM shows s "
            "JOIN events e ON e.id = s.event_id WHERE s.id = ANY($1::uuid[])")
RAW_COLS = ("id, user_id, show_id, status, expires_at, seat_ids, ga_lines, ticket_count, total_cents, currency, "
            "created_at, request_hash")
RAW_LOCKS = ("SELECT set_config('synchronous_commit', 'off', true), "
             "pg_advisory_xact_lock_shared(hashtextextended($1::uuid::text, 7)), "
             "pg_advisory_xact_lock(hashtextextended($2::uuid::text || $1::uuid::text, 11))")
RAW_BEFORE_CLAIM = (
    "SELECT now() + make_interval(secs => $1::int) AS new_expires_at, "
    "COALESCE((SELECT sum(ticket_count) FROM holds WHERE user_id = $2 AND show_id = $3 AND status = 'active' "
    "AND expires_at > now()), 0) + COALESCE((SELECT sum(ticket_count) FROM orders WHERE user_id = $2 "
    "AND show_id = $3 AND status = 'confirmed'), 0) AS in_use, "
    "h.id, h.user_id, h.show_id, h.status, h.expires_at, h.seat_ids, h.ga_lines, h.ticket_count, h.total_cents, "
    "h.currency, h.created_at, h.request_hash FROM (SELECT 1) AS one "
    "LEFT JOIN holds h ON h.user_id = $2 AND h.idempotency_key = $4")
RAW_CLAIM_SEATS = (
    "WITH locked AS (SELECT id, position, status, hold_expires_at FROM show_seats "
    "  WHERE show_id = $1 AND id = ANY($2::bigint[]) ORDER BY id FOR UPDATE), "
    "claimed AS (UPDATE show_seats ss SET status = 'H', hold_id = $3, hold_expires_at = $4, order_id = NULL, "
    "  version = nextval($5::text::regclass) FROM locked l WHERE ss.show_id = $1 AND ss.id = l.id "
    "  AND l.position IS NOT NULL AND (l.status = 'A' OR (l.status = 'H' AND l.hold_expires_at <= now())) "
    "  RETURNING ss.id, ss.section_id, ss.version, ss.price_cents) "
    "SELECT (SELECT count(*) FROM locked) AS found, "
    "(SELECT count(*) FROM locked WHERE position IS NULL) AS not_seats, "
    "(SELECT COALESCE(json_agg(json_build_array(id, section_id, version, price_cents)), '[]') FROM claimed) "
    "AS claimed")
RAW_INSERT = ("INSERT INTO holds (id, user_id, show_id, expires_at, idempotency_key, request_hash, seat_ids, "
              "unit_ids, ga_lines, ticket_count, total_cents, currency) VALUES ($1, $2, $3, $4, $5, $6, $7, "
              f"'{{}}', '[]'::jsonb, $8, $9, $10) RETURNING {RAW_COLS}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per variant (or until fresh seats run out)")
    p.add_argument("--tasks", type=int, default=64)
    p.add_argument("--conns", type=int, default=16, help="pool size of the bare-asyncpg variants")
    p.add_argument("--trace-holds", type=int, default=200)
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--wait-quiet", type=float, default=120.0)
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args(argv)
    if not 0 < args.duration <= 120 or not 1 <= args.tasks <= 256:
        p.error("duration 0..120 s, tasks 1..256")
    return args


# ---------------------------------------------------------------- counting what reaches PostgreSQL

class Tracer:
    """Counts asyncpg calls that each cost one round trip (BEGIN/COMMIT/ROLLBACK, pings, statements)."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.active = False
        self._saved: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        import asyncpg.connection
        import asyncpg.prepared_stmt
        tracer = self

        def wrap(cls: Any, name: str, label: Any) -> None:
            orig = getattr(cls, name)

            async def wrapper(self: Any, *a: Any, **kw: Any) -> Any:
                if tracer.active:
                    tracer.counts[label(self, a)] += 1
                return await orig(self, *a, **kw)
            self._saved.append((cls, name, orig))
            setattr(cls, name, wrapper)

        def text_label(_: Any, a: tuple[Any, ...]) -> str:
            q = str(a[0]).strip().rstrip(";").split()[0].upper() if a and str(a[0]).strip(" ;") else "ping (';')"
            return {"BEGIN": "BEGIN", "COMMIT": "COMMIT", "ROLLBACK": "ROLLBACK"}.get(q, f"simple: {q}")

        wrap(asyncpg.connection.Connection, "execute", text_label)
        wrap(asyncpg.connection.Connection, "fetchrow",
             lambda _s, a: "ping (';')" if a and str(a[0]).strip() == ";" else "fetchrow")
        wrap(asyncpg.connection.Connection, "prepare", lambda _s, a: "prepare (statement-cache miss)")
        wrap(asyncpg.prepared_stmt.PreparedStatement, "fetch",
             lambda s, a: "statement: " + " ".join(s.get_query().split())[:70])

    def uninstall(self) -> None:
        for cls, name, orig in reversed(self._saved):
            setattr(cls, name, orig)


async def trace_hold_seats(db_url: str, layout: ShowLayout, users: list[uuid.UUID], n: int,
                           rng: random.Random) -> tuple[collections.Counter[str], int, float, float]:
    from sqlalchemy import event

    from boxoffice.booking import holds
    from boxoffice.booking.records import Viewer
    from boxoffice.db import create_engine

    engine = create_engine(db_url)
    checkouts = 0
    kw = await show_kwarg(engine, layout.show_id)

    def on_checkout(*_: Any) -> None:
        nonlocal checkouts
        if tracer.active:
            checkouts += 1
    event.listen(engine.sync_engine.pool, "checkout", on_checkout)
    tracer = Tracer()
    tracer.install()
    groups = fresh_groups(layout, rng)
    try:
        for g in groups[:20]:  # warm: connections, statement caches
            await holds.hold_seats(engine, Viewer(rng.choice(users), "fan"), holds.HoldRequest(
                layout.show_id, [str(s) for s in g], [], uuid.uuid4().hex), **kw)
        tracer.active = True
        t0, c0 = time.perf_counter(), time.process_time()
        for g in groups[20:20 + n]:
            await holds.hold_seats(engine, Viewer(rng.choice(users), "fan"), holds.HoldRequest(
                layout.show_id, [str(s) for s in g], [], uuid.uuid4().hex), **kw)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        tracer.active = False
    finally:
        tracer.uninstall()
        await engine.dispose()
    return tracer.counts, checkouts, wall / n, cpu / n


# ---------------------------------------------------------------- throughput ladder

def request_hash(show_id: uuid.UUID, seats: list[int]) -> str:
    canonical = json.dumps({"show": str(show_id), "seats": sorted(seats), "ga": []})
    return hashlib.sha256(canonical.encode()).hexdigest()


async def run_variant(name: str, db_url: str, db_name: str, layout: ShowLayout, users: list[uuid.UUID],
                      args: argparse.Namespace) -> dict[str, Any]:
    import asyncpg

    from boxoffice.booking import holds
    from boxoffice.booking.errors import BookingError
    from boxoffice.booking.records import Viewer
    from boxoffice.db import create_engine

    rng = random.Random(args.seed)
    groups = collections.deque(fresh_groups(layout, rng))
    engine = None
    pool = None
    kw: dict[str, Any] = {}
    if name == "app":
        engine = create_engine(db_url)
        kw = await show_kwarg(engine, layout.show_id)
    else:
        async def no_reset(conn: Any) -> None:
            return None
        pool = await asyncpg.create_pool(db_url, min_size=args.conns, max_size=args.conns, reset=no_reset,
                                         server_settings={"synchronous_commit": "off"})
    outcomes: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []

    async def one(seats: list[int]) -> str:
        user = rng.choice(users)
        key = uuid.uuid4().hex
        if name == "app":
            try:
                await holds.hold_seats(engine, Viewer(user, "fan"), holds.HoldRequest(  # type: ignore[arg-type]
                    layout.show_id, [str(s) for s in seats], [], key), **kw)
                return "ok"
            except BookingError as err:
                return type(err).__name__
        assert pool is not None
        if name == "function":
            async with pool.acquire() as c:
                row = await c.fetchrow("SELECT * FROM bench_hold($1, $2, $3, $4, $5, $6, 600, 100, $7, 'EUR')",
                                       uuid.uuid4(), user, layout.show_id, seats, key,
                                       request_hash(layout.show_id, seats), layout.version_sequence)
            return str(row["outcome"])
        if name == "ceiling":
            async with pool.acquire() as c:
                status = await c.execute(CEILING_UPDATE, uuid.uuid4(), layout.show_id, seats,
                                         layout.version_sequence)
            return "ok" if int(status.split()[-1]) == len(seats) else "unavailable"
        # "raw": hold_seats' statements (commit 9d52843) on one checkout, bare asyncpg
        async with pool.acquire() as c:
            show = await c.fetchrow(RAW_SHOW, [layout.show_id])
            async with c.transaction():
                await c.fetchrow(RAW_LOCKS, layout.show_id, user)
                state = await c.fetchrow(RAW_BEFORE_CLAIM, show["hold_ttl_seconds"], user, layout.show_id, key)
                if state["id"] is not None:
                    return "existing"
                if state["in_use"] + len(seats) > show["max_tickets_per_user"]:
                    return "limit"
                res = await c.fetchrow(RAW_CLAIM_SEATS, layout.show_id, seats, uuid.uuid4(),
                                       state["new_expires_at"], show["version_sequence"])
                claimed = json.loads(res["claimed"])
                if len(claimed) != len(seats):
                    raise _Unavailable()
                await c.fetchrow(RAW_INSERT, uuid.uuid4(), user, layout.show_id, state["new_expires_at"], key,
                                 request_hash(layout.show_id, seats), seats, len(seats),
                                 sum(x[3] for x in claimed), "EUR")
        return "ok"

    # warm every connection
    for _ in range(min(32, len(groups))):
        try:
            await one(groups.popleft())
        except _Unavailable:
            pass
    meter = CpuMeter({"pg": lambda: postgres_pids(db_name)})
    end = time.perf_counter() + args.duration

    async def worker() -> None:
        for _ in range(1_000_000):
            if not groups or time.perf_counter() >= end:
                return
            seats = groups.popleft()
            t0 = time.perf_counter()
            try:
                outcome = await one(seats)
            except _Unavailable:
                outcome = "unavailable"
            latencies.append(time.perf_counter() - t0)
            outcomes[outcome] += 1

    meter.start()
    c0 = time.process_time()
    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(args.tasks))), args.duration + 60)
    elapsed = time.perf_counter() - t0
    cpu_py = time.process_time() - c0
    cpu = meter.stop()
    if engine is not None:
        await engine.dispose()
    if pool is not None:
        await pool.close()
    total = sum(outcomes.values())
    return {"holds": total, "ok": outcomes["ok"], "outcomes": dict(outcomes), "rate": total / elapsed,
            "latency": latency_summary(latencies), "py_ms": 1e3 * cpu_py / max(1, total),
            "pg_ms": cpu["pg"] / 100.0 * elapsed * 1e3 / max(1, total), "machine": cpu["machine"],
            "py_pct": 100 * cpu_py / elapsed, "pg_pct": cpu["pg"]}


async def show_kwarg(engine: Any, show_id: uuid.UUID) -> dict[str, Any]:
    """hold_seats(show=...) when the domain takes the show from the server's ShowCache (as the resolver does)."""
    import inspect

    from boxoffice.booking import catalog, holds
    if "show" in inspect.signature(holds.hold_seats).parameters:
        return {"show": await catalog.get_show(engine, show_id)}
    return {}


class _Unavailable(Exception):
    pass


async def make_users(db_url: str, n: int) -> list[uuid.UUID]:
    conn = await connect_retry(db_url)
    try:
        rows = await conn.fetch("INSERT INTO users (email, name, password_hash, role) SELECT 'hp-' || g || "
                                "'@bench.test', 'Fan ' || g, 'x', 'fan' FROM generate_series(1, $1) g RETURNING id", n)
        await conn.execute(HOLD_FUNCTION)
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()
    return [r["id"] for r in rows]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_uvloop()
    print_environment({"tasks": args.tasks, "asyncpg pool (variants b-d)": args.conns})
    db = BenchDatabase()
    workdir = tempfile.mkdtemp(prefix="bo_bench_")
    env = server_env(db.url, secrets.token_urlsafe(16), workdir, False)
    try:
        asyncio.run(db.create())
        db.migrate(env)
        venue = asyncio.run(build_stadium(db.url, shows=5))
        users = asyncio.run(make_users(db.url, args.users))
        log("tracing hold_seats")
        counts, checkouts, wall, cpu = asyncio.run(trace_hold_seats(db.url, venue.shows[0], users, args.trace_holds,
                                                                    random.Random(args.seed)))
        n = args.trace_holds
        rows = [(k, v / n) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        total_rt = sum(counts.values()) / n
        print(table(["what reaches PostgreSQL (per hold)", "round trips"], rows + [
            ("TOTAL round trips per hold", total_rt), ("pool checkouts per hold", checkouts / n)],
            title=f"hold_seats on an idle database, {n} sequential holds of fresh seats"
                  " (show passed in, as the resolver does from its ShowCache)"))
        print(f"sequential, uncontended: {wall * 1e3:.2f} ms wall and {cpu * 1e3:.2f} ms of Python CPU per hold "
              f"({total_rt / wall / 1e3 if wall else 0:.0f} round trips/ms)")

        variants = [("app", "a. hold_seats in-process (SQLAlchemy, pre-ping)"),
                    ("raw", "b. same statements (9d52843), bare asyncpg, 1 checkout"),
                    ("function", "c. one PL/pgSQL call (1 round trip)"),
                    ("ceiling", "d. bare conditional UPDATE (the ceiling)")]
        out = []
        for i, (key, label) in enumerate(variants):
            busy = busy_before(args.wait_quiet)
            log(f"variant {label} (machine busy {busy:.0f}% before)")
            r = asyncio.run(run_variant(key, db.url, db.name, venue.shows[i + 1], users, args))
            out.append((label, r["rate"], r["ok"], r["latency"]["p50"], r["latency"]["p99"], r["py_ms"],
                        r["pg_ms"], f"{r['py_pct']:.0f}% / {r['pg_pct']:.0f}% / {r['machine']:.0f}%", busy))
            if set(r["outcomes"]) - {"ok"}:
                print(f"  {label}: outcomes {r['outcomes']}")
        print(table(["variant (64 tasks, fresh seats)", "holds/s", "ok", "p50 ms", "p99 ms", "Python CPU ms/hold",
                     "PG CPU ms/hold", "CPU py / pg / machine", "outside busy % before"], out,
                    title="Throughput ladder: the hold without HTTP and GraphQL"))
        audit_app_holds(env, "after variants a-c")  # variant d's bare UPDATEs left seats without hold rows
    finally:
        dispose_scratch(db, workdir, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
