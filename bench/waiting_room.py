"""Waiting room: enqueue and position-read throughput of the app's layer beside raw Redis, and the
promoter's admission-rate accuracy.

    .venv/bin/python bench/waiting_room.py [--fans 100000] [--concurrency 100] [--graphql-fans 2000]
                                           [--graphql-conns 50] [--admit-per-minute 6000] [--promoters 3]
                                           [--promote-s 20] [--no-failover] [--phases ...] [--keep]

Phases (all on Redis 127.0.0.1:6379 db 15, keys under a per-run namespace deleted at the end):
  raw_zadd / raw_zrank   redis-benchmark, C client, -c 50, unpipelined: ZADD / ZRANK on one sorted set
  py_zadd / py_zrank     the same commands through redis-py asyncio (the app's client), --concurrency tasks
  app_enter              WaitingRoom.enter (RedisQueueStore's Lua script) for --fans fans, --concurrency tasks
  app_position           WaitingRoom.get_ticket (the position poll) once per fan; checks positions are 1..N
  pool_limit             one burst of 50 / 100 / 150 / 300 simultaneous WaitingRoom.enter on one
                         make_redis_client (the server's client: redis-py's pool caps at 100 connections)
  graphql                enterWaitingRoom + waitingRoomTicket through `boxoffice serve` (1 worker), --graphql-fans
  admission              --promoters Promoter processes (RedisPromoterLease) for --promote-s s at
                         --admit-per-minute; the leader is stopped half-way (failover) unless --no-failover;
                         admitted count sampled every 100 ms; order checked against the queue
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import install_uvloop, latency_summary, log, raise_nofile, table  # noqa: E402
from _db import BenchDatabase, dispose_scratch  # noqa: E402
from _http import HttpConn  # noqa: E402
from _meter import busy_before, cpu_delta, proc_cpu_s  # noqa: E402
from _procs import Child  # noqa: E402
from _profile import Profiler, summarise_profile  # noqa: E402
from _server import Server, print_environment, server_env  # noqa: E402
from _stadium import build_stadium, create_fans, enable_waiting_room  # noqa: E402

REDIS_DB = 15  # the tests FLUSHDB dbs 0, 1, 2, 3..13 (random) and 14: stay clear of them
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
SECRET = "bench-waiting-room-secret"
ENTER_MUTATION = ("mutation Enter($id: ID!) { enterWaitingRoom(showId: $id) { __typename "
                  "... on WaitingRoomTicket { id status position estimatedWaitSeconds } "
                  "... on Rejected { code message } } }")
TICKET_QUERY = "query Ticket($id: ID!) { waitingRoomTicket(id: $id) { id status position estimatedWaitSeconds } }"
ALL_PHASES = "raw_zadd,py_zadd,app_enter,raw_zrank,py_zrank,app_position,pool_limit,graphql,admission"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fans", type=int, default=100_000)
    p.add_argument("--concurrency", type=int, default=100, help="asyncio tasks for the app and redis-py phases")
    p.add_argument("--bench-clients", type=int, default=50, help="redis-benchmark -c")
    p.add_argument("--graphql-fans", type=int, default=2000)
    p.add_argument("--graphql-conns", type=int, default=50)
    p.add_argument("--admit-per-minute", type=int, default=6000)
    p.add_argument("--promoters", type=int, default=3)
    p.add_argument("--promote-s", type=float, default=20.0)
    p.add_argument("--promoter-interval", type=float, default=1.0, help="Promoter interval_s (the app's: 1.0)")
    p.add_argument("--no-failover", action="store_true", help="do not stop the leader half-way")
    p.add_argument("--phases", default=ALL_PHASES)
    p.add_argument("--wait-quiet", type=float, default=120.0)
    p.add_argument("--profile", type=int, default=0, metavar="SECONDS",
                   help="py-spy this process for SECONDS at the start of app_enter and of app_position")
    p.add_argument("--keep", action="store_true", help="keep the Redis keys, the database and the work dir")
    args = p.parse_args(argv)
    if not (1 <= args.fans <= 1_000_000 and 1 <= args.concurrency <= 1000 and 1 <= args.promoters <= 8
            and 2 <= args.promote_s <= 300 and 0 <= args.graphql_fans <= 50_000 and 1 <= args.bench_clients <= 1000
            and 1 <= args.admit_per_minute <= 100_000):
        p.error("fans 1..1e6, concurrency 1..1000, promoters 1..8, promote-s 2..300, graphql-fans 0..50000")
    return args


# ---------------------------------------------------------------- Redis-side accounting

def redis_info() -> dict[str, Any]:
    import redis
    r = redis.Redis.from_url(REDIS_URL)
    try:
        cpu = r.info("cpu")
        stats = r.info("commandstats")
    finally:
        r.close()
    return {"cpu": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), "cmd": stats}


def redis_delta(before: dict[str, Any], after: dict[str, Any], elapsed: float) -> dict[str, Any]:
    cmds: dict[str, tuple[int, float]] = {}
    for k, v in after["cmd"].items():
        b = before["cmd"].get(k, {"calls": 0, "usec": 0})
        calls = int(v["calls"]) - int(b["calls"])
        if calls > 0:
            cmds[k.removeprefix("cmdstat_")] = (calls, (int(v["usec"]) - int(b["usec"])) / calls)
    return {"cpu_pct": 100 * (after["cpu"] - before["cpu"]) / max(1e-9, elapsed), "cmds": cmds}


def cleanup(patterns: list[str], keys: list[str] = ()) -> int:  # type: ignore[assignment]
    import redis
    r = redis.Redis.from_url(REDIS_URL)
    n = 0
    try:
        for pattern in patterns:
            batch: list[bytes] = []
            for key in r.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    n += r.unlink(*batch)
                    batch = []
            if batch:
                n += r.unlink(*batch)
        for i in range(0, len(keys), 1000):
            if keys[i:i + 1000]:
                n += r.unlink(*keys[i:i + 1000])
    finally:
        r.close()
    return n


# ---------------------------------------------------------------- raw Redis: redis-benchmark

def redis_benchmark(n: int, clients: int, command: list[str]) -> dict[str, Any]:
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", "6379", "--dbnum", str(REDIS_DB), "-n", str(n),
           "-c", str(clients), "-r", str(n), "--csv", *command]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    info0 = redis_info()
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - t0
    info1 = redis_info()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed: {out.stderr}")
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith('"') and not ln.startswith('"test"')]
    vals = [x.strip('"') for x in lines[-1].split('","')]
    rps, p50, p99 = float(vals[1]), float(vals[4]), float(vals[6])
    client_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    return {"ops": n, "rate": rps, "p50": p50, "p99": p99, "elapsed": elapsed, "redis": redis_delta(info0, info1, elapsed),
            "client_cpu_pct": 100 * client_cpu / elapsed, "command": " ".join(cmd[:-len(command)] + [
                _quote(c) for c in command]), "errors": 0}


def _quote(s: str) -> str:
    return s if all(ch.isalnum() or ch in ":_{}-" for ch in s) else f"'{s}'"


# ---------------------------------------------------------------- async phases in this process

async def run_tasks(n: int, concurrency: int, op: Any, timeout_s: float) -> dict[str, Any]:
    """op(i) for i in range(n) on `concurrency` tasks; latencies and errors recorded."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    it = iter(range(n))
    deadline = time.monotonic() + timeout_s

    async def worker() -> None:
        for i in it:
            if time.monotonic() > deadline:
                return
            t0 = time.perf_counter()
            try:
                await op(i)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                key = f"{type(exc).__name__}: {str(exc)[:120]}"
                errors[key] = errors.get(key, 0) + 1
                continue
            latencies.append(time.perf_counter() - t0)

    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    info0 = redis_info()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    info1 = redis_info()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    lat = latency_summary(latencies)
    return {"ops": len(latencies), "rate": len(latencies) / elapsed, "p50": lat["p50"], "p99": lat["p99"],
            "elapsed": elapsed, "redis": redis_delta(info0, info1, elapsed), "client_cpu_pct": 100 * cpu / elapsed,
            "errors": sum(errors.values()), "error_kinds": errors}


async def py_phase(kind: str, key: str, n: int, concurrency: int) -> dict[str, Any]:
    from boxoffice.booking.waiting_room.redis_queue_store import make_redis_client
    redis = make_redis_client(REDIS_URL)
    try:
        if kind == "zadd":
            async def op(i: int) -> None:
                await redis.zadd(key, {f"member:{i}": i})
        else:
            async def op(i: int) -> None:
                await redis.zrank(key, f"member:{(i * 7919) % n}")
        return await run_tasks(n, concurrency, op, 600)
    finally:
        await redis.aclose()


def make_room(redis: Any, namespace: str) -> Any:
    from boxoffice.booking.waiting_room.redis_queue_store import RedisQueueStore
    from boxoffice.booking.waiting_room.room import WaitingRoom
    return WaitingRoom(RedisQueueStore(redis, namespace=namespace), secret=SECRET,
                       clock=lambda: datetime.now(timezone.utc))


def _profiled(seconds: int, workdir: str) -> Profiler | None:
    if not seconds:
        return None
    return Profiler([os.getpid()], seconds, workdir)


def _profile_summary(prof: Profiler | None) -> dict[str, Any] | None:
    if prof is None:
        return None
    files = prof.finish()
    return summarise_profile(files) if files else {"error": prof.error}


async def app_phases(namespace: str, show_id: str, n: int, concurrency: int, phases: list[str],
                     profile_s: int = 0, workdir: str = "") -> dict[str, Any]:
    from boxoffice.booking.waiting_room.redis_queue_store import make_redis_client
    redis = make_redis_client(REDIS_URL)
    room = make_room(redis, namespace)
    users = [str(uuid.uuid4()) for _ in range(n)]
    tickets: list[str | None] = [None] * n
    positions: list[int | None] = [None] * n
    out: dict[str, Any] = {}
    try:
        if "app_enter" in phases:
            async def enter(i: int) -> None:
                t = await room.enter(show_id, users[i])
                tickets[i] = t.ticket_id
                positions[i] = t.position
            log(f"app_enter: {n:,} fans, {concurrency} tasks")
            prof = _profiled(profile_s, workdir)
            out["app_enter"] = await run_tasks(n, concurrency, enter, 900)
            out["app_enter"]["profile"] = _profile_summary(prof)
            got = sorted(p for p in positions if p is not None)
            out["app_enter"]["check"] = (f"positions at entry 1..{n}: "
                                         f"{'yes' if got == list(range(1, n + 1)) else 'NO'}")
        if "app_position" in phases and any(tickets):
            polled: list[int | None] = [None] * n

            async def poll(i: int) -> None:
                tid = tickets[i]
                if tid is None:
                    return
                t = await room.get_ticket(tid)
                polled[i] = None if t is None else t.position
            log(f"app_position: {n:,} polls, {concurrency} tasks")
            prof = _profiled(profile_s, workdir)
            out["app_position"] = await run_tasks(n, concurrency, poll, 900)
            out["app_position"]["profile"] = _profile_summary(prof)
            same = sum(1 for a, b in zip(positions, polled) if a is not None and a == b)
            out["app_position"]["check"] = f"poll == position at entry: {same:,}/{n:,}"
    finally:
        await redis.aclose()
    return out


async def pool_limit_phase(namespace: str, bursts: tuple[int, ...] = (50, 100, 150, 300)) -> list[list[Any]]:
    """What one server process's waiting-room client does with more simultaneous calls than its pool."""
    from boxoffice.booking.waiting_room.redis_queue_store import make_redis_client
    rows = []
    for n in bursts:
        redis = make_redis_client(REDIS_URL)
        room = make_room(redis, namespace)
        show = str(uuid.uuid4())

        async def one() -> str:
            try:
                await room.enter(show, str(uuid.uuid4()))
                return "ok"
            except Exception as exc:  # noqa: BLE001 - tallied
                cause = exc.__cause__ or exc
                return f"{type(exc).__name__} ({type(cause).__name__})"
        try:
            outcomes: dict[str, int] = {}
            for r in await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), 60):
                outcomes[r] = outcomes.get(r, 0) + 1
            after = [await one() for _ in range(3)]
            rows.append([n, outcomes.get("ok", 0), ", ".join(f"{k}: {v}" for k, v in outcomes.items() if k != "ok")
                         or "-", "ok" if all(a == "ok" for a in after) else ", ".join(after)])
        finally:
            await redis.aclose()
    return rows


# ---------------------------------------------------------------- GraphQL through the server

async def graphql_phase(port: int, show_id: str, tokens: list[str], conns: int) -> dict[str, Any]:
    pool: asyncio.Queue[HttpConn] = asyncio.Queue()
    for _ in range(conns):
        pool.put_nowait(HttpConn("127.0.0.1", port))
    ticket_ids: list[str | None] = [None] * len(tokens)
    outcomes: dict[str, int] = {}

    async def call(query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
        conn = await pool.get()
        try:
            status, doc = await conn.post_graphql(query, variables, token, 30)
        finally:
            pool.put_nowait(conn)
        if status != 200 or doc.get("errors"):
            raise RuntimeError(f"HTTP {status}: {str(doc.get('errors'))[:150]}")
        return doc["data"]  # type: ignore[no-any-return]

    async def enter(i: int) -> None:
        data = (await call(ENTER_MUTATION, {"id": show_id}, tokens[i]))["enterWaitingRoom"]
        kind = data["__typename"] if data["__typename"] != "Rejected" else f"Rejected {data['code']}"
        outcomes[kind] = outcomes.get(kind, 0) + 1
        if data["__typename"] != "WaitingRoomTicket":
            raise RuntimeError(f"{kind}: {data.get('message')}")
        ticket_ids[i] = data["id"]

    async def poll(i: int) -> None:
        tid = ticket_ids[i]
        if tid is None:
            raise RuntimeError("no ticket")
        data = (await call(TICKET_QUERY, {"id": tid}, tokens[i]))["waitingRoomTicket"]
        if data is None:
            raise RuntimeError("ticket not found")

    res: dict[str, Any] = {"gql_enter": await run_tasks(len(tokens), conns, enter, 600)}
    res["gql_enter"]["outcomes"] = outcomes
    res["gql_position"] = await run_tasks(len(tokens), conns, poll, 600)
    for pc in list(pool._queue):  # type: ignore[attr-defined]
        pc.close()
    res["tickets"] = [t for t in ticket_ids if t]
    return res


# ---------------------------------------------------------------- admission accuracy

async def fill_queue(namespace: str, show_id: str, n: int) -> list[str]:
    """n fans in the queue; returns the ticket ids in queue order (ZRANGE of the queue)."""
    from boxoffice.booking.waiting_room.redis_queue_store import make_redis_client
    redis = make_redis_client(REDIS_URL)
    room = make_room(redis, namespace)
    try:
        await run_tasks(n, 50, lambda i: room.enter(show_id, str(uuid.uuid4())), 300)
        order = await redis.zrange(f"{namespace}:{{{show_id}}}:queue", 0, -1)
        return [o.decode() if isinstance(o, bytes) else str(o) for o in order]
    finally:
        await redis.aclose()


async def sample_admitted(namespace: str, show_id: str, total: int, duration_s: float, stop_at: list[float],
                          on_tick: Any) -> list[tuple[float, int]]:
    from boxoffice.booking.waiting_room.redis_queue_store import make_redis_client
    redis = make_redis_client(REDIS_URL)
    key = f"{namespace}:{{{show_id}}}:queue"
    samples: list[tuple[float, int]] = []
    t_end = time.time() + duration_s
    try:
        for _ in range(int(duration_s * 10) + 50):
            now = time.time()
            if now >= t_end:
                break
            left = int(await redis.zcard(key))
            samples.append((now, total - left))
            on_tick(now)
            await asyncio.sleep(max(0.0, 0.1 - (time.time() - now)))
    finally:
        await redis.aclose()
    return samples


def admission_phase(args: argparse.Namespace, namespace: str, workdir: str) -> dict[str, Any]:
    import redis as sync_redis
    rate = args.admit_per_minute
    show_id = str(uuid.uuid4())
    per_s = rate / 60
    n = int(per_s * (args.promote_s + 3) * 1.5) + 200
    log(f"admission: filling the queue with {n:,} fans")
    order = asyncio.run(fill_queue(namespace, show_id, n))
    lease_key = f"{namespace}:promoter-lease"
    promoters: list[Child] = []
    r = sync_redis.Redis.from_url(REDIS_URL)
    failover: dict[str, Any] = {}
    try:
        for k in range(args.promoters):
            promoters.append(Child("promoter", {
                "redis_url": REDIS_URL, "namespace": namespace, "lease_key": lease_key, "show_id": show_id,
                "admit_per_minute": rate, "ttl_s": 600, "interval_s": args.promoter_interval,
                "max_s": args.promote_s + 30, "owner": f"promoter-{k}", "secret": SECRET}, workdir, f"promoter-{k}"))
        for c in promoters:
            if c.wait_for("started", 30) is None:
                raise RuntimeError(f"{c.name} did not start:\n{c.err_tail(2000)}")
        t_start = time.time()
        half = t_start + args.promote_s / 2

        def on_tick(now: float) -> None:
            if not args.no_failover and not failover and now >= half:
                holder = r.get(lease_key)
                owner = holder.decode() if isinstance(holder, bytes) else holder
                for c in promoters:
                    if c.name == owner:
                        c.send("stop")  # a clean shutdown: Promoter.run resigns the lease
                        failover.update(owner=owner, at=now)
        log(f"admission: {args.promoters} promoters, {rate:,}/min for {args.promote_s:g} s")
        samples = asyncio.run(sample_admitted(namespace, show_id, n, args.promote_s, [], on_tick))
        for c in promoters:
            c.send("stop")
        logs = [c.finish(30) for c in promoters]
    finally:
        for c in promoters:
            c.kill()
        r.close()
    return {"show_id": show_id, "queue": n, "order": order, "samples": samples, "logs": logs,
            "failover": failover, "rate": rate, "t_start": t_start}


def analyse_admission(a: dict[str, Any], interval_s: float) -> tuple[list[list[Any]], list[list[Any]], bool]:
    rate, per_s = a["rate"], a["rate"] / 60
    steps = []  # (t_end, owner, leader, admitted ids)
    for lg in a["logs"]:
        for t0, t1, leader, admitted in lg["log"]:
            steps.append((t1, t0, lg["owner"], leader, admitted))
    steps.sort()
    admitted_seq = [tid for s in steps for tid in s[4]]
    order_ok = admitted_seq == a["order"][:len(admitted_seq)]
    non_leader_admits = sum(len(s[4]) for s in steps if not s[3])
    leader_runs: list[str] = []
    for s in steps:
        if s[3] and (not leader_runs or leader_runs[-1] != s[2]):
            leader_runs.append(s[2])
    # two owners leading at the same moment: the spans [first, last leader step] of different owners overlap
    spans: dict[str, list[float]] = {}
    for s in steps:
        if s[3]:
            span = spans.setdefault(s[2], [s[1], s[1]])
            span[0], span[1] = min(span[0], s[1]), max(span[1], s[1])
    owners = list(spans)
    overlap = sum(1 for i, a in enumerate(owners) for b in owners[i + 1:]
                  if spans[a][0] <= spans[b][1] and spans[b][0] <= spans[a][1])
    admit_events = [(s[0], len(s[4])) for s in steps if s[4]]
    samples = a["samples"]
    first_admit = admit_events[0][0] if admit_events else a["t_start"]
    t_last_sample, admitted_total = samples[-1]
    elapsed = t_last_sample - first_admit
    expected = per_s * elapsed
    expected_bucket = expected + max(1, per_s)  # the bucket starts full: one second's batch at once
    # max admitted in any 1 s window, from the 100 ms samples and exactly from the step log
    max_sampled = 0
    j = 0
    for i, (t, c) in enumerate(samples):
        while j < len(samples) and samples[j][0] <= t + 1.0:
            j += 1
        max_sampled = max(max_sampled, samples[j - 1][1] - c)
    max_exact, max_at, max_parts = 0, first_admit, []
    for i, (t, _) in enumerate(admit_events):
        inside = [c for tt, c in admit_events if t <= tt < t + 1.0]
        if sum(inside) > max_exact:
            max_exact, max_at, max_parts = sum(inside), t, inside
    # admissions over the steady part: after the first step
    steady = admit_events[1:]
    steady_rate = (sum(c for _, c in steady) / (steady[-1][0] - admit_events[0][0])) if len(steady) > 1 else 0.0
    gap = None
    if a["failover"]:
        t_fo = a["failover"]["at"]
        before = [t for t, _ in admit_events if t <= t_fo]
        after = [t for t, _ in admit_events if t > t_fo]
        if before and after:
            gap = after[0] - before[-1]
    per_owner = []
    for lg in a["logs"]:
        n_steps = len(lg["log"])
        lead_steps = sum(1 for row in lg["log"] if row[2])
        per_owner.append([lg["owner"], n_steps, lead_steps, sum(len(row[3]) for row in lg["log"])])
    rows = [
        ["queue (fans waiting at start)", a["queue"]],
        ["admit_per_minute", f"{rate:,} ({per_s:g}/s)"],
        ["elapsed since first admission", f"{elapsed:.2f} s"],
        ["admitted", admitted_total],
        ["expected rate x elapsed", f"{expected:.0f} ({100 * admitted_total / max(1, expected):.1f}%)"],
        ["expected incl. the bucket's initial 1 s batch", f"{expected_bucket:.0f} "
                                                          f"({100 * admitted_total / max(1, expected_bucket):.1f}%)"],
        ["steady rate after the first batch", f"{steady_rate:.1f}/s ({100 * steady_rate / per_s:.1f}% of {per_s:g})"],
        ["max in any 1 s window (100 ms samples)", f"{max_sampled} (allowed {per_s:g}/s; design bound "
                                                   f"{2 * per_s:g} = rate + 1 s bucket)"],
        ["max in any 1 s window (exact, step log)",
         f"{max_exact} at {max_at - a['t_start']:+.1f} s (steps of {' + '.join(map(str, max_parts))})"],
        ["admission order == queue order", f"{'yes' if order_ok else 'NO'} ({len(admitted_seq):,} admitted)"],
        ["admissions by a non-leader", non_leader_admits],
        ["leaders in turn", " -> ".join(leader_runs)],
        ["owners whose leadership spans overlap", overlap],
        ["failover", (f"stopped {a['failover']['owner']} at +{a['failover']['at'] - a['t_start']:.1f} s; "
                      f"gap between admissions {gap:.2f} s" if a["failover"] and gap is not None else
                      (str(a["failover"]) or "none"))],
    ]
    ok = order_ok and non_leader_admits == 0 and overlap == 0 and max_exact <= 2 * per_s
    return rows, per_owner, ok


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_nofile()
    install_uvloop()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    run_id = secrets.token_hex(4)
    ns = f"bench:wr:{run_id}"
    show_id = str(uuid.uuid4())
    zkey = f"{ns}:raw:q"
    pyzkey = f"{ns}:py:q"
    workdir = tempfile.mkdtemp(prefix="bo_wr_")
    print_environment({"redis": REDIS_URL, "namespace": ns, "fans": args.fans, "concurrency": args.concurrency,
                       "redis-benchmark -c": args.bench_clients})
    results: dict[str, dict[str, Any]] = {}
    server: Server | None = None
    db: BenchDatabase | None = None
    gql_show: str | None = None
    gql_tickets: list[str] = []
    admission: dict[str, Any] | None = None
    try:
        busy = busy_before(args.wait_quiet)
        app_done: dict[str, Any] = {}
        pool_rows: list[list[Any]] = []
        for phase in phases:
            if phase == "raw_zadd":
                log(f"raw_zadd: redis-benchmark ZADD x {args.fans:,}")
                results[phase] = redis_benchmark(args.fans, args.bench_clients,
                                                 ["ZADD", zkey, "__rand_int__", "member:__rand_int__"])
            elif phase == "raw_zrank":
                log(f"raw_zrank: redis-benchmark ZRANK x {args.fans:,}")
                results[phase] = redis_benchmark(args.fans, args.bench_clients, ["ZRANK", zkey, "member:__rand_int__"])
            elif phase in ("py_zadd", "py_zrank"):
                log(f"{phase}: redis-py x {args.fans:,}, {args.concurrency} tasks")
                results[phase] = asyncio.run(py_phase(phase[3:], pyzkey, args.fans, args.concurrency))
            elif phase == "app_enter":
                app_done = asyncio.run(app_phases(ns, show_id, args.fans, args.concurrency,
                                                  [p for p in phases if p.startswith("app_")], args.profile, workdir))
                results.update(app_done)
            elif phase == "pool_limit":
                log("pool_limit: bursts of simultaneous enter calls on one client")
                pool_rows = asyncio.run(pool_limit_phase(ns))
            elif phase == "graphql" and args.graphql_fans:
                db = BenchDatabase()
                secret = secrets.token_urlsafe(32)
                env = server_env(db.url, secret, workdir, redis=False)
                env["REDIS_URL"] = REDIS_URL
                asyncio.run(db.create())
                db.migrate(env)
                venue = asyncio.run(build_stadium(db.url, sections=1, rows=2, seats_per_row=10, shows=1))
                gql_show = str(venue.shows[0].show_id)
                asyncio.run(enable_waiting_room(db.url, venue.organizer_id, venue.shows[0].show_id))
                fans = asyncio.run(create_fans(db.url, args.graphql_fans, secret))
                server = Server(env, 1, "warning")
                server.start()
                log(f"graphql: enterWaitingRoom + waitingRoomTicket x {args.graphql_fans:,}, "
                    f"{args.graphql_conns} connections")
                pids = server.pids()
                cpu0 = proc_cpu_s(pids)
                t0 = time.perf_counter()
                g = asyncio.run(graphql_phase(server.port, gql_show, [t for _, t in fans], args.graphql_conns))
                srv_cpu = cpu_delta(cpu0, proc_cpu_s(pids))
                g["gql_enter"]["server_cpu_s"] = srv_cpu
                g["gql_enter"]["wall"] = time.perf_counter() - t0
                gql_tickets = g.pop("tickets")
                results.update(g)
                server.stop()
                server = None
            elif phase == "admission":
                admission = admission_phase(args, ns, workdir)

        # ------------------------------------------------------------ report
        names = {"raw_zadd": "ZADD  redis-benchmark (C, raw)", "py_zadd": "ZADD  redis-py asyncio",
                 "app_enter": "enter WaitingRoom.enter (Lua)", "gql_enter": "enter GraphQL enterWaitingRoom",
                 "raw_zrank": "ZRANK redis-benchmark (C, raw)", "py_zrank": "ZRANK redis-py asyncio",
                 "app_position": "rank  WaitingRoom.get_ticket (Lua)",
                 "gql_position": "rank  GraphQL waitingRoomTicket"}
        rows = []
        for key in ("raw_zadd", "py_zadd", "app_enter", "gql_enter", "raw_zrank", "py_zrank", "app_position",
                    "gql_position"):
            r = results.get(key)
            if not r:
                continue
            conc = (args.bench_clients if key.startswith("raw") else
                    args.graphql_conns if key.startswith("gql") else args.concurrency)
            rows.append([names[key], conc, r["ops"], r["rate"], r["p50"], r["p99"], r["errors"],
                         f"{r['redis']['cpu_pct']:.0f}%", f"{r['client_cpu_pct']:.0f}%"])
        print(table(["operation", "conc.", "ops", "ops/s", "p50 ms", "p99 ms", "errors", "redis CPU",
                     "client CPU"], rows, title="Waiting room: throughput (Redis CPU = % of its one thread)"))
        ratio_rows = []
        for app, raw in (("app_enter", "raw_zadd"), ("app_position", "raw_zrank"), ("gql_enter", "raw_zadd"),
                         ("gql_position", "raw_zrank"), ("py_zadd", "raw_zadd"), ("py_zrank", "raw_zrank"),
                         ("app_enter", "py_zadd"), ("app_position", "py_zrank")):
            if app in results and raw in results:
                ratio_rows.append([f"{names[app]} / {names[raw]}", f"{results[app]['rate'] / results[raw]['rate']:.3f}"])
        print(table(["ratio", "ops/s ratio"], ratio_rows, title="App vs raw"))
        cost_rows = []
        for key in ("raw_zadd", "raw_zrank", "app_enter", "app_position", "gql_enter", "gql_position"):
            r = results.get(key)
            if r:
                top = sorted(r["redis"]["cmds"].items(), key=lambda kv: -kv[1][0])[:4]
                cost_rows.append([key, "; ".join(f"{k} {c:,} x {u:.1f} us" for k, (c, u) in top)])
        print(table(["phase", "Redis commandstats during the phase (calls x usec/call)"], cost_rows,
                    title="Redis-side cost"))
        checks = [[k, results[k]["check"]] for k in ("app_enter", "app_position") if "check" in results.get(k, {})]
        for k in ("app_enter", "app_position", "py_zadd", "py_zrank", "gql_enter", "gql_position"):
            if results.get(k, {}).get("error_kinds"):
                checks.append([k + " errors", "; ".join(f"{n} x {e}" for e, n in results[k]["error_kinds"].items())])
        if "gql_enter" in results:
            g = results["gql_enter"]
            checks.append(["gql_enter outcomes", ", ".join(f"{k}: {v}" for k, v in g.get("outcomes", {}).items())])
            checks.append(["server CPU, GraphQL phases", f"{g['server_cpu_s']:.2f} s over {g['wall']:.1f} s; "
                           f"{1000 * g['server_cpu_s'] / max(1, g['ops'] + results['gql_position']['ops']):.2f} ms "
                           f"per request"])
        checks.append(["machine busy before (outside load)", f"{busy:.0f}%"])
        for k in ("app_enter", "app_position"):
            prof = results.get(k, {}).get("profile")
            if prof and "error" in prof:
                checks.append([f"{k} profile", prof["error"]])
            elif prof:
                print(table(["package (innermost known frame)", "% samples"], prof["buckets"][:10],
                            title=f"{k}: profile of this process (py-spy)"))
                print(table(["function (self)", "%"], prof["self"][:12], title=f"{k}: self time"))
        if checks:
            print(table(["check", "result"], checks, title="Checks"))
        if pool_rows:
            print(table(["simultaneous enter calls", "ok", "failed (WaitingRoomUnavailable: cause)",
                         "3 calls right after"], pool_rows,
                        title="One process, one make_redis_client: more calls in flight than the pool holds"))
        admission_ok = True
        if admission is not None:
            rows_a, per_owner, admission_ok = analyse_admission(admission, args.promoter_interval)
            print(table(["admission", "value"], rows_a, title="Promoter: admission-rate accuracy"))
            print(table(["promoter", "steps", "steps as leader", "admitted"], per_owner, title="Promoters"))
            # the sampled curve, once a second
            samples = admission["samples"]
            t0 = admission["t_start"]
            curve = []
            nxt = 0.0
            for t, c in samples:
                if t - t0 >= nxt:
                    curve.append([f"{t - t0:.1f}", c, f"{admission['rate'] / 60 * (t - t0):.0f}"])
                    nxt += 1.0
            print(table(["t (s)", "admitted", "rate x t"], curve, title="Admitted over time (100 ms sampling)"))
        print(f"\nRESULT admission {'OK' if admission_ok else 'NOT OK'}")
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            n = cleanup([f"{ns}:*"])
            if gql_show:
                n += cleanup([f"wr:{{{gql_show}}}:*"], [f"wr:ticket:{t}" for t in gql_tickets])
            log(f"deleted {n:,} Redis keys")
        else:
            log(f"kept Redis keys {ns}:* (db {REDIS_DB})")
        dispose_scratch(db, workdir, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
