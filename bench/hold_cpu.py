"""Server CPU per holdSeats request through the real HTTP server, fast path against strawberry.

    .venv/bin/python bench/hold_cpu.py [--requests 3000] [--concurrency 32] [--workers 1] [--redis]
                                       [--rounds 2] [--profile] [--keep]

flash_sale.py measures throughput and latency under a flash sale's load, which swing with whatever
else runs on this shared box. This measures CPU: the server's and PostgreSQL's CPU seconds
(psutil, per process group) divided by the requests answered, at a fixed number of requests in
flight. CPU per request moves far less with outside load than requests per second do.

Every variant sends the same kind of holds: 1..4 adjacent fresh seats, fans in rotation (so neither
the per-user rate limit nor seat contention plays a part), the flash-sale document
(bench/_common.py HOLD_MUTATION):
  fast     through the holdSeats fast path (resolvers/hold_fast_path.py)
  graphql  the same document, but a document the fast path declines (`@skip(if: false)` on one
           field), so strawberry executes it: the same work and answer, through the schema
  unavail  fast path, seats already held: SeatsUnavailable answers
Variants alternate for --rounds rounds, so outside load falls on all of them alike.
--profile runs py-spy on the worker during each variant and prints where its samples went.
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
import uuid
from typing import Any

import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import HOLD_MUTATION, install_uvloop, latency_summary, log, table  # noqa: E402
from _db import BenchDatabase, dispose_scratch  # noqa: E402
from _http import HttpConn  # noqa: E402
from _meter import machine_busy, postgres_pids  # noqa: E402
from _profile import Profiler, frame_name  # noqa: E402
from _server import Server, print_environment, server_env  # noqa: E402
from _stadium import build_stadium, create_fans, fresh_groups  # noqa: E402

DOCUMENTS = {"fast": HOLD_MUTATION, "graphql": HOLD_MUTATION.replace("__typename", "__typename @skip(if: false)", 1),
             "unavail": HOLD_MUTATION}

# Where a sample went: the first of these found anywhere on its stack, in this order.
PHASES = [
    ("TokenIssuer.verify", "JWT verify"),
    ("RateLimiter.check", "rate limit"),
    ("SeatFeed.publish", "publish seat changes (Redis)"),
    ("ShowCache.get", "show cache"),
    ("AsyncEngine.connect", "domain: SQLAlchemy pool checkout"),
    ("AsyncConnection.__aexit__", "domain: SQLAlchemy pool return"),
    ("Connection.fetchrow (asyncpg", "domain: asyncpg fetchrow"),
    ("hold_seats (boxoffice/booking/holds.py", "domain: hold_seats, the rest"),
    ("MetricsExtension", "metrics extension"),
    ("MaskErrors", "MaskErrors"),
    ("get_context", "context"),
    ("parse_http_body", "strawberry body parsing"),
    ("encode_json", "JSON encoding"),
    ("Schema.execute", "strawberry/graphql-core execution"),
    ("AsyncBaseHTTPView.run", "strawberry HTTP view"),
    ("hold_documents", "fast path: compiling documents"),
    ("_compiled (boxoffice/resolvers/hold_fast_path", "fast path: read, parse, map, encode, send"),
    ("_answer (boxoffice/resolvers/hold_fast_path", "fast path: read, parse, map, encode, send"),
    ("_send_json (boxoffice/resolvers/hold_fast_path", "fast path: read, parse, map, encode, send"),
    ("read_body (boxoffice/http_body", "reading the body (middleware)"),
    ("QueryCacheMiddleware", "query-cache middleware"),
    ("BodyLimit", "body-limit middleware"),
    ("ShedLoad", "shed-load middleware"),
    ("starlette", "starlette"),
    ("run_asgi", "uvicorn ASGI cycle"),
    ("uvicorn", "uvicorn HTTP"),
]


def phase_counts(files: list[str], counts: dict[str, int]) -> None:
    """Adds the samples of py-spy raw files to `counts`, by phase."""
    for path in files:
        with open(path) as f:
            for line in f:
                stack, _, n = line.rstrip("\n").rpartition(" ")
                if not n.isdigit():
                    continue
                frames = [frame_name(fr) for fr in stack.split(";")]
                name = next((label for needle, label in PHASES if any(needle in fr for fr in frames)),
                            "other (event loop, protocol callbacks, background jobs)")
                counts[name] = counts.get(name, 0) + int(n)


def batch_totals(port: int) -> tuple[float, float]:
    """(holds, statements) so far in the server's group commit (one worker: its /metrics)."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line.startswith("boxoffice_hold_batch_size_")}
    return values.get("boxoffice_hold_batch_size_sum", 0.0), values.get("boxoffice_hold_batch_size_count", 0.0)


def cpu_seconds(pids: list[int]) -> float:
    import psutil
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


async def drive(port: int, tokens: list[str], show_id: str, document: str, groups: list[list[int]],
                concurrency: int) -> dict[str, Any]:
    """`concurrency` workers, each with its own keep-alive connections (fans in rotation)."""
    conns = [HttpConn("127.0.0.1", port, t) for t in tokens]
    queue = list(groups)
    outcomes: dict[str, int] = {}
    latencies: list[float] = []

    async def worker(mine: list[HttpConn]) -> None:
        for i in range(len(groups)):
            if not queue:
                return
            seats = queue.pop()
            conn = mine[i % len(mine)]
            body = orjson.dumps({"query": document, "variables": {"input": {
                "showId": show_id, "seatIds": [str(s) for s in seats], "idempotencyKey": uuid.uuid4().hex}}})
            t0 = time.perf_counter()
            try:
                status, resp = await conn.post(body, 30)
            except ConnectionError:  # the server closed an idle keep-alive connection as we sent
                status, resp = await conn.post(body, 30)
            latencies.append(time.perf_counter() - t0)
            result = orjson.loads(resp)["data"]["holdSeats"] if status == 200 else {}
            key = result.get("code") or result.get("__typename") or f"http_{status}"
            outcomes[key] = outcomes.get(key, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(conns[i::concurrency]) for i in range(min(concurrency, len(conns)))))
    elapsed = time.perf_counter() - t0
    for c in conns:
        if c.proto is not None and c.proto.transport is not None:
            c.proto.transport.close()
    return {"outcomes": outcomes, "elapsed": elapsed, "latency": latency_summary(latencies), "n": len(latencies)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=3000, help="per variant and round")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--fans", type=int, default=1000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--redis", action="store_true")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--variants", default="graphql,fast,unavail")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--hold-batch", type=int, default=None,
                   help="the server's BOXOFFICE_HOLD_BATCH (holds per group-commit statement; 0: one each)")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    variants = args.variants.split(",")
    if (not 1 <= args.requests <= 20_000 or not 1 <= args.concurrency <= 512 or not 1 <= args.workers <= 8
            or not 1 <= args.rounds <= 5 or not set(variants) <= set(DOCUMENTS)):
        p.error(f"requests 1..20000, concurrency 1..512, workers 1..8, rounds 1..5, variants of {sorted(DOCUMENTS)}")
    fresh_needed = args.requests * args.rounds * sum(v != "unavail" for v in variants) + 400
    if fresh_needed > 20_000:
        p.error("not that many fresh seat groups in the 50,000-seat show: fewer requests or rounds")
    install_uvloop()
    print_environment({"server workers": args.workers, "REDIS_URL": args.redis, "in flight": args.concurrency,
                       "hold batch": "server default" if args.hold_batch is None else args.hold_batch})
    db = BenchDatabase()
    workdir = tempfile.mkdtemp(prefix="bo_bench_")
    secret = secrets.token_urlsafe(32)
    env = server_env(db.url, secret, workdir, args.redis)
    if args.hold_batch is not None:
        env["BOXOFFICE_HOLD_BATCH"] = str(args.hold_batch)
    server: Server | None = None
    rows: dict[str, list[tuple[float, float, float, float, dict[str, Any], dict[str, int], float]]] = {
        v: [] for v in variants}
    profiles: dict[str, dict[str, int]] = {v: {} for v in variants}
    try:
        asyncio.run(db.create())
        db.migrate(env)
        show = asyncio.run(build_stadium(db.url, shows=1)).shows[0]
        tokens = [t for _, t in asyncio.run(create_fans(db.url, args.fans, secret))]
        fresh = fresh_groups(show, random.Random(1))
        server = Server(env, args.workers)
        server.start()
        for document in (DOCUMENTS["fast"], DOCUMENTS["graphql"]):  # warm both paths, and the token cache
            asyncio.run(drive(server.port, tokens, str(show.show_id), document, fresh[:200], 8))
            used, fresh = fresh[:200], fresh[200:]
        for round_no in range(args.rounds):
            for name in variants:
                if name == "unavail":
                    batch = [used[i % len(used)] for i in range(args.requests)]
                else:
                    batch, fresh = fresh[:args.requests], fresh[args.requests:]
                    used = used + batch
                busy = machine_busy(0.5)
                before = cpu_seconds(server.pids()), cpu_seconds(postgres_pids(db.name))
                batched = batch_totals(server.port)
                profiler = Profiler(server.worker_pids(), 4, workdir) if args.profile else None
                log(f"round {round_no + 1}, {name}: {len(batch)} requests")
                r = asyncio.run(drive(server.port, tokens, str(show.show_id), DOCUMENTS[name], batch,
                                      args.concurrency))
                server_s = cpu_seconds(server.pids()) - before[0]
                pg_s = cpu_seconds(postgres_pids(db.name)) - before[1]
                after = batch_totals(server.port)
                holds_n, statements = after[0] - batched[0], after[1] - batched[1]
                if profiler is not None:
                    phase_counts(profiler.finish(), profiles[name])
                rows[name].append((r["n"] / r["elapsed"], 1000 * server_s / r["n"], 1000 * pg_s / r["n"], busy,
                                   r["latency"], r["outcomes"], holds_n / statements if statements else 0.0))
    finally:
        if server is not None:
            server.stop()
        dispose_scratch(db, workdir, args.keep)
    out = []
    for name, runs in rows.items():
        for i, (rate, server_ms, pg_ms, busy, lat, outcomes, per_batch) in enumerate(runs):
            out.append((name, i + 1, rate, server_ms, pg_ms, f"{lat['p50']:.1f} / {lat['p99']:.1f}",
                        " ".join(f"{k}={v}" for k, v in sorted(outcomes.items())),
                        f"{per_batch:.1f}" if per_batch else "-", f"{busy:.0f}%"))
    print(table(["document", "round", "req/s", "server CPU ms/req", "PG CPU ms/req", "p50 / p99 ms", "answers",
                 "holds per statement", "busy before"], out,
                title=f"holdSeats over HTTP, {args.concurrency} in flight, {args.workers} worker(s), "
                      f"{args.requests} requests per row"))
    for name, counts in profiles.items():
        total = sum(counts.values())
        if total:
            print(table(["phase (first match on the stack)", "% of samples"],
                        [(k, f"{100 * v / total:.1f}") for k, v in sorted(counts.items(), key=lambda kv: -kv[1])],
                        title=f"Where the worker's samples went: {name} ({total:,} samples)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
