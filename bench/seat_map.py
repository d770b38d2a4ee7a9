"""Seat-map reads of the 50,000-seat show while holds run, beside the raw SQL reads of the same data.

    .venv/bin/python bench/seat_map.py [--readers 50] [--duration 10] [--hold-rate 200] [--workers 1]
                                       [--redis] [--profile 8] [--keep]

Phases, one after the other, each --duration seconds with --readers concurrent readers (one
keep-alive connection each, closed loop), all while --hold-fans fans hold seats at --hold-rate/s:
  1. GraphQL  show { availability { version codes sections {...} } }      (50,000 codes)
  2. GraphQL  show { seats(sectionId: <a 5,000-seat section>) { every field } }
  3. raw SQL  SELECT string_agg(status, '' ORDER BY position) ...          (asyncpg, no web stack)
  4. raw SQL  the section's 5,000 show_seats rows, as Show.seats reads them (asyncpg, no web stack)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import AVAILABILITY_QUERY, SEATS_QUERY, install_uvloop, latency_summary, log, table  # noqa: E402
from _db import BenchDatabase, dispose_scratch, free_connections  # noqa: E402
from _meter import CpuMeter, busy_before, postgres_pids  # noqa: E402
from _procs import LoadGen, merge_results  # noqa: E402
from _profile import Profiler, summarise_profile  # noqa: E402
from _server import Server, print_environment, server_env  # noqa: E402
from _stadium import build_stadium, create_fans, hot_block  # noqa: E402

RAW_CODES = ("SELECT string_agg(status, '' ORDER BY position) FROM show_seats "
             "WHERE show_id = $1 AND position IS NOT NULL")
RAW_SECTION = ("SELECT id, venue_seat_id, CASE WHEN status = 'H' AND hold_expires_at <= now() THEN 'A' ELSE status END "
               "AS status, version, price_cents FROM show_seats WHERE show_id = $1 AND position IS NOT NULL "
               "AND section_id = $2 ORDER BY position")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--readers", type=int, default=50)
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--hold-rate", type=float, default=200.0, help="background holds/s (0 = none)")
    p.add_argument("--hold-fans", type=int, default=100)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--redis", action="store_true")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--raw-conns", type=int, default=16, help="asyncpg pool size of the raw SQL phases")
    p.add_argument("--profile", type=int, default=0, metavar="SECONDS", help="py-spy the workers in phases 1-2")
    p.add_argument("--prewarm", type=int, default=4, metavar="N",
                   help="N x workers sequential requests before each GraphQL phase (0 = measure cold)")
    p.add_argument("--phases", default="availability,seats,raw_codes,raw_section")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--request-timeout", type=float, default=15.0)
    p.add_argument("--wait-quiet", type=float, default=120.0)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment of the server, e.g. BOXOFFICE_QUERY_CACHE_MS=0 (repeatable)")
    args = p.parse_args(argv)
    if not 1 <= args.readers <= 1000 or not 0 < args.duration <= 300 or not 1 <= args.workers <= 8:
        p.error("readers 1..1000, duration 0..300 s, workers 1..8")
    return args


async def raw_phase(db_url: str, sql: str, params: tuple[Any, ...], readers: int, conns: int, duration: float,
                    warmup: float, meter: CpuMeter) -> dict[str, Any]:
    import asyncpg

    async def no_reset(conn: Any) -> None:
        return None
    pool = await asyncpg.create_pool(db_url, min_size=conns, max_size=conns, reset=no_reset)
    latencies: list[float] = []
    nbytes = 0
    try:
        start = time.perf_counter()
        measure_from = start + warmup
        end = measure_from + duration
        loop = asyncio.get_running_loop()
        loop.call_at(loop.time() + warmup, meter.start)

        async def reader() -> None:
            nonlocal nbytes
            for _ in range(1_000_000):
                if time.perf_counter() >= end:
                    return
                t0 = time.perf_counter()
                async with pool.acquire() as c:
                    rows = await c.fetch(sql, *params)
                t1 = time.perf_counter()
                if t0 >= measure_from and t1 <= end:
                    latencies.append(t1 - t0)
                    nbytes += len(rows[0][0]) if len(rows) == 1 else len(rows)

        await asyncio.wait_for(asyncio.gather(*(reader() for _ in range(readers))), warmup + duration + 60)
        cpu = meter.stop()  # before the pool closes: its backends' CPU must be counted
    finally:
        await pool.close()
    return {"n": len(latencies), "rate": len(latencies) / duration, "latency": latency_summary(latencies),
            "size": nbytes / max(1, len(latencies)), "cpu": cpu}


def prewarm(port: int, query: str, variables: dict[str, Any], n: int) -> list[float]:
    """n sequential GraphQL requests on fresh connections; their latencies in seconds."""
    import json
    import urllib.error
    import urllib.request
    out = []
    body = json.dumps({"query": query, "variables": variables}).encode()
    for _ in range(max(1, min(n, 50))):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body,
                                     headers={"Content-Type": "application/json", "Connection": "close"})
        for attempt in range(20):
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    r.read()
                break
            except urllib.error.HTTPError as err:
                # Load shedding (the background holds can fill the in-flight budget): retry.
                if err.code != 503 or attempt == 19:
                    raise
                time.sleep(0.2)
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_uvloop()
    print_environment({"server workers": args.workers, "server REDIS_URL": args.redis, "readers": args.readers,
                       "background holds/s": args.hold_rate})
    db = BenchDatabase()
    workdir = tempfile.mkdtemp(prefix="bo_bench_")
    secret = secrets.token_urlsafe(32)
    env = server_env(db.url, secret, workdir, args.redis)
    env.update(item.split("=", 1) for item in args.server_env)
    server: Server | None = None
    holds_gen: LoadGen | None = None
    stop_file = os.path.join(workdir, "stop-holds")
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    try:
        asyncio.run(db.create())
        db.migrate(env)
        venue = asyncio.run(build_stadium(db.url, shows=1))
        show = venue.shows[0]
        section_id = show.section_ids[0]
        section_seats = sum(len(r) for r, s in zip(show.rows, show.section_of_row) if s == 0)
        fans = asyncio.run(create_fans(db.url, max(1, args.hold_fans), secret))
        free = asyncio.run(free_connections())
        log(f"PostgreSQL has {free} free connection slots (others share it)")
        server = Server(env, args.workers, args.log_level)
        server.start()
        busy = busy_before(args.wait_quiet)

        # background holds for the whole run (stopped by a file; bounded by a generous duration)
        hold_result = None
        if args.hold_rate > 0:
            total = len(phases) * (args.duration + args.warmup + 8) + 30
            holds_gen = LoadGen({
                "host": "127.0.0.1", "port": server.port, "start_at": time.time() + 1.0, "duration": total,
                "warmup": 0.0, "hard_timeout": total + 60, "scenario": "hold", "tokens": [t for _, t in fans],
                "rate": args.hold_rate, "show_id": str(show.show_id), "rows": show.rows,
                "hot_rows": hot_block(show), "hot_share": 0.1, "max_seats": 4, "seed": args.seed,
                "request_timeout": args.request_timeout, "window_s": 5.0, "stop_file": stop_file}, workdir)
            time.sleep(3.0)

        results: dict[str, dict[str, Any]] = {}
        cold: dict[str, list[float]] = {}
        profiles: dict[str, dict[str, Any]] = {}
        for phase in phases:
            log(f"phase {phase}")
            meter = CpuMeter({"server": server.pids, "postgres (this db)": lambda: postgres_pids(db.name)})
            if phase in ("availability", "seats"):
                query = AVAILABILITY_QUERY if phase == "availability" else SEATS_QUERY
                variables = {"id": str(show.show_id)}
                if phase == "seats":
                    variables["section"] = section_id
                if args.prewarm:
                    # Sequential requests first, so that every worker has its venue geometry cached
                    # (the first Show.seats of a process loads all 50,000 seats' geometry).
                    cold[phase] = prewarm(server.port, query, variables, args.prewarm * args.workers)
                start_at = time.time() + 1.5
                gen = LoadGen({"host": "127.0.0.1", "port": server.port, "start_at": start_at,
                               "duration": args.duration, "warmup": args.warmup,
                               "hard_timeout": args.duration + args.warmup + args.request_timeout + 30,
                               "scenario": "read", "connections": args.readers, "query": query,
                               "variables": variables, "kind": phase, "seed": args.seed,
                               "request_timeout": args.request_timeout, "window_s": 1.0}, workdir)
                meter.groups["load generator"] = lambda: [gen.pid]
                time.sleep(max(0.0, start_at + args.warmup - time.time()))
                meter.start()
                profiler = None
                if args.profile:
                    profiler = Profiler(server.worker_pids(), min(args.profile, max(1, int(args.duration - 1))),
                                        workdir)
                time.sleep(max(0.0, start_at + args.warmup + args.duration - time.time()))
                cpu = meter.stop()
                r = merge_results([gen.result(args.request_timeout + 60)])
                ok = r["outcomes"].get(f"{phase}:ok", 0)
                bad = sum(v for k, v in r["outcomes"].items() if not k.endswith(":ok"))  # late ones too
                results[phase] = {"n": ok, "errors": bad, "rate": ok / args.duration,
                                  "latency": latency_summary(r["latency"].get(phase, [])),
                                  "size": r["bytes"] / max(1, ok), "cpu": cpu, "notes": r["notes"],
                                  "loadgen_cpu": 100 * r["cpu_s"] / args.duration}
                if profiler is not None:
                    files = profiler.finish()
                    profiles[phase] = summarise_profile(files) if files else {"error": profiler.error}
            else:
                sql = RAW_CODES if phase == "raw_codes" else RAW_SECTION
                params: tuple[Any, ...] = (show.show_id,) if phase == "raw_codes" else (show.show_id,
                                                                                         uuid.UUID(section_id))
                r = asyncio.run(raw_phase(db.url, sql, params, args.readers, args.raw_conns, args.duration,
                                          args.warmup, meter))
                r["errors"] = 0
                results[phase] = r
        if holds_gen is not None:
            open(stop_file, "w").close()
            hold_result = merge_results([holds_gen.result(60)])
        server.stop()
        errors = server.error_summary()
        server = None
        report(args, results, profiles, hold_result, section_seats, busy)
        if cold:
            print(table(["sequential requests before the phase (one at a time)", "1st ms", "2nd ms", "min ms",
                         "max ms"], [(p, v[0] * 1e3, v[1] * 1e3 if len(v) > 1 else float("nan"), min(v) * 1e3,
                                      max(v) * 1e3) for p, v in cold.items()],
                        title="Warm-up: one request at a time (the first per worker loads the venue geometry)"))
        if errors:
            print("\nserver log, distinct error lines:")
            for e in errors:
                print(f"  {e}")
    finally:
        if holds_gen is not None and holds_gen.proc.poll() is None:
            open(stop_file, "w").close()
            try:
                holds_gen.proc.wait(timeout=30)
            except Exception:
                holds_gen.proc.kill()
        if server is not None:
            server.stop()
        dispose_scratch(db, workdir, args.keep)
    return 0


LABELS = {
    "availability": "GraphQL Show.availability (50,000 codes)",
    "seats": "GraphQL Show.seats(sectionId) ({n:,} seats)",
    "raw_codes": "raw SQL string_agg of 50,000 statuses",
    "raw_section": "raw SQL the section's {n:,} rows",
}


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]], profiles: dict[str, dict[str, Any]],
           holds: dict[str, Any] | None, section_seats: int, busy_before: float) -> None:
    rows = []
    for phase, r in results.items():
        lat = r["latency"]
        cpu = r["cpu"]
        loadgen = f"{r['loadgen_cpu']:.0f}%" if "loadgen_cpu" in r else "-"
        rows.append((LABELS[phase].format(n=section_seats), r["rate"], lat["p50"], lat["p95"], lat["p99"],
                     r["errors"], f"{r['size'] / 1024:,.1f} KB" if phase != "raw_section" else f"{r['size']:,.0f} rows",
                     f"{cpu.get('server', 0):.0f}% / {cpu['postgres (this db)']:.0f}% / {loadgen} / "
                     f"{cpu['machine']:.0f}%"))
    print(table(["read (50 concurrent readers, holds running)".replace("50", str(args.readers)), "req/s", "p50 ms",
                 "p95 ms", "p99 ms", "errors", "response", "CPU server / PG / load gen / machine"], rows,
                title=f"Seat map of the 50,000-seat show, {args.workers} worker(s)"
                      f"{' + Redis' if args.redis else ''}, machine busy {busy_before:.0f}% before"))
    for phase, r in results.items():
        if r.get("notes"):
            print(f"{phase} notes: {r['notes'][:5]}")
    if "availability" in results and "raw_codes" in results:
        a, c = results["availability"], results["raw_codes"]
        print(f"\nShow.availability / raw string_agg: {a['rate'] / max(1e-9, c['rate']):.2f}x the throughput, "
              f"p95 {a['latency']['p95']:.1f} ms vs {c['latency']['p95']:.1f} ms")
    if "seats" in results and "raw_section" in results:
        s, c = results["seats"], results["raw_section"]
        print(f"Show.seats / raw section rows: {s['rate'] / max(1e-9, c['rate']):.2f}x the throughput, "
              f"p95 {s['latency']['p95']:.1f} ms vs {c['latency']['p95']:.1f} ms")
        if s["rate"] > 0:
            print(f"server CPU per Show.seats response: {s['cpu'].get('server', 0) * 10 / s['rate']:.1f} ms")
    if "availability" in results and results["availability"]["rate"] > 0:
        a = results["availability"]
        print(f"server CPU per Show.availability response: "
              f"{a['cpu'].get('server', 0) * 10 / max(1e-9, a['rate']):.2f} ms")
    targets = []
    if "availability" in results:
        a = results["availability"]
        targets += [("Show.availability p95 < 20 ms", a["latency"]["p95"] < 20, f"{a['latency']['p95']:.1f} ms"),
                    ("Show.availability >= 1,000 req/s", a["rate"] >= 1000, f"{a['rate']:,.0f}/s")]
    if "seats" in results:
        s = results["seats"]
        targets.append(("Show.seats (5,000-seat section) p95 < 150 ms", s["latency"]["p95"] < 150,
                        f"{s['latency']['p95']:.1f} ms"))
    if targets:
        print(table(["issue target", "met", "measured"], [(n, "yes" if ok else "NO", v) for n, ok, v in targets],
                    title="Issue targets"))
    if holds is not None:
        o = holds["outcomes"]
        att = sum(v for k, v in o.items() if k.startswith("hold:"))
        span = holds["elapsed_s"] or 1
        lat = latency_summary(holds["latency"].get("hold", []))
        print(table(["background holds", "value"], [
            ("attempts/s (whole run)", att / span), ("successes/s", o.get("hold:ok", 0) / span),
            ("p50 / p95 / p99 ms", f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f}"),
            ("errors", sum(v for k, v in o.items() if k.startswith("hold:") and k not in
                           ("hold:ok", "hold:unavailable") and "rejected" not in k))], title="Background holds"))
    for phase, prof in profiles.items():
        if "error" in prof:
            print(f"profile {phase}: {prof['error']}")
            continue
        print(table(["package (innermost known frame)", "%"], [(k, f"{v:.1f}") for k, v in prof["buckets"]],
                    title=f"Server profile during {phase} ({int(prof['samples'][0][1]):,} samples)"))
        print(table(["function (self time)", "%"], [(k, f"{v:.1f}") for k, v in prof["self"][:12]],
                    title=f"Top self time during {phase}"))


if __name__ == "__main__":
    sys.exit(main())
