"""Flash sale: N fans holding seats of a 50,000-seat show through GraphQL, beside the bare-asyncpg ceiling.

    .venv/bin/python bench/flash_sale.py [--fans 1000] [--duration 20] [--workers 1] [--redis]
                                         [--rate 2200] [--purchase] [--profile 10] [--keep]
                                         [--signed-in-readers 50] [--anonymous-readers 0]
                                         [--soak-s 600 [--hold-ttl 30] [--rss-every 5]]

Steps: a fresh database (bo_bench_<random>), `boxoffice migrate`, an organizer, a 50,000-seat venue
(10 sections x 50 rows x 100 seats, optional GA), an event with two shows (one for the fans, one for
the ceiling), published; N fans bulk-inserted with SQL and given tokens; the ceiling (the issue's
conditional seat UPDATE from a bare asyncpg + uvloop loop, 64 tasks on 16 connections, fresh seats);
then `boxoffice serve` as a subprocess and the fans, one keep-alive connection each, from
--loadgen-procs separate processes; then `boxoffice audit`. The database is dropped unless --keep.

Fans are paced: each aims at rate/fans holds per second (a think time that shrinks by the request's
own latency). A fan whose request is slower than its interval sends the next at once, so an
overloaded server turns the run into a closed loop. The default offer is 2,200/s: the issue asks for
2,000 answered holds/s (successes + SeatsUnavailable; a request shed with 503 is not answered), and
paced fans offering exactly 2,000/s could never show that. --rate 0 is a pure closed loop (no think time),
which measures saturation throughput (latency is then fans / throughput, by Little's law).

--signed-in-readers N (and --anonymous-readers N) add N readers of the fan show's `availability` (50,000
codes) in a closed loop on their own connections while the holds run: each signed-in reader is a fan
of its own with a token (none of them holds). They are reported apart, with the issue's target for
signed-in reads (p95 < 20 ms at >= 1,000 req/s).

--soak-s S runs the same sale for S seconds against the one server, with 30-s holds so that seats keep
coming back, samples the server's RSS every --rss-every seconds and ends with the RSS at start (after
the warm-up), at end, its peak, its slope over the second half and a verdict line (see _soak.py).
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
from _common import AVAILABILITY_QUERY, CEILING_UPDATE, install_uvloop, latency_summary, log, table  # noqa: E402
from _db import BenchDatabase, connect_retry, dispose_scratch, free_connections, run_audit  # noqa: E402
from _meter import CpuMeter, RssSampler, busy_before, postgres_pids  # noqa: E402
from _procs import LoadGen, merge_results, split  # noqa: E402
from _profile import Profiler, summarise_profile  # noqa: E402
from _server import Server, print_environment, server_env  # noqa: E402
from _soak import add_soak_args, drain, report_soak, resolve_soak_args, resolve_vacuum, soak_wait  # noqa: E402
from _stadium import ShowLayout, build_stadium, create_fans, fresh_groups, hot_block  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fans", type=int, default=1000)
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds (after --warmup)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds of load before measuring (default 2; 30 with --soak-s)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--redis", action="store_true", help="REDIS_URL for the server (pub/sub across workers)")
    p.add_argument("--keep", action="store_true", help="keep the database")
    p.add_argument("--purchase", action="store_true", help="hold -> createOrder -> confirmPayment")
    p.add_argument("--rate", type=float, default=2200.0,
                   help="offered hold attempts/s over all fans (10%% over the issue's 2,000/s, so that the "
                        "answered rate is not capped by the offer); 0 = closed loop")
    p.add_argument("--hot-share", type=float, default=0.10, help="share of requests aimed at the hot block")
    p.add_argument("--hot-seats", type=int, default=200)
    p.add_argument("--max-seats", type=int, default=4, help="a request holds 1..max-seats adjacent seats")
    p.add_argument("--sections", type=int, default=10)
    p.add_argument("--rows", type=int, default=50)
    p.add_argument("--seats-per-row", type=int, default=100)
    p.add_argument("--ga", type=int, default=0, help="add a GA section of this capacity")
    p.add_argument("--loadgen-procs", type=int, default=2)
    p.add_argument("--ceiling-duration", type=float, default=4.0)
    p.add_argument("--ceiling-tasks", type=int, default=64)
    p.add_argument("--ceiling-conns", type=int, default=16)
    p.add_argument("--profile", type=int, default=0, metavar="SECONDS",
                   help="py-spy the server's worker processes for this long during the sale")
    p.add_argument("--log-level", default="warning", help="the server's --log-level (info logs every request)")
    p.add_argument("--max-in-flight", type=int, default=None, metavar="N",
                   help="the server's BOXOFFICE_MAX_IN_FLIGHT (load shedding per process); default: the server's")
    p.add_argument("--no-fast-path", action="store_true",
                   help="BOXOFFICE_HOLD_FAST_PATH=0: every holdSeats through strawberry (before/after comparisons)")
    p.add_argument("--hold-batch", type=int, default=None, metavar="N",
                   help="the server's BOXOFFICE_HOLD_BATCH (holds per group-commit statement; 0: one each)")
    p.add_argument("--hold-batches", type=int, default=None, metavar="N",
                   help="the server's BOXOFFICE_HOLD_BATCHES (group-commit statements in flight per process)")
    p.add_argument("--signed-in-readers", type=int, default=0, metavar="N",
                   help="N signed-in fans reading the show's availability in a closed loop during the sale")
    p.add_argument("--anonymous-readers", type=int, default=0, metavar="N",
                   help="N anonymous readers of the show's availability in a closed loop during the sale")
    p.add_argument("--request-timeout", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--wait-quiet", type=float, default=120.0, metavar="SECONDS",
                   help="before the ceiling and before the sale, wait up to this long for outside CPU load "
                        "to drop under 40%% of a core (others share the box); 0 = don't wait")
    add_soak_args(p)
    args = p.parse_args(argv)
    if not 0 <= args.signed_in_readers <= 2000 or not 0 <= args.anonymous_readers <= 2000:
        p.error("readers 0..2000")
    if not 1 <= args.fans <= 20_000 or not 0 < args.duration <= 600 or not 1 <= args.workers <= 8:
        p.error("fans 1..20000, duration 0..600 s, workers 1..8")
    resolve_soak_args(p, args)
    return args


# ---------------------------------------------------------------- the ceiling: bare asyncpg, no web stack

async def reset_show(db_url: str, show_id: uuid.UUID) -> None:
    conn = await connect_retry(db_url)
    try:
        await conn.execute("UPDATE show_seats SET status = 'A', hold_id = NULL, hold_expires_at = NULL "
                           "WHERE show_id = $1 AND status = 'H'", show_id)
        await conn.execute("VACUUM (ANALYZE) show_seats")
    finally:
        await conn.close()


async def ceiling(db_url: str, layout: ShowLayout, *, tasks: int, conns: int, duration: float, max_seats: int,
                  noop_reset: bool, seed: int) -> dict[str, Any]:
    """The issue's conditional hold UPDATE, one statement per hold, autocommit, synchronous_commit off
    (as the app's hold transactions), from `tasks` tasks on a pool of `conns` connections."""
    import asyncpg

    groups = collections.deque(fresh_groups(layout, random.Random(seed), max_seats))
    kwargs: dict[str, Any] = {}
    if noop_reset:
        async def no_reset(conn: Any) -> None:  # replaces asyncpg's per-release reset query round trip
            return None
        kwargs["reset"] = no_reset
    pool = await asyncpg.create_pool(db_url, min_size=conns, max_size=conns,
                                     server_settings={"synchronous_commit": "off"}, **kwargs)
    latencies: list[float] = []
    held = 0
    try:
        # warm the prepared statement on every connection
        async def warm() -> None:
            async with pool.acquire() as c:
                await c.execute("SELECT 1")
        await asyncio.gather(*(warm() for _ in range(conns)))
        end = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal held
            for _ in range(1_000_000):
                if not groups or time.perf_counter() >= end:
                    return
                seats = groups.popleft()
                t0 = time.perf_counter()
                async with pool.acquire() as c:
                    status = await c.execute(CEILING_UPDATE, uuid.uuid4(), layout.show_id, seats,
                                             layout.version_sequence)
                latencies.append(time.perf_counter() - t0)
                held += int(status.split()[-1]) == len(seats)

        start = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(tasks))), duration + 30)
        elapsed = time.perf_counter() - start
    finally:
        await pool.close()
    return {"updates": len(latencies), "all_seats_held": held, "elapsed": elapsed,
            "rate": len(latencies) / elapsed, "latency": latency_summary(latencies),
            "exhausted": not groups}


# ---------------------------------------------------------------- checks after the sale

async def db_checks(db_url: str, show_id: uuid.UUID) -> dict[str, int]:
    conn = await connect_retry(db_url)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM holds WHERE show_id = $1) AS holds, "
            "(SELECT count(*) FROM holds WHERE show_id = $1 AND status = 'active') AS active_holds, "
            "(SELECT COALESCE(sum(ticket_count), 0) FROM holds WHERE show_id = $1 AND status = 'active') AS held_tickets, "
            "(SELECT count(*) FROM show_seats WHERE show_id = $1 AND status = 'H') AS held_seats, "
            "(SELECT count(*) FROM show_seats WHERE show_id = $1 AND status = 'S') AS sold_seats, "
            "(SELECT count(*) FROM (SELECT unnest(seat_ids) s FROM holds WHERE show_id = $1 AND status = 'active' "
            " GROUP BY 1 HAVING count(*) > 1) d) AS seats_in_two_active_holds, "
            "(SELECT count(*) FROM orders WHERE show_id = $1 AND status = 'confirmed') AS confirmed_orders",
            show_id)
        return dict(row)
    finally:
        await conn.close()


# ---------------------------------------------------------------- the run

def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_uvloop()
    resolve_vacuum(args)
    print_environment({"server workers": args.workers, "server REDIS_URL": args.redis, "fans": args.fans,
                       "offered rate": args.rate or "closed loop",
                       **({"soak s": args.soak_s, "hold TTL s": args.hold_ttl,
                          "bench VACUUM every s": args.vacuum_every or "never"} if args.soak_s else {}),
                       **({"max in flight": args.max_in_flight} if args.max_in_flight is not None else {}),
                       **({"holdSeats fast path": "off"} if args.no_fast_path else {}),
                       **({"hold batch": args.hold_batch} if args.hold_batch is not None else {}),
                       **({"hold batches": args.hold_batches} if args.hold_batches is not None else {})})
    db = BenchDatabase()
    workdir = tempfile.mkdtemp(prefix="bo_bench_")
    secret = secrets.token_urlsafe(32)
    env = server_env(db.url, secret, workdir, args.redis)
    if args.max_in_flight is not None:
        env["BOXOFFICE_MAX_IN_FLIGHT"] = str(args.max_in_flight)
    if args.no_fast_path:
        env["BOXOFFICE_HOLD_FAST_PATH"] = "0"
    if args.hold_batch is not None:
        env["BOXOFFICE_HOLD_BATCH"] = str(args.hold_batch)
    if args.hold_batches is not None:
        env["BOXOFFICE_HOLD_BATCHES"] = str(args.hold_batches)
    server: Server | None = None
    rss: RssSampler | None = None
    rc = 0
    try:
        log(f"creating database {db.name}")
        asyncio.run(db.create())
        db.migrate(env)
        t0 = time.monotonic()
        venue = asyncio.run(build_stadium(db.url, sections=args.sections, rows=args.rows,
                                          seats_per_row=args.seats_per_row, ga_capacity=args.ga, shows=2,
                                          hold_ttl_seconds=args.hold_ttl))
        fan_show, ceiling_show = venue.shows
        log(f"venue with {fan_show.seat_count:,} reserved seats and 2 shows in {time.monotonic() - t0:.1f} s")
        fans = asyncio.run(create_fans(db.url, args.fans + args.signed_in_readers, secret))
        fans, reader_fans = fans[:args.fans], fans[args.fans:]
        log(f"{len(fans):,} fans with tokens" + (f", {len(reader_fans):,} signed-in readers" if reader_fans else ""))

        # ---- ceiling (before the server runs: nothing else of ours on the box)
        ceiling_busy = busy_before(args.wait_quiet)
        ceilings = {}
        for label, noop in (("asyncpg pool (default reset)", False), ("asyncpg pool, reset='' (no-op)", True)):
            log(f"ceiling: {label}")
            ceilings[label] = asyncio.run(ceiling(db.url, ceiling_show, tasks=args.ceiling_tasks,
                                                  conns=args.ceiling_conns, duration=args.ceiling_duration,
                                                  max_seats=args.max_seats, noop_reset=noop, seed=args.seed))
            asyncio.run(reset_show(db.url, ceiling_show.show_id))

        baseline = busy_before(args.wait_quiet)

        # ---- the server and the fans
        free = args.free_conns = asyncio.run(free_connections())
        if free < 30 * args.workers + 5:
            log(f"WARNING: PostgreSQL has {free} free connection slots; the server's pools may want "
                f"{30 * args.workers} (others share this PostgreSQL)")
        server = Server(env, args.workers, args.log_level)
        log(f"starting boxoffice serve --workers {args.workers}{' with Redis' if args.redis else ''}")
        server.start()
        if args.soak_s:
            rss = RssSampler(server.pids, args.rss_every, max_s=args.warmup + args.duration + 600,
                             keep_series=True).start()
        hot = hot_block(fan_show, args.hot_seats)
        start_at = time.time() + 3.0
        procs = max(1, min(args.loadgen_procs, args.fans))
        loadgens = []
        for i, chunk in enumerate(split([t for _, t in fans], procs)):
            spec = {"host": "127.0.0.1", "port": server.port, "start_at": start_at, "duration": args.duration,
                    "warmup": args.warmup, "hard_timeout": args.warmup + args.duration + args.request_timeout + 20,
                    "scenario": "purchase" if args.purchase else "hold", "tokens": chunk,
                    "rate": args.rate * len(chunk) / args.fans, "show_id": str(fan_show.show_id),
                    "rows": fan_show.rows, "hot_rows": hot, "hot_share": args.hot_share,
                    "max_seats": args.max_seats, "seed": args.seed * 1000 + i,
                    "request_timeout": args.request_timeout, "window_s": float(args.window_s)}
            loadgens.append(LoadGen(spec, workdir))
        readers: dict[str, LoadGen] = {}
        for kind, tokens in (("signed_in_read", [t for _, t in reader_fans]),
                             ("anonymous_read", [None] * args.anonymous_readers)):
            if tokens:
                readers[kind] = LoadGen({
                    "host": "127.0.0.1", "port": server.port, "start_at": start_at, "duration": args.duration,
                    "warmup": args.warmup, "hard_timeout": args.warmup + args.duration + args.request_timeout + 20,
                    "scenario": "read", "tokens": tokens, "connections": len(tokens), "query": AVAILABILITY_QUERY,
                    "variables": {"id": str(fan_show.show_id)}, "kind": kind, "seed": args.seed,
                    "request_timeout": args.request_timeout, "window_s": float(args.window_s)}, workdir)
        meter = CpuMeter({"server (all workers)": server.pids,
                          "postgres (backends of this database)": lambda: postgres_pids(db.name),
                          "postgres (all, incl. other databases)": "postgres",
                          "redis-server": "redis-server", "load generators": lambda: [g.pid for g in loadgens],
                          **({"readers' load generators": lambda: [g.pid for g in readers.values()]}
                             if readers else {})})
        time.sleep(max(0.0, start_at + args.warmup - time.time()))
        meter.start()
        if rss is not None:
            rss.sample()  # the start RSS: right after the warm-up
        profiler = None
        if args.profile:
            time.sleep(min(2.0, args.duration / 4))
            profiler = Profiler(server.worker_pids(), min(args.profile, max(1, int(args.duration - 3))), workdir)
        if rss is not None:
            soak_wait(rss, start_at + args.warmup + args.duration, db.url, args.vacuum_every)
        time.sleep(max(0.0, start_at + args.warmup + args.duration - time.time()))
        cpu = meter.stop()
        if rss is not None:
            rss.sample()  # the end RSS, with the load still on
        cpu["baseline"] = baseline
        results = [g.result(args.request_timeout + 60) for g in loadgens]
        merged = merge_results(results)
        read_results = {kind: g.result(args.request_timeout + 60) for kind, g in readers.items()}
        profile_files = profiler.finish() if profiler else []
        idle_kb = drain(rss, args.hold_ttl) if rss is not None else 0
        server.stop()
        server_log = "\n".join(server.error_summary())
        server = None

        checks = asyncio.run(db_checks(db.url, fan_show.show_id))
        audit_rc, audit_out = run_audit(env)
        rc = report(args, merged, ceilings, ceiling_busy, cpu, checks, audit_rc, audit_out, profiler, profile_files, server_log)
        if read_results:
            report_readers(args, read_results)
        if rss is not None:
            rss.stop()
            report_soak(args, merged, rss.series, start_at + args.warmup, idle_kb)
    finally:
        if rss is not None:
            rss.stop()
        if server is not None:
            server.stop()
        dispose_scratch(db, workdir, args.keep)
    return rc


def report(args: argparse.Namespace, m: dict[str, Any], ceilings: dict[str, dict[str, Any]], ceilings_busy: float,
           cpu: dict[str, float],
           checks: dict[str, int], audit_rc: int, audit_out: str, profiler: Profiler | None,
           profile_files: list[str], server_log: str) -> int:
    d = args.duration
    o = m["outcomes"]
    holds = {k: v for k, v in o.items() if k.startswith("hold:")}
    attempts = sum(holds.values())
    ok = holds.get("hold:ok", 0)
    unavailable = holds.get("hold:unavailable", 0)
    rejected = sum(v for k, v in holds.items() if k.startswith("hold:rejected"))
    errors = attempts - ok - unavailable - rejected
    lat = latency_summary(m["latency"].get("hold", []))
    lat_ok = latency_summary(m["latency"].get("hold_ok", []))
    best_ceiling = max(c["rate"] for c in ceilings.values())
    default_ceiling = next(iter(ceilings.values()))["rate"]
    mode = f"paced, offered {args.rate:,.0f}/s" if args.rate else "closed loop (no think time)"
    print(table(["metric", "value"], [
        ("fans (keep-alive connections)", args.fans),
        ("server workers", f"{args.workers}{' + Redis' if args.redis else ''}"),
        ("load", mode),
        ("measured window (s)", d),
        ("hold attempts/s", attempts / d),
        ("successes/s", ok / d),
        ("SeatsUnavailable/s", unavailable / d),
        ("Rejected/s" + "".join(f" {k.split(':')[2]}={v}" for k, v in sorted(holds.items())
                                 if k.startswith("hold:rejected")), rejected / d),
        ("errors (timeouts, HTTP, GraphQL, connection)", errors),
        ("latency p50 / p95 / p99 / max (ms)", f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} / {lat['max']:.0f}"),
        ("latency of successful holds p50 / p95 / p99 (ms)", f"{lat_ok['p50']:.1f} / {lat_ok['p95']:.1f} / {lat_ok['p99']:.1f}"),
        ("completions after the window (not counted)", sum(v for k, v in o.items() if k.startswith("late:"))),
        ("client reconnects", m["reconnects"]),
        ("free PostgreSQL connection slots before the sale", args.free_conns),
    ], title="Flash sale through GraphQL (holdSeats)"))
    err_kinds = {k: v for k, v in holds.items() if k not in ("hold:ok", "hold:unavailable")
                 and not k.startswith("hold:rejected")}
    if err_kinds:
        print(table(["error", "count"], sorted(err_kinds.items()), title="Errors"))

    # timeline
    rows = []
    ws = args.window_s
    for w in sorted(m["windows"], key=int):
        counts = m["windows"][w]
        t = int(w) * ws
        if t >= d:
            continue
        span = min(d, t + ws) - t
        att = sum(v for k, v in counts.items() if k.startswith("hold:"))
        rows.append((f"{t}-{min(d, t + ws):g} s", att / span, counts.get("hold:ok", 0) / span,
                     counts.get("hold:unavailable", 0) / span, counts.get("hold:http_503", 0) / span))
    print(table(["window", "attempts/s", "successes/s", "unavailable/s", "shed (503)/s"], rows, title=f"Timeline ({ws} s windows)"))

    if args.purchase:
        steps = [("hold", "hold"), ("createOrder", "create_order"), ("confirmPayment", "confirm_payment"),
                 ("order poll", "order_poll"), ("hold -> CONFIRMED", "purchase")]
        prow = []
        for name, key in steps:
            s = latency_summary(m["latency"].get(key, []))
            prow.append((name, s["n"], s["p50"], s["p95"], s["p99"]))
        confirmed = o.get("purchase:CONFIRMED", 0)
        print(table(["step", "calls", "p50 ms", "p95 ms", "p99 ms"], prow,
                    title=f"Purchase path: {confirmed / d:.1f} confirmed orders/s"))
        print(table(["outcome", "count"], sorted((k, v) for k, v in o.items() if not k.startswith("hold")),
                    title="Purchase outcomes"))

    crow = []
    for label, c in ceilings.items():
        crow.append((label, c["updates"], c["elapsed"], c["rate"], c["latency"]["p50"], c["latency"]["p99"],
                     "yes" if c["exhausted"] else "no"))
    print(table(["bare asyncpg + uvloop, 64 tasks / 16 conns", "UPDATEs", "s", "UPDATEs/s", "p50 ms", "p99 ms",
                 "ran out of fresh seats"], crow, title="Ceiling: the conditional seat UPDATE with no web stack "
                 f"(machine busy {ceilings_busy:.0f}% just before)"))
    print(table(["ratio", "value"], [
        ("boxoffice attempts/s / ceiling (default pool)", f"{100 * attempts / d / default_ceiling:.1f}%"),
        ("boxoffice attempts/s / ceiling (best)", f"{100 * attempts / d / best_ceiling:.1f}%"),
        ("boxoffice successes/s / ceiling (best)", f"{100 * ok / d / best_ceiling:.1f}%"),
    ], title="boxoffice / ceiling"))

    cpu_rows = [(k, f"{v:.0f}%") for k, v in cpu.items()]
    cpu_rows.append(("other (kernel, softirq, py-spy, outside load)",
                     f"{cpu['machine'] - sum(v for k, v in cpu.items() if k not in ('machine', 'baseline') and 'this database' not in k):.0f}%"))
    cpu_rows.append(("machine busy before the run (outside load)", f"{cpu.get('baseline', 0):.0f}%"))
    print(table(["process group", "CPU % of one core (200% = the box)"],
                [r for r in cpu_rows if r[0] != "baseline"], title="CPU during the measured window"))
    print(f"load generator self-reported CPU: {100 * m['cpu_s'] / d:.0f}% of one core "
          f"over {args.loadgen_procs} process(es)")

    targets = [
        ("answered holds/s >= 2,000 (successes + SeatsUnavailable; 503 sheds not counted)",
         (ok + unavailable) / d >= 2000, f"{(ok + unavailable) / d:,.0f} of {attempts / d:,.0f} attempts/s"),
        ("p99 < 250 ms", lat["p99"] < 250, f"{lat['p99']:.0f} ms"),
        (">= 25% of the bare-asyncpg ceiling", attempts / d >= 0.25 * default_ceiling,
         f"{100 * attempts / d / default_ceiling:.1f}% (best ceiling: {100 * attempts / d / best_ceiling:.1f}%)"),
        ("zero oversell (audit clean, no seat in two active holds)",
         audit_rc == 0 and checks["seats_in_two_active_holds"] == 0 and checks["held_seats"] == checks["held_tickets"],
         "clean" if audit_rc == 0 else "FAILED"),
    ]
    print(table(["issue target", "met", "measured"], [(n, "yes" if okk else "NO", v) for n, okk, v in targets],
                title="Issue targets"))

    print(table(["database check (fan show)", "value"], list(checks.items()), title="After the sale"))
    print(f"client-counted successful holds: {ok + o.get('late:hold:ok', 0):,} (+ any completed during warm-up)")
    print(f"\n$ boxoffice audit\n{audit_out}  (exit {audit_rc})")

    if profiler is not None:
        if profiler.error:
            print(f"\nprofile: {profiler.error}")
        if profile_files:
            prof = summarise_profile(profile_files)
            print(table(["package (innermost known frame)", "% of samples"],
                        [(k, f"{v:.1f}") for k, v in prof["buckets"]],
                        title=f"Server profile (py-spy, {int(prof['samples'][0][1]):,} samples, "
                              f"{len(profile_files)} worker(s), idle excluded)"))
            print(table(["function (self time)", "%"], [(k, f"{v:.1f}") for k, v in prof["self"]],
                        title="Top functions by self time"))
            print(table(["function (inclusive)", "%"], [(k, f"{v:.1f}") for k, v in prof["inclusive"]],
                        title="Top functions by inclusive time"))
    if m["notes"]:
        print("\nnotes from the load generators:")
        for n in m["notes"][:15]:
            print(f"  - {n}")
    if server_log:
        print(f"\nserver log, distinct error lines:\n{server_log}")
    return 0 if audit_rc == 0 and checks["seats_in_two_active_holds"] == 0 else 1


def report_readers(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    """The readers of the show's availability during the sale, each kind apart."""
    d = args.duration
    rows, targets = [], []
    for kind, r in results.items():
        ok = r["outcomes"].get(f"{kind}:ok", 0)
        bad = sum(v for k, v in r["outcomes"].items() if not k.endswith(":ok") and not k.startswith("late:"))
        lat = latency_summary(r["latency"].get(kind, []))
        count = args.signed_in_readers if kind == "signed_in_read" else args.anonymous_readers
        rows.append((f"{kind.replace('_', ' ')} ({count} readers)", ok / d, bad, lat["p50"], lat["p95"], lat["p99"],
                     r["bytes"] / max(1, ok), f"{100 * r['cpu_s'] / d:.0f}%"))
        if kind == "signed_in_read":
            targets = [("signed-in availability p95 < 20 ms", lat["p95"] < 20, f"{lat['p95']:.1f} ms"),
                       ("signed-in availability >= 1,000 req/s", ok / d >= 1000, f"{ok / d:,.0f}/s")]
        for note in r["notes"][:5]:
            print(f"  {kind}: {note}")
    print(table(["Show.availability readers (closed loop, holds running)", "answers/s", "errors", "p50 ms",
                 "p95 ms", "p99 ms", "bytes/answer", "load generator CPU"], rows,
                title="Readers of the seat map during the sale"))
    if targets:
        print(table(["issue target", "met", "measured"], [(n, "yes" if okk else "NO", v) for n, okk, v in targets],
                    title="Issue targets (signed-in reads)"))


if __name__ == "__main__":
    sys.exit(main())
