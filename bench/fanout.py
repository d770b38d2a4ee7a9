"""Live seat-map fan-out: N seatChanges subscribers on one show, then a burst of holds over HTTP.

    .venv/bin/python bench/fanout.py [--subscribers 2000] [--holds 1000] [--burst-s 2] [--client-procs 4]
                                     [--workers 1] [--redis] [--no-deflate] [--window-ms N] [--profile]
                                     [--drain-timeout 90] [--keep]

1. A scratch database (bo_bench_<random>) with the 50,000-seat stadium show and holds+1 fans.
2. `boxoffice serve --workers W` (REDIS_URL with --redis) as a subprocess.
3. --client-procs processes open --subscribers graphql-transport-ws sockets (permessage-deflate, as
   browsers offer it, unless --no-deflate) and subscribe seatChanges(showId) on every one.
4. A sentinel hold; every socket must receive it (proves every subscription is live on the server).
5. Another process issues --holds holds (1..4 adjacent seats each, all distinct, one fan each) at a steady
   rate over --burst-s seconds on 32 keep-alive connections, recording the wall clock right after each
   response.
6. Each subscriber records the receive time of every message; per (subscriber, seat change):
   latency = first receive time of that seat - response time of the hold that took it.
Target (issue "live seat maps"): every subscriber gets every change, p99 <= 1 s, server RSS < 400 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import tempfile
import time
import urllib.request
from typing import Any

import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (HOLD_MUTATION, SEAT_CHANGES_SUBSCRIPTION, LatencyHistogram, install_uvloop,  # noqa: E402
                     log, percentile, raise_nofile, table)
from _db import BenchDatabase, PgActivitySampler, dispose_scratch, free_connections, wait_pg_slots  # noqa: E402
from _meter import CpuMeter, RssSampler, busy_before, cpu_delta, postgres_pids, proc_cpu_s  # noqa: E402
from _procs import Child  # noqa: E402
from _profile import Profiler, summarise_profile  # noqa: E402
from _server import Server, TracedServer, flush_bench_redis, print_environment, server_env  # noqa: E402
from _stadium import build_stadium, create_fans  # noqa: E402

LIVE_REDIS_URL = "redis://127.0.0.1:6379/15"  # the tests FLUSHDB dbs 0, 1, 2, 3..13 (random) and 14


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subscribers", type=int, default=2000)
    p.add_argument("--holds", type=int, default=1000)
    p.add_argument("--burst-s", type=float, default=2.0, help="the holds are spread evenly over this long")
    p.add_argument("--hold-conns", type=int, default=32, help="keep-alive connections of the hold sender")
    p.add_argument("--client-procs", type=int, default=4)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--redis", action="store_true", help=f"REDIS_URL={LIVE_REDIS_URL} (event bus over Redis)")
    p.add_argument("--no-deflate", action="store_true", help="subscribers do not offer permessage-deflate")
    p.add_argument("--parse-every-message", action="store_true",
                   help="subscribers JSON-parse every message (as before 2026-11-28); by default a message whose "
                        "bytes after the operation id were already parsed by the same client process is not "
                        "parsed again (less harness CPU on the server's machine)")
    p.add_argument("--window-ms", type=int, default=0, help="BOXOFFICE_SEAT_DELTA_WINDOW_MS (0: the default)")
    p.add_argument("--sections", type=int, default=10)
    p.add_argument("--rows", type=int, default=50)
    p.add_argument("--drain-timeout", type=float, default=90.0,
                   help="max seconds after the last hold response to wait for every delivery")
    p.add_argument("--profile", action="store_true", help="py-spy the server during burst and drain")
    p.add_argument("--profile-s", type=int, default=20)
    p.add_argument("--wait-quiet", type=float, default=120.0)
    p.add_argument("--log-level", default="warning")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="keep the database and work dir")
    p.add_argument("--trace-memory", action="store_true",
                   help="diagnostic: run the server under tracemalloc (slow!) and print the allocation sites "
                        "with subscribers idle, mid-burst and after the drain")
    p.add_argument("--micro", action="store_true",
                   help="only the in-process cost model: one subscriber's GraphQL execution of a delta vs "
                        "serialising it once (no server, no database)")
    args = p.parse_args(argv)
    if not (1 <= args.subscribers <= 10_000 and 1 <= args.holds <= 10_000 and 0 < args.burst_s <= 60
            and 1 <= args.client_procs <= 16 and 1 <= args.workers <= 8 and 0 < args.drain_timeout <= 600):
        p.error("subscribers 1..10000, holds 1..10000, burst 0..60 s, client-procs 1..16, workers 1..8, "
                "drain-timeout 0..600 s")
    return args


def choose_holds(rows: list[list[int]], n: int, rng: random.Random) -> tuple[list[list[str]], list[str]]:
    """n holds of 1..4 adjacent seats in distinct 4-seat blocks, plus one sentinel seat elsewhere."""
    blocks = [row[i:i + 4] for row in rows for i in range(0, len(row) - 3, 4)]
    if len(blocks) < n + 1:
        raise SystemExit(f"the show has {len(blocks)} 4-seat blocks; need {n + 1}")
    picked = rng.sample(blocks, n + 1)
    sentinel = [str(picked[0][0])]
    holds = [[str(s) for s in b[:rng.randint(1, 4)]] for b in picked[1:]]
    return holds, sentinel


def _print_trace(snaps: list[dict[str, Any]]) -> None:
    print(table(["tracemalloc snapshot", "traced now MB", "traced peak MB", "RSS MB"],
                [[s["label"], s["current"] / 2**20, s["peak"] / 2**20, (s["rss_kb"] or 0) / 1024] for s in snaps],
                title="Server memory under tracemalloc (diagnostic run: timings are not meaningful)"))
    for s in snaps:
        print(table(["allocation site (top by size)", "MB", "blocks"],
                    [[site[-90:], size / 2**20, n] for site, size, n in s["by_line"][:15]], title=s["label"]))
        print(table(["file", "MB", "blocks"], [[f[-90:], size / 2**20, n] for f, size, n in s["by_file"][:10]]))


def post_hold(port: int, token: str, show_id: str, seats: list[str], key: str) -> dict[str, Any]:
    body = orjson.dumps({"query": HOLD_MUTATION, "variables": {"input": {
        "showId": show_id, "seatIds": seats, "idempotencyKey": key}}})
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return orjson.loads(r.read())  # type: ignore[no-any-return]


def analyse(client_results: list[dict[str, Any]], hold_seats: list[list[str]], hold_results: list[dict[str, Any]],
            burst_start: float) -> dict[str, Any]:
    hold_time: dict[str, float] = {}
    hold_index: dict[str, int] = {}
    for i, (seats, r) in enumerate(zip(hold_seats, hold_results)):
        if r and r["outcome"] == "Hold":
            for s in seats:
                hold_time[s] = r["resp"]
                hold_index[s] = i
    expected = sorted(hold_time)
    pos = {s: k for k, s in enumerate(expected)}
    n_exp = len(expected)
    t_first_resp = min((hold_time[s] for s in expected), default=burst_start)
    hist = LatencyHistogram()
    # latency by the commit time of the change (0.5 s buckets from the first hold response)
    by_bucket: dict[int, LatencyHistogram] = {}
    subs_total = subs_complete = 0
    messages = chars = 0
    missing_examples: list[str] = []
    negative = 0
    per_second: dict[int, int] = {}
    last_complete: list[float] = []  # per subscriber: when it had every change (s after the last response)
    t_last_resp = max((hold_time[s] for s in expected), default=burst_start)
    gaps = LatencyHistogram()  # time between consecutive messages of one subscriber (the hub's cadence)
    last_msg = burst_start
    for cr in client_results:
        # per unique message: [(expected position, hold response time)]
        um = [[(pos[s], hold_time[s]) for s in seats if s in pos] for seats in cr["unique_seats"]]
        for sub in cr["subs"]:
            if sub["error"] and sub["error"].startswith("connect"):
                continue
            subs_total += 1
            seen = bytearray(n_exp)
            got = 0
            done_at = None
            prev = None
            for t, idx in sorted(sub["recv"]):
                if t < burst_start:
                    continue
                if prev is not None:
                    gaps.add(t - prev)
                prev = t
                last_msg = max(last_msg, t)
                messages += 1
                per_second[int(t - burst_start)] = per_second.get(int(t - burst_start), 0) + 1
                for k, h in um[idx]:
                    if not seen[k]:
                        seen[k] = 1
                        got += 1
                        lat = t - h
                        if lat < 0:
                            negative += 1
                        hist.add(lat)
                        b = int((h - t_first_resp) // 0.5)
                        bh = by_bucket.get(b)
                        if bh is None:
                            bh = by_bucket[b] = LatencyHistogram()
                        bh.add(lat)
                if got == n_exp and done_at is None:
                    done_at = t
            chars += sub["chars"]
            if got == n_exp:
                subs_complete += 1
                last_complete.append((done_at or t_last_resp) - t_last_resp)
            elif len(missing_examples) < 3:
                missing_examples.append(f"subscriber got {got}/{n_exp} changes; error={sub['error']}")
    return {"hist": hist, "gaps": gaps, "last_msg": last_msg, "by_bucket": by_bucket, "subs_total": subs_total, "subs_complete": subs_complete,
            "messages": messages, "chars": chars, "expected": n_exp, "missing": missing_examples,
            "negative": negative, "per_second": per_second,
            "complete_after_last_s": sorted(last_complete), "t_first_resp": t_first_resp, "t_last_resp": t_last_resp}


async def micro_costs(sizes: tuple[int, ...] = (1, 10, 100, 250, 1000), events: int = 300) -> list[list[Any]]:
    """Per-subscriber cost of one delta as the server pays it today, beside serialising it once.

    `today`: strawberry's Schema.subscribe (the real schema and resolver) executes the subscription's
    selection set on the delta for ONE subscriber, then the graphql-transport-ws `next` message is JSON
    encoded — both happen once per subscriber per delta. `once`: the same message built as a dict and
    orjson-encoded once, plus splicing the operation id (what remains per subscriber). `ws frame`: what
    uvicorn's websockets-sansio send does per subscriber per message (str -> bytes, framing), with
    permessage-deflate at uvicorn's settings (12-bit window, memLevel 5) and without.
    """
    from types import SimpleNamespace

    from websockets.extensions.permessage_deflate import PerMessageDeflate
    from websockets.frames import Frame, Opcode

    from boxoffice.schema.build import build_schema
    from boxoffice.subscriptions.seat_stream import SeatChange, SeatDelta, SectionCount

    schema = build_schema()
    show_id = "7cc66d87-a529-4ab8-8222-35fb597e8fd9"
    sections = tuple(SectionCount(f"5b0e{i:04d}-0000-4000-8000-000000000000", f"Section {101 + i}", False, 5000,
                                  4900 - i) for i in range(10))
    rows = []
    for k in sizes:
        # distinct deltas (different seats each time), so deflate's shared window does not flatter it
        deltas = [SeatDelta(show_id, 10_000 + e, tuple(SeatChange(str(1_000_000 + 50_000 * (e % 7) + 7 * i + e), "H",
                                                                  9_000 + i) for i in range(k)), sections)
                  for e in range(events)]

        class Deltas:
            def __init__(self) -> None:
                self.left = events

            async def __aenter__(self) -> Deltas:
                return self

            async def __aexit__(self, *exc: object) -> None:
                return None

            def __aiter__(self) -> Deltas:
                return self

            async def __anext__(self) -> SeatDelta:
                if self.left <= 0:
                    raise StopAsyncIteration
                self.left -= 1
                return deltas[self.left]

        async def load(sid: object) -> object:  # a published show, as the loader returns it
            return SimpleNamespace(id=sid, event_status="published", organizer_id=None)

        ctx = SimpleNamespace(services=SimpleNamespace(hub=SimpleNamespace(subscribe=lambda s, v: Deltas())),
                              loaders=SimpleNamespace(shows=SimpleNamespace(load=load)), viewer=None)
        stream = await schema.subscribe(SEAT_CHANGES_SUBSCRIPTION, variable_values={"id": show_id}, context_value=ctx)
        messages = []
        t0 = time.perf_counter()
        async for result in stream:  # type: ignore[union-attr]
            assert not result.errors, result.errors
            messages.append(orjson.dumps({"type": "next", "id": "s1", "payload": {"data": result.data}}))
        today = (time.perf_counter() - t0) / max(1, len(messages))
        status = {"A": "AVAILABLE", "H": "HELD", "S": "SOLD", "B": "BLOCKED"}
        t0 = time.perf_counter()
        for delta in deltas:
            data = {"seatChanges": {"showId": show_id, "version": delta.version,
                                    "seats": [{"seatId": c.seat_id, "status": status[c.status], "version": c.version}
                                              for c in delta.seats],
                                    "sections": [{"sectionId": c.section_id, "name": c.name,
                                                  "generalAdmission": c.general_admission, "capacity": c.capacity,
                                                  "available": c.available} for c in delta.sections]}}
            payload = orjson.dumps({"data": data})
        once = (time.perf_counter() - t0) / events
        t0 = time.perf_counter()
        for i in range(events):
            msg = b'{"type":"next","id":"s' + str(i).encode() + b'","payload":' + payload + b"}"
        splice = (time.perf_counter() - t0) / events
        assert len(msg) >= len(payload)
        # the frame uvicorn's websockets-sansio protocol writes per subscriber: str -> bytes, the
        # permessage-deflate extension (uvicorn's settings), framing; with and without deflate
        deflate_ext = PerMessageDeflate(False, False, 12, 12, {"memLevel": 5})
        out_bytes = 0
        t0 = time.perf_counter()
        for m in messages:
            out_bytes += len(Frame(Opcode.TEXT, m.decode().encode()).serialize(mask=False, extensions=[deflate_ext]))
        deflate = (time.perf_counter() - t0) / len(messages)
        t0 = time.perf_counter()
        for m in messages:
            Frame(Opcode.TEXT, m.decode().encode()).serialize(mask=False, extensions=[])
        plain = (time.perf_counter() - t0) / len(messages)
        last = messages[-1]
        out = b"x" * (out_bytes // len(messages))
        rows.append([k, len(last), len(out), 1e6 * today, 1e6 * today / max(1, k), 1e6 * once, 1e6 * splice,
                     1e6 * deflate, 1e6 * plain])
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.micro:
        install_uvloop()
        # best of 3 rounds per cell: others share this box, and interference only ever adds time
        rounds = [asyncio.run(micro_costs()) for _ in range(3)]
        rows = [[r[0][0], r[0][1], r[0][2], *[min(x[i] for x in r) for i in range(3, 9)]] for r in zip(*rounds)]
        print(table(["seats in delta", "msg bytes", "deflated bytes", "today us/subscriber",
                     "today us/seat/subscriber", "serialise once us", "per-subscriber splice us",
                     "ws frame+deflate us/subscriber", "ws frame us/subscriber"], rows, title="Cost model of one delta (one process, no I/O; best of 3 rounds)"))
        return 0
    nofile = raise_nofile()
    install_uvloop()
    rng = random.Random(args.seed)
    print_environment({"server workers": args.workers, "event bus": "redis" if args.redis else "in-process",
                       "subscribers": args.subscribers, "client processes": args.client_procs,
                       "holds": args.holds, "burst s": args.burst_s,
                       "permessage-deflate": not args.no_deflate, "RLIMIT_NOFILE": nofile,
                       "subscribers parse": "every message" if args.parse_every_message else "each distinct message once per process",
                       "seat delta window ms": args.window_ms or "200 (default)"})
    db = BenchDatabase()
    workdir = tempfile.mkdtemp(prefix="bo_fanout_")
    secret = secrets.token_urlsafe(32)
    env = server_env(db.url, secret, workdir, redis=False)
    if args.redis:
        env["REDIS_URL"] = LIVE_REDIS_URL
        flush_bench_redis(LIVE_REDIS_URL)
    if args.window_ms:
        env["BOXOFFICE_SEAT_DELTA_WINDOW_MS"] = str(args.window_ms)
    server: Server | None = None
    clients: list[Child] = []
    sender: Child | None = None
    rss: RssSampler | None = None
    try:
        asyncio.run(db.create())
        db.migrate(env)
        t0 = time.monotonic()
        venue = asyncio.run(build_stadium(db.url, sections=args.sections, rows=args.rows, shows=1))
        show = venue.shows[0]
        fans = asyncio.run(create_fans(db.url, args.holds + 1, secret))
        hold_seats, sentinel = choose_holds(show.rows, args.holds, rng)
        log(f"show {show.show_id} with {show.seat_count:,} seats and {len(fans)} fans in "
            f"{time.monotonic() - t0:.1f} s; PostgreSQL has {asyncio.run(free_connections())} free slots")
        traced: list[dict[str, Any]] = []
        server = TracedServer(env, args.log_level) if args.trace_memory else Server(env, args.workers, args.log_level)
        server.start()
        srv = server
        rss = RssSampler(srv.pids, interval_s=0.05).start()
        rss_idle = rss.current_sum()
        busy = busy_before(args.wait_quiet)
        free = wait_pg_slots(45, args.wait_quiet)

        # --- subscribers
        expected = [s for seats in hold_seats for s in seats]
        per_proc = [args.subscribers // args.client_procs + (1 if i < args.subscribers % args.client_procs else 0)
                    for i in range(args.client_procs)]
        t_conn = time.monotonic()
        max_s = 300 + args.drain_timeout + args.burst_s
        for i, n in enumerate(per_proc):
            if n:
                clients.append(Child("ws-clients", {
                    "url": f"ws://127.0.0.1:{srv.port}/graphql", "n": n, "show_id": str(show.show_id),
                    "deflate": not args.no_deflate, "sentinel": sentinel, "expected": expected,
                    "parse_every_message": args.parse_every_message,
                    "connect_concurrency": 25, "max_s": max_s}, workdir, f"ws-clients-{i}"))
        connected = failed = 0
        conn_errors: list[str] = []
        for c in clients:
            ev = c.wait_for("connected", 180)
            if ev is None:
                raise RuntimeError(f"{c.name} did not finish connecting:\n{c.err_tail(2000)}")
            connected += ev["connected"]
            failed += ev["failed"]
            conn_errors += ev["errors"]
        connect_s = time.monotonic() - t_conn
        log(f"{connected} sockets subscribed ({failed} failed) in {connect_s:.1f} s")
        time.sleep(1.0)
        rss_subscribed = rss.current_sum()
        if isinstance(srv, TracedServer):
            snap = srv.snapshot("subscribers connected, idle")
            if snap:
                traced.append(snap)

        # --- sentinel: every subscription is live on the server
        t_sent = time.time()
        doc = post_hold(srv.port, fans[-1][1], str(show.show_id), sentinel, "sentinel-" + secrets.token_hex(4))
        if (doc.get("data") or {}).get("holdSeats", {}).get("__typename") != "Hold":
            raise RuntimeError(f"sentinel hold failed: {doc}")
        ready = ended = 0
        for c in clients:
            ev = c.wait_for("ready", 60)
            ready += ev["ready"] if ev else 0
            ended += ev["ended"] if ev else 0
            conn_errors += ev["errors"] if ev else []
        sentinel_s = time.time() - t_sent
        log(f"{ready}/{connected} subscribers saw the sentinel hold within {sentinel_s:.2f} s"
            + (f"; {ended} subscriptions ended by the server" if ended else ""))
        time.sleep(1.0)

        # --- the burst
        hold_spec = {"port": srv.port, "show_id": str(show.show_id), "rate": args.holds / args.burst_s,
                     "conns": args.hold_conns, "timeout_s": 120, "max_s": 300, "query": HOLD_MUTATION,
                     "holds": [{"token": fans[i][1], "seats": seats, "key": f"fanout-{i}-{secrets.token_hex(3)}"}
                               for i, seats in enumerate(hold_seats)]}
        meter = CpuMeter({"server": srv.pids, "ws clients": lambda: [c.pid for c in clients],
                          "hold sender": lambda: [sender.pid] if sender else [],
                          "postgres (this db)": lambda: postgres_pids(db.name)})
        profiler = None
        cpu0 = proc_cpu_s(srv.pids())
        rss.reset_window()
        pg = PgActivitySampler(db.url, db.name, 0.1).start()
        burst_start = time.time()
        meter.start()
        sender = Child("holds", hold_spec, workdir, "holds")
        if args.profile:
            profiler = Profiler(srv.worker_pids(), args.profile_s, workdir)
        if isinstance(srv, TracedServer):
            time.sleep(args.burst_s + 3)
            snap = srv.snapshot(f"{args.burst_s + 3:g} s after burst start")
            if snap:
                traced.append(snap)
        hold_res = sender.finish(args.burst_s + 330)
        hold_results = hold_res["results"]
        ok_resps = [r["resp"] for r in hold_results if r and r["outcome"] == "Hold"]
        if len(ok_resps) < len(hold_results):  # subscribers wait only for the seats actually held
            held = [s for seats, r in zip(hold_seats, hold_results) if r and r["outcome"] == "Hold" for s in seats]
            for c in clients:
                c.send("expect " + orjson.dumps(held).decode())
        t_last = max(ok_resps) if ok_resps else time.time()
        log(f"{len(ok_resps)}/{args.holds} holds ok; waiting up to {args.drain_timeout:.0f} s for deliveries")
        complete_at = None
        deadline = t_last + args.drain_timeout
        for c in clients:
            ev = c.wait_for("complete", max(0.0, deadline - time.time()))
            if ev is None:
                complete_at = None
                break
            complete_at = max(complete_at or 0.0, ev["t"])
        end = time.time()
        pg.stop()
        cpu_stats = meter.stop()
        cpu1 = proc_cpu_s(srv.pids())
        server_cpu_s = cpu_delta(cpu0, cpu1)
        rss_peak_window = rss.window_peak_sum
        rss_after = rss.current_sum()
        if isinstance(srv, TracedServer):
            snap = srv.snapshot("after the drain")
            if snap:
                traced.append(snap)
        profile = None
        if profiler is not None:
            files = profiler.finish(timeout_s=args.profile_s + 30)
            profile = summarise_profile(files) if files else {"error": profiler.error}
        progress = [c.last("progress") or {} for c in clients]
        for c in clients:
            c.send("stop")
        client_results = [c.finish(120) for c in clients]
        log("analysing")
        a = analyse(client_results, hold_seats, hold_results, burst_start)
        rss_peaks = dict(rss.peak)
        rss.stop()
        server.stop()
        errors = server.error_summary()
        server = None

        # ------------------------------------------------------------ report
        hold_lat = sorted(r["resp"] - r["sent"] for r in hold_results if r and r["outcome"] == "Hold")
        late = sorted(max(0.0, r["sent"] - r["scheduled"]) for r in hold_results if r)
        outcomes: dict[str, int] = {}
        for r in hold_results:
            k = r["outcome"] if r else "not run"
            outcomes[k] = outcomes.get(k, 0) + 1
        h = a["hist"].summary()
        span = end - burst_start
        frac = a["subs_complete"] / max(1, args.subscribers)
        client_cpu = sum(r["cpu_s"] for r in client_results)
        per_msg_ms = 1000 * server_cpu_s / max(1, a["messages"])
        print(table(["what", "value"], [
            ["subscribers requested / connected / failed", f"{args.subscribers} / {connected} / {failed}"],
            ["connect + subscribe time", f"{connect_s:.1f} s"],
            ["saw the sentinel hold", f"{ready} in {sentinel_s:.2f} s"],
            ["holds ok / sent (seconds spread)", f"{len(ok_resps)} / {args.holds} ({args.burst_s:g} s)"],
            ["hold outcomes", ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))],
            ["hold response p50 / p99 / max (ms)",
             f"{_pct(hold_lat, 50):.0f} / {_pct(hold_lat, 99):.0f} / {_pct(hold_lat, 100):.0f}"],
            ["hold sent behind schedule p50 / p99 / max (ms)",
             f"{_pct(late, 50):.0f} / {_pct(late, 99):.0f} / {_pct(late, 100):.0f} (all {args.hold_conns} "
             "connections busy)"],
            ["hold responses spread over", f"{a['t_last_resp'] - a['t_first_resp']:.1f} s "
                                           f"(scheduled over {args.burst_s:g} s)"],
            ["seat changes per subscriber", a["expected"]],
            ["subscribers with EVERY change", f"{a['subs_complete']} ({100 * frac:.2f}%)"],
            ["messages delivered (burst)", a["messages"]],
            ["messages per subscriber", f"{a['messages'] / max(1, a['subs_total']):.1f}"],
            ["payload delivered (decompressed)", f"{a['chars'] / 1e6:.1f} MB"],
            ["(subscriber, change) pairs", h["n"]],
            ["last subscriber complete after last hold", _s(a["complete_after_last_s"][-1:])],
            ["subscriptions ended by the server", ended],
            ["gap between a subscriber's messages p50 / p90 / max",
             f"{a['gaps'].percentile_ms(50):.0f} / {a['gaps'].percentile_ms(90):.0f} / "
             f"{a['gaps'].summary()['max']:.0f} ms (window {args.window_ms or 200} ms)"],
            ["burst start -> last message delivered", f"{a['last_msg'] - burst_start:.1f} s"],
        ], title="Fan-out: burst"))
        print(table(["delivery latency (ms)", "p50", "p95", "p99", "max", "min", "mean"],
                    [["receive - hold response", h["p50"], h["p95"], h["p99"], h["max"], h["min"], h["mean"]]],
                    title="Delivery latency per (subscriber, seat change)"))
        rows = []
        for b in sorted(a["by_bucket"]):
            s = a["by_bucket"][b].summary()
            rows.append([f"{b * 0.5:.1f}-{b * 0.5 + 0.5:.1f} s", s["n"], s["p50"], s["p99"], s["max"]])
        print(table(["hold committed at (after first)", "pairs", "p50 ms", "p99 ms", "max ms"], rows,
                    title="Latency by commit time"))
        print(table(["second after burst start", "messages delivered"],
                    [[f"{k}", v] for k, v in sorted(a["per_second"].items())], title="Delivery rate"))
        print(table(["what", "value"], [
            ["server CPU, burst start -> all delivered", f"{server_cpu_s:.2f} s over {span:.1f} s "
                                                         f"({100 * server_cpu_s / span:.0f}% of one core)"],
            ["server CPU per delivered message", f"{per_msg_ms:.3f} ms"],
            ["server CPU per (subscriber, change)", f"{1e6 * server_cpu_s / max(1, h['n']):.1f} us"],
            ["server RSS idle (no subscribers)", f"{rss_idle / 1024:.0f} MB"],
            ["server RSS with subscribers, before burst", f"{rss_subscribed / 1024:.0f} MB"],
            ["server RSS peak during burst (sum of processes)", f"{rss_peak_window / 1024:.0f} MB"],
            ["server RSS peak per process", ", ".join(f"{pid}: {kb / 1024:.0f} MB" for pid, kb in
                                                      sorted(rss_peaks.items()))],
            ["server RSS after drain", f"{rss_after / 1024:.0f} MB"],
            ["ws client processes CPU (whole run)", f"{client_cpu:.1f} s"],
            ["machine busy before (outside load)", f"{busy:.0f}%"],
            ["PostgreSQL free connection slots before", free],
            ["CPU % of one core during burst+drain", ", ".join(f"{k} {v:.0f}" for k, v in cpu_stats.items())],
        ], title="Server cost"))
        ps = pg.summary()
        if ps:
            print(table(["PostgreSQL, this database (100 ms samples)", "mean", "max"], [
                ["backends waiting on the show's advisory lock", ps["adv_wait_mean"], ps["adv_wait_max"]],
                ["backends waiting on other locks (rows)", ps["row_wait_mean"], ps["row_wait_max"]],
                ["backends idle in transaction", ps["idle_tx_mean"], ps["idle_tx_max"]],
                ["longest idle-in-transaction (s)", ps["longest_idle_tx_mean"], ps["longest_idle_tx_max"]],
                ["longest lock wait (s)", ps["longest_lock_wait_mean"], ps["longest_lock_wait_max"]],
                ["active backends", ps["active_mean"], ps["active_max"]],
                ["share of samples with an advisory-lock waiter", f"{100 * ps['share_with_adv_wait']:.0f}%", ""],
            ], title="Lock waits during burst and drain"))
            if pg.culprits:
                print(table(["idle in transaction >= 1 s: last statement", "longest idle s", "lock waiters then",
                             "a waiter's statement"],
                            [[q[:90], s_, w, wq[:60]] for s_, q, w, wq in sorted(pg.culprits.values(), reverse=True)[:5]],
                            title="Who held a transaction open while the event loop was busy"))
        target_ok = frac == 1.0 and h["p99"] <= 1000 and rss_peak_window / 1024 < 400
        print(table(["target", "measured", "met"], [
            ["every subscriber has every change", f"{100 * frac:.2f}%", "yes" if frac == 1.0 else "NO"],
            ["p99 delivery <= 1,000 ms", f"{h['p99']:.0f} ms", "yes" if h["p99"] <= 1000 else "NO"],
            ["server RSS < 400 MB", f"{rss_peak_window / 1024:.0f} MB",
             "yes" if rss_peak_window / 1024 < 400 else "NO"],
        ], title="Targets"))
        if a["missing"]:
            print("\nincomplete subscribers (examples): " + "; ".join(a["missing"]))
        if conn_errors:
            print("\nconnect errors (examples): " + "; ".join(conn_errors[:3]))
        if complete_at is None:
            print(f"\nNOTE: not every subscriber completed within --drain-timeout {args.drain_timeout:.0f} s; "
                  f"client progress at the end: {progress}")
        if a["negative"]:
            print(f"\nNOTE: {a['negative']} pairs arrived before the hold's HTTP response (negative latency)")
        if profile:
            _print_profile(profile)
        if traced:
            _print_trace(traced)
        if errors:
            print("\nserver log, distinct error lines:")
            for e in errors:
                print(f"  {e}")
        print(f"\nRESULT targets {'MET' if target_ok else 'NOT MET'}")
    finally:
        for c in clients:
            c.kill()
        if sender is not None:
            sender.kill()
        if rss is not None:
            rss.stop()
        if server is not None:
            server.stop()
        dispose_scratch(db, workdir, args.keep)
    return 0


def _pct(values: list[float], p: float) -> float:
    """The p-th percentile of sorted seconds, in ms."""
    return percentile(values, p) * 1000


def _s(values: list[float]) -> str:
    return f"{values[0]:.2f} s" if values else "-"


def _print_profile(profile: dict[str, Any]) -> None:
    if "error" in profile:
        print(f"\nprofile: {profile['error']}")
        return
    print(table(["package (innermost known frame)", "% samples"], profile["buckets"], title="Server profile"))
    print(table(["function (inclusive)", "%"], profile["inclusive"][:30], title="Server profile, inclusive"))
    print(table(["function (self)", "%"], profile["self"], title="Server profile, self"))


if __name__ == "__main__":
    sys.exit(main())
