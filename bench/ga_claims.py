"""General admission under flash contention: materialised places + SKIP LOCKED vs a single counter row.

    .venv/bin/python bench/ga_claims.py [--claimers 64] [--duration 8] [--capacity 100000] [--keep]

Every variant: --claimers concurrent claimers, each on its own connection, claiming 1..4 places of
one GA section as fast as it can, for --duration seconds (or until the section sells out), on a fresh
section (a show of its own, or a reset counter). synchronous_commit is off everywhere, as in the
app's hold transaction.

  counter, 1 statement     UPDATE ga_counter SET held = held + $n WHERE id = 1 AND held + $n <= capacity
  places, 1 statement      the app's claim (ga.py: UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE
                           SKIP LOCKED)), made all-or-nothing inside the one statement
  counter, hold txn        BEGIN; show lock (shared advisory); the counter UPDATE; INSERT a hold row; COMMIT
  places, hold txn         BEGIN; show lock; the app's claim (rolled back if short); INSERT a hold row; COMMIT
  ... + 1 ms app work      the same, with 1 ms between the claim and the INSERT, as an app under load has
                           (the row lock on the counter is held across it)
  app hold_seats           boxoffice.booking.inventory.holds.hold_seats(generalAdmission=[(section, n)]) in-process,
                           the full domain path (SQLAlchemy, idempotency, limits, PlacesBusy retries)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import secrets
import sys
import tempfile
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import install_uvloop, latency_summary, log, table  # noqa: E402
from _db import BenchDatabase, audit_app_holds, connect_retry, dispose_scratch, free_connections  # noqa: E402
from _meter import CpuMeter, machine_busy, postgres_pids, wait_quiet  # noqa: E402
from _server import print_environment, server_env  # noqa: E402
from _stadium import build_stadium  # noqa: E402

PLACES_CLAIM = (  # ga._CLAIM, in asyncpg placeholders
    "UPDATE show_seats SET status = 'H', hold_id = $1, hold_expires_at = now() + interval '10 min', "
    "order_id = NULL, version = nextval($2::text::regclass) WHERE show_id = $3 AND id IN (SELECT id FROM show_seats "
    "WHERE show_id = $3 AND section_id = $4 AND position IS NULL "
    "AND (status = 'A' OR (status = 'H' AND hold_expires_at <= now())) LIMIT $5 FOR UPDATE SKIP LOCKED) "
    "RETURNING id, version, price_cents")
PLACES_CLAIM_ATOMIC = (  # the same, all-or-nothing in one statement (no partial claim can commit)
    "WITH pick AS (SELECT id FROM show_seats WHERE show_id = $3 AND section_id = $4 AND position IS NULL "
    "AND (status = 'A' OR (status = 'H' AND hold_expires_at <= now())) LIMIT $5 FOR UPDATE SKIP LOCKED) "
    "UPDATE show_seats SET status = 'H', hold_id = $1, hold_expires_at = now() + interval '10 min', "
    "order_id = NULL, version = nextval($2::text::regclass) WHERE show_id = $3 AND id IN (SELECT id FROM pick) "
    "AND (SELECT count(*) FROM pick) = $5 RETURNING id")
COUNTER_CLAIM = "UPDATE ga_counter SET held = held + $1 WHERE id = 1 AND held + $1 <= capacity RETURNING held"
SHOW_LOCK = "SELECT pg_advisory_xact_lock_shared(hashtextextended($1::uuid::text, 7))"
INSERT_HOLD = "INSERT INTO bench_ga_holds (id, places) VALUES ($1, $2)"
FREE_PLACES = ("SELECT count(*) FROM show_seats WHERE show_id = $1 AND section_id = $2 AND position IS NULL "
               "AND (status = 'A' OR (status = 'H' AND hold_expires_at <= now()))")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--claimers", type=int, default=64)
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--capacity", type=int, default=100_000, help="GA places per section (fresh per variant)")
    p.add_argument("--app-work-ms", type=float, default=1.0)
    p.add_argument("--users", type=int, default=3000)
    p.add_argument("--variants", default="counter1,places1,countertx,placestx,countertx_work,placestx_work,app")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--wait-quiet", type=float, default=120.0)
    p.add_argument("--seed", type=int, default=4)
    args = p.parse_args(argv)
    if not 1 <= args.claimers <= 90 or not 0 < args.duration <= 120 or not 100 <= args.capacity <= 190_000:
        p.error("claimers 1..90 (PostgreSQL max_connections is 100), duration 0..120 s, capacity 100..190000")
    return args


LABELS = {
    "counter1": "counter row, 1 statement (autocommit)",
    "places1": "places + SKIP LOCKED, 1 statement (autocommit)",
    "countertx": "counter row, in a hold transaction",
    "placestx": "places + SKIP LOCKED, in a hold transaction (the app's shape)",
    "countertx_work": "counter row, hold transaction + {w:g} ms app work",
    "placestx_work": "places + SKIP LOCKED, hold transaction + {w:g} ms app work",
    "app": "app: holds.hold_seats(generalAdmission) in-process",
}


async def setup_scratch(db_url: str, capacity: int) -> None:
    conn = await connect_retry(db_url)
    try:
        await conn.execute("CREATE TABLE ga_counter (id int PRIMARY KEY, capacity int NOT NULL, held int NOT NULL)")
        # A counter costs the same whatever its capacity: make it large enough never to sell out in a run.
        await conn.execute("INSERT INTO ga_counter VALUES (1, $1, 0)", max(capacity, 10_000_000))
        await conn.execute("CREATE TABLE bench_ga_holds (id uuid PRIMARY KEY, places int NOT NULL, "
                           "created_at timestamptz NOT NULL DEFAULT now())")
    finally:
        await conn.close()


async def reset_scratch(db_url: str) -> None:
    conn = await connect_retry(db_url)
    try:
        await conn.execute("UPDATE ga_counter SET held = 0")
        await conn.execute("TRUNCATE bench_ga_holds")
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


async def run_variant(variant: str, db_url: str, db_name: str, show_id: uuid.UUID, seq: str, section: uuid.UUID,
                      users: list[uuid.UUID], args: argparse.Namespace) -> dict[str, Any]:
    import asyncpg

    rng = random.Random(args.seed)
    outcomes: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    places = 0
    work = args.app_work_ms / 1000.0 if variant.endswith("_work") else 0.0
    engine = None
    conns: list[Any] = []
    # Others share this PostgreSQL: take as many connections as it has free now, up to one per claimer.
    nconn = max(1, min(args.claimers, await free_connections() - 8))
    if variant == "app":
        from boxoffice.db import create_engine
        engine = create_engine(db_url, pool_size=nconn, max_overflow=0)
    else:
        for _ in range(nconn):
            try:
                conns.append(await asyncpg.connect(db_url, server_settings={"synchronous_commit": "off"}))
            except asyncpg.TooManyConnectionsError:
                if not conns:
                    raise
                break
        nconn = len(conns)
        locks = [asyncio.Lock() for _ in conns]

    async def claim(conn: Any, n: int) -> str:
        hold_id = uuid.uuid4()
        if variant == "counter1":
            return "ok" if await conn.fetchval(COUNTER_CLAIM, n) is not None else "sold_out"
        if variant == "places1":
            rows = await conn.fetch(PLACES_CLAIM_ATOMIC, hold_id, seq, show_id, section, n)
            if len(rows) == n:
                return "ok"
            return "busy" if await conn.fetchval(FREE_PLACES, show_id, section) >= n else "sold_out"
        if variant.startswith("countertx"):
            async with conn.transaction():
                await conn.execute(SHOW_LOCK, show_id)
                if await conn.fetchval(COUNTER_CLAIM, n) is None:
                    return "sold_out"
                if work:
                    await asyncio.sleep(work)
                await conn.execute(INSERT_HOLD, hold_id, n)
            return "ok"
        if variant.startswith("placestx"):
            tr = conn.transaction()
            await tr.start()
            try:
                await conn.execute(SHOW_LOCK, show_id)
                rows = await conn.fetch(PLACES_CLAIM, hold_id, seq, show_id, section, n)
                if len(rows) < n:
                    free = await conn.fetchval(FREE_PLACES, show_id, section)
                    await tr.rollback()
                    return "busy" if free >= n else "sold_out"
                if work:
                    await asyncio.sleep(work)
                await conn.execute(INSERT_HOLD, hold_id, n)
            except BaseException:
                await tr.rollback()
                raise
            await tr.commit()
            return "ok"
        raise AssertionError(variant)

    async def app_claim(n: int) -> str:
        from boxoffice.booking.inventory import holds
        from boxoffice.booking.errors import BookingError, SeatsUnavailable
        from boxoffice.booking.records import Viewer
        try:
            await holds.hold_seats(engine, Viewer(rng.choice(users), "fan"), holds.HoldRequest(  # type: ignore[arg-type]
                show_id, [], [(str(section), n)], uuid.uuid4().hex))
            return "ok"
        except SeatsUnavailable as err:
            return "busy_after_retries" if "right now" in err.message else "sold_out"
        except BookingError as err:
            return type(err).__name__

    sold_out = asyncio.Event()
    busy0 = machine_busy(0.5)
    meter = CpuMeter({"pg": lambda: postgres_pids(db_name)})
    meter.start()
    c0 = time.process_time()
    start = time.perf_counter()
    end = start + args.duration

    async def claimer(i: int) -> None:
        nonlocal places
        for _ in range(1_000_000):
            if time.perf_counter() >= end or sold_out.is_set():
                return
            n = rng.randint(1, 4)
            t0 = time.perf_counter()
            if engine is not None:
                outcome = await app_claim(n)
            else:
                k = i % len(conns)  # claimers share connections when there are fewer connections than claimers
                async with locks[k]:
                    outcome = await claim(conns[k], n)
            latencies.append(time.perf_counter() - t0)
            outcomes[outcome] += 1
            if outcome == "ok":
                places += n
            elif outcome == "sold_out":
                sold_out.set()

    try:
        await asyncio.wait_for(asyncio.gather(*(claimer(i) for i in range(args.claimers))), args.duration + 60)
    finally:
        elapsed = time.perf_counter() - start
        cpu_py = time.process_time() - c0
        cpu = meter.stop()
        for c in conns:
            await c.close()
        if engine is not None:
            await engine.dispose()
    ok = outcomes["ok"]
    return {"claims": ok, "rate": ok / elapsed, "places_rate": places / elapsed, "outcomes": dict(outcomes),
            "latency": latency_summary(latencies), "elapsed": elapsed, "sold_out": sold_out.is_set(),
            "pg_pct": cpu["pg"], "py_pct": 100 * cpu_py / elapsed, "machine": cpu["machine"], "busy_before": busy0,
            "conns": nconn}


async def check_capacity(db_url: str, show_ids: list[uuid.UUID], section: uuid.UUID) -> list[tuple[str, Any]]:
    conn = await connect_retry(db_url)
    try:
        out: list[tuple[str, Any]] = []
        for sid in show_ids:
            held = await conn.fetchval("SELECT count(*) FROM show_seats WHERE show_id = $1 AND section_id = $2 "
                                       "AND status = 'H'", sid, section)
            out.append((f"show {str(sid)[:8]}: places held", int(held)))
        row = await conn.fetchrow("SELECT held, capacity FROM ga_counter WHERE id = 1")
        out.append(("counter: held / capacity", f"{row['held']} / {row['capacity']}"))
        return out
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_uvloop()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    free = asyncio.run(free_connections())
    args.conns = max(1, min(args.claimers, free - 10))
    if args.conns < args.claimers:
        log(f"PostgreSQL has {free} free connection slots (others share it): "
            f"{args.claimers} claimers on {args.conns} connections")
    print_environment({"claimers": args.claimers, "connections": args.conns,
                       "GA capacity per variant": args.capacity})
    db = BenchDatabase()
    workdir = tempfile.mkdtemp(prefix="bo_bench_")
    env = server_env(db.url, secrets.token_urlsafe(16), workdir, False)
    rc = 0
    try:
        asyncio.run(db.create())
        db.migrate(env)
        place_variants = [v for v in variants if v.startswith("places") or v == "app"]
        venue = asyncio.run(build_stadium(db.url, sections=0, ga_capacity=args.capacity,
                                          shows=max(1, len(place_variants))))
        section = uuid.UUID(venue.shows[0].ga_section_ids[0])
        asyncio.run(setup_scratch(db.url, args.capacity))

        async def users_() -> list[uuid.UUID]:
            conn = await connect_retry(db.url)
            try:
                rows = await conn.fetch("INSERT INTO users (email, name, password_hash, role) SELECT 'ga-' || g || "
                                        "'@bench.test', 'Fan ' || g, 'x', 'fan' FROM generate_series(1, $1) g "
                                        "RETURNING id", args.users)
                await conn.execute("VACUUM (ANALYZE)")
                return [r["id"] for r in rows]
            finally:
                await conn.close()
        users = asyncio.run(users_())
        results = []
        show_iter = iter(venue.shows)
        used_shows = []
        for v in variants:
            show = next(show_iter) if (v.startswith("places") or v == "app") else venue.shows[0]
            if v.startswith("places") or v == "app":
                used_shows.append(show.show_id)
            if args.wait_quiet:
                wait_quiet(args.wait_quiet)
            log(f"variant {v}")
            r = asyncio.run(run_variant(v, db.url, db.name, show.show_id, show.version_sequence, section, users, args))
            results.append((v, r))
            if v.startswith("counter"):
                asyncio.run(reset_scratch(db.url))
        rows = []
        for v, r in results:
            lat = r["latency"]
            extra = {k: n for k, n in r["outcomes"].items() if k != "ok"}
            rows.append((LABELS[v].format(w=args.app_work_ms), r["conns"], r["rate"], r["places_rate"], lat["p50"], lat["p95"],
                         lat["p99"], ", ".join(f"{k}={n}" for k, n in extra.items()) or "-",
                         f"{r['py_pct']:.0f}% / {r['pg_pct']:.0f}% / {r['machine']:.0f}%", f"{r['busy_before']:.0f}%"))
        print(table(["variant", "conns", "claims/s", "places/s", "p50 ms", "p95 ms", "p99 ms", "other outcomes",
                     "CPU py / PG / machine", "busy before"], rows,
                    title=f"GA claims, {args.claimers} concurrent claimers (sharing conns connections), 1..4 places each"))
        print(table(["check", "value"], asyncio.run(check_capacity(db.url, used_shows, section)),
                    title="Never over capacity"))
        # The raw place variants hold places under hold ids with no hold row (they are not the app):
        # put those back on sale, then the audit checks the app variant and every capacity.
        rc = audit_app_holds(env, "after releasing the raw variants' places")
    finally:
        dispose_scratch(db, workdir, args.keep)
    return rc


if __name__ == "__main__":
    sys.exit(main())
