"""Scale-out: 1, 2 and 4 API processes behind HAProxy and PgBouncer (transaction mode) with a streaming
read replica, beside one process straight on PostgreSQL — the journey (hold, order, pay) and browsing
(availability, events) at once, then the flash sale's crowd (hold two seats, release). Reports
throughput, p50/p99 per step, sheds, every answer's outcome, PostgreSQL connections used (primary and
replica, sampled) and the replica's lag as the servers measure it (/metrics).

Everything runs on this machine, started and stopped here (the programs of tests/scale/infra.py): a
private primary and replica (initdb as the postgres user), PgBouncer, HAProxy and a Redis of its own.
Needs root (to run PostgreSQL and PgBouncer as postgres), like the scale tests.

    .venv/bin/python bench/scale_out.py --duration 20 --fans 48
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import re
import secrets
import shutil
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _common import (AVAILABILITY_QUERY, CONFIRM_PAYMENT_MUTATION, CREATE_ORDER_MUTATION, HOLD_MUTATION,  # noqa: E402
                     RELEASE_MUTATION, latency_summary, log, table)
from _http import HttpConn  # noqa: E402
from _meter import machine_busy  # noqa: E402
from _server import Server, free_port  # noqa: E402
from _stadium import build_stadium, create_fans  # noqa: E402
from scale.infra import HAProxy, PgBouncer, Postgres, Redis, scratch_root, wait_for  # noqa: E402

EVENTS_QUERY = "query Events { events(first: 20) { edges { node { id name } } } }"
SERVER_ENV: list[str] = []  # --server-env, set once by main()


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    journeys: int = 0

    def record(self, kind: str, seconds: float, outcome: str) -> None:
        self.latencies.setdefault(kind, []).append(seconds)
        self.outcomes[f"{kind}:{outcome}"] = self.outcomes.get(f"{kind}:{outcome}", 0) + 1


async def call(conn: HttpConn, stats: Stats, kind: str, query: str, variables: dict[str, Any], token: str | None,
               result_key: str) -> dict[str, Any] | None:
    started = time.perf_counter()
    try:
        status, body = await conn.post_graphql(query, variables, token, 20.0)
    except (asyncio.TimeoutError, ConnectionError, OSError):
        stats.record(kind, time.perf_counter() - started, "transport")
        return None
    except ValueError:  # not JSON: the balancer's own 503 page when it holds every host for down
        stats.record(kind, time.perf_counter() - started, "503")
        return None
    elapsed = time.perf_counter() - started
    data = (body.get("data") or {}).get(result_key) if isinstance(body, dict) else None
    outcome = (str(status) if status != 200 else "errors" if body.get("errors") else
               str((data or {}).get("__typename", "ok")) if isinstance(data, dict) else "ok")
    if isinstance(data, dict) and data.get("code"):  # a Problem: which one
        outcome += f"({data['code']})"
    stats.record(kind, elapsed, outcome)
    return data if isinstance(data, dict) else None


async def journey_fan(host: str, port: int, fans: collections.deque[str], show_id: str, seats: list[list[int]],
                      stats: Stats, end: float) -> None:
    """One shopper: journeys back to back, each as the fan whose turn it is. Fans take turns across
    the run's configurations, so none passes its own rate limits (20 payments a minute)."""
    conn = HttpConn(host, port, fans[0])
    try:
        while time.monotonic() < end and seats:
            token = fans.popleft()
            fans.append(token)
            pair = seats.pop()
            hold = await call(conn, stats, "hold", HOLD_MUTATION, {"input": {
                "showId": show_id, "seatIds": [str(s) for s in pair], "idempotencyKey": uuid.uuid4().hex}},
                token, "holdSeats")
            if not hold or hold.get("__typename") != "Hold":
                continue
            order = await call(conn, stats, "createOrder", CREATE_ORDER_MUTATION, {"input": {
                "holdId": hold["id"], "idempotencyKey": uuid.uuid4().hex}}, token, "createOrder")
            if not order or order.get("__typename") != "Order":
                continue
            paid = await call(conn, stats, "confirmPayment", CONFIRM_PAYMENT_MUTATION, {"input": {
                "orderId": order["id"], "paymentMethod": "pm_card_visa", "idempotencyKey": uuid.uuid4().hex}},
                token, "confirmPayment")
            if paid and paid.get("status") == "CONFIRMED":
                stats.journeys += 1
    finally:
        conn.close()


async def flash_fan(host: str, port: int, fans: collections.deque[str], show_id: str, pairs: list[list[int]],
                    stats: Stats, end: float, rng: random.Random) -> None:
    """The flash sale's crowd: hold two seats side by side picked at random (taken ones included, so
    holds contend), release when held; fans take turns as in journey_fan."""
    conn = HttpConn(host, port, fans[0])
    try:
        while time.monotonic() < end:
            token = fans.popleft()
            fans.append(token)
            hold = await call(conn, stats, "hold", HOLD_MUTATION, {"input": {
                "showId": show_id, "seatIds": [str(s) for s in rng.choice(pairs)],
                "idempotencyKey": uuid.uuid4().hex}}, token, "holdSeats")
            if hold and hold.get("__typename") == "Hold":
                await call(conn, stats, "release", RELEASE_MUTATION, {"id": hold["id"]}, token, "releaseHold")
    finally:
        conn.close()


async def run_flash(port: int, show_id: str, pairs: list[list[int]], tokens: collections.deque[str],
                    args: argparse.Namespace) -> dict[str, Any]:
    stats = Stats()
    rng = random.Random(11)
    started = time.monotonic()
    end = started + args.flash_duration
    await asyncio.gather(*(flash_fan("127.0.0.1", port, tokens, show_id, pairs, stats, end, rng)
                           for _ in range(args.fans)))
    return {"stats": stats, "elapsed": time.monotonic() - started}


async def browser(host: str, port: int, show_id: str, stats: Stats, end: float) -> None:
    conn = HttpConn(host, port)
    try:
        while time.monotonic() < end:
            await call(conn, stats, "availability", AVAILABILITY_QUERY, {"id": show_id}, None, "show")
            await call(conn, stats, "events", EVENTS_QUERY, {}, None, "events")
    finally:
        conn.close()


def scrape(url: str) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=2) as r:
            body = r.read().decode()
    except OSError:
        return {}
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(boxoffice_replica_\w+) (\S+)$", body, re.M)}


def backends(pg: Postgres) -> int:
    """Client connections PostgreSQL has open now, apart from this query's own."""
    try:
        return int(pg.sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                          "AND pid <> pg_backend_pid()"))
    except Exception:
        return -1


async def sample(primary: Postgres, replica: Postgres | None, servers: list[Server], end: float,
                 out: dict[str, float]) -> None:
    while time.monotonic() < end:
        out["primary_conns"] = max(out.get("primary_conns", 0), await asyncio.to_thread(backends, primary))
        if replica is not None:
            out["replica_conns"] = max(out.get("replica_conns", 0), await asyncio.to_thread(backends, replica))
        for s in servers:
            m = await asyncio.to_thread(scrape, f"http://127.0.0.1:{s.port}")
            if "boxoffice_replica_lag_seconds" in m:
                out["lag_max_s"] = max(out.get("lag_max_s", 0.0), m["boxoffice_replica_lag_seconds"])
                out["replica_in_use_min"] = min(out.get("replica_in_use_min", 1.0), m["boxoffice_replica_in_use"])
        await asyncio.sleep(1.0)


async def run_load(port: int, show_id: str, seats: list[list[int]], tokens: collections.deque[str], args: argparse.Namespace,
                   primary: Postgres, replica: Postgres | None, servers: list[Server]) -> dict[str, Any]:
    stats = Stats()
    sampled: dict[str, float] = {}
    end = time.monotonic() + args.duration
    shoppers = max(1, int(args.fans * 0.75))
    started = time.monotonic()
    await asyncio.gather(
        *(journey_fan("127.0.0.1", port, tokens, show_id, seats, stats, end) for _ in range(shoppers)),
        *(browser("127.0.0.1", port, show_id, stats, end) for _ in range(args.fans - shoppers)),
        sample(primary, replica, servers, end, sampled))
    elapsed = time.monotonic() - started
    return {"stats": stats, "elapsed": elapsed, **sampled}


def start_server(root: Path, db_url: str, redis_url: str, secret: str, extra: dict[str, str]) -> Server:
    data_dir = root / f"server-{secrets.token_hex(3)}"
    data_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "BOXOFFICE_"))}
    env.update(DATABASE_URL=db_url, REDIS_URL=redis_url, BOXOFFICE_SECRET=secret, BOXOFFICE_DATA_DIR=str(data_dir),
               STRIPE_WEBHOOK_SECRET="whsec_scale_" + secret[:16], **extra)
    env.update(item.split("=", 1) for item in SERVER_ENV)  # type: ignore[misc]
    server = Server(env, 1)
    server.start(timeout_s=120)
    return server


def fresh_pairs(rows: list[list[int]], rng: random.Random) -> list[list[int]]:
    pairs = [row[i:i + 2] for row in rows for i in range(0, len(row) - 1, 2)]
    rng.shuffle(pairs)
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per configuration")
    parser.add_argument("--fans", type=int, default=48, help="concurrent clients (3/4 shopping, 1/4 browsing)")
    parser.add_argument("--hosts", default="direct,1,2,4",
                        help="configurations: direct, direct+lb, pooled and/or API process counts")
    parser.add_argument("--flash-duration", type=float, default=10.0,
                        help="then seconds of the flash-sale crowd (every client holds 2 seats, releases; 0: none)")
    parser.add_argument("--pool", type=int, default=20, help="PgBouncer default_pool_size")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for every server process (repeatable)")
    args = parser.parse_args(argv)
    SERVER_ENV[:] = args.server_env
    if os.geteuid() != 0:
        print("scale_out: run as root (PostgreSQL and PgBouncer are started as the postgres user)", file=sys.stderr)
        return 2
    busy = machine_busy(1.0)
    log(f"machine busy before the run: {busy:.0f}% of CPU")
    root = scratch_root()
    primary = Postgres.primary(root)
    with open(primary.data / "postgresql.conf", "a") as conf:
        conf.write("max_connections = 200\n")
    replica: Postgres | None = None
    bouncer: PgBouncer | None = None
    redis = Redis()
    results: list[tuple[str, dict[str, Any]]] = []
    try:
        primary.start()
        from scale.conftest import prepare_primary, wait_streaming
        prepare_primary(primary)
        replica = primary.replica(root)
        replica.start()
        wait_streaming(primary)
        bouncer = PgBouncer(root, primary, pool_size=args.pool)
        bouncer.start()
        redis.start()
        secret = "scale-bench-" + secrets.token_hex(8)
        configs = [c.strip() for c in args.hosts.split(",") if c.strip()]
        venue = asyncio.run(build_stadium(primary.url, sections=4, rows=25, seats_per_row=50, shows=len(configs)))
        tokens = collections.deque(t for _, t in asyncio.run(create_fans(primary.url, 400, secret)))
        rng = random.Random(7)
        for config, layout in zip(configs, venue.shows):
            servers: list[Server] = []
            balancer: HAProxy | None = None
            try:
                if config in ("direct", "direct+lb"):  # one process on the primary's socket
                    servers = [start_server(root, primary.url, redis.url, secret, {})]
                    port = servers[0].port
                    if config == "direct+lb":  # the balancer's own cost
                        balancer = HAProxy(root / f"lb-{config}", [servers[0].port])
                        balancer.start()
                        port = balancer.port
                elif config == "pooled":  # PgBouncer's own cost: one process, no balancer, no replica
                    servers = [start_server(root, bouncer.url, redis.url, secret,
                                            {"BOXOFFICE_DATABASE_POOLED": "1", "BOXOFFICE_DB_POOL_SIZE": "16"})]
                    port = servers[0].port
                else:
                    pooled = {"BOXOFFICE_DATABASE_POOLED": "1", "DATABASE_REPLICA_URL": replica.url,
                              "BOXOFFICE_DB_POOL_SIZE": "16"}
                    servers = [start_server(root, bouncer.url, redis.url, secret, pooled) for _ in range(int(config))]
                    balancer = HAProxy(root / f"lb-{config}", [s.port for s in servers])
                    balancer.start()
                    port = balancer.port
                log(f"{config}: {len(servers)} API process(es) up; {args.duration:.0f} s of load")
                pairs = fresh_pairs(layout.rows, rng)
                out = asyncio.run(run_load(port, str(layout.show_id), list(pairs), tokens, args,
                                           primary, replica if config.isdigit() else None, servers))
                if args.flash_duration > 0:
                    log(f"{config}: {args.flash_duration:.0f} s of flash-sale holds and releases")
                    out["flash"] = asyncio.run(run_flash(port, str(layout.show_id), pairs, tokens, args))
                results.append((config, out))
            finally:
                if balancer is not None:
                    balancer.stop()
                for s in servers:
                    s.stop()
        report(results, args, busy)
    finally:
        redis.stop()
        if bouncer is not None:
            bouncer.stop()
        for pg in (replica, primary):
            if pg is not None:
                pg.destroy()
        shutil.rmtree(root, ignore_errors=True)
    return 0


def report(results: list[tuple[str, dict[str, Any]]], args: argparse.Namespace, busy: float) -> None:
    rows = []
    for config, out in results:
        stats: Stats = out["stats"]
        hold = latency_summary(stats.latencies.get("hold", []))
        pay = latency_summary(stats.latencies.get("confirmPayment", []))
        browse = latency_summary(stats.latencies.get("availability", []) + stats.latencies.get("events", []))
        requests = sum(len(v) for v in stats.latencies.values())
        errors = _count(stats, *FAILURES, "503")
        label = {"direct": "1 process, direct", "direct+lb": "1 process, direct, behind HAProxy",
                 "pooled": "1 process through PgBouncer, no balancer"}.get(
            config, f"{config} behind HAProxy+PgBouncer+replica")
        rows.append([label, requests / out["elapsed"], stats.journeys / out["elapsed"], hold["p50"], hold["p99"],
                     pay["p99"], browse["p99"], errors, out.get("primary_conns", -1), out.get("replica_conns", "-"),
                     out.get("lag_max_s", "-")])
    print(table(["configuration", "req/s", "journeys/s", "hold p50 ms", "hold p99 ms", "pay p99 ms",
                 "browse p99 ms", "errors", "primary conns", "replica conns", "replica lag max s"], rows,
                title=f"scale_out: {args.fans} clients, {args.duration:.0f} s each; machine {busy:.0f}% busy before"))
    # What the answers were (a hold refused by a fan's limits ends that try, not the loop): the
    # journeys/s column means little without it.
    for config, out in results:
        print(_outcomes(config, out["stats"]))
    flash_rows = []
    for config, out in results:
        if "flash" not in out:
            continue
        stats, elapsed = out["flash"]["stats"], out["flash"]["elapsed"]
        hold = latency_summary(stats.latencies.get("hold", []))
        release = latency_summary(stats.latencies.get("release", []))
        answered = sum(n for k, n in stats.outcomes.items() if k.startswith("hold:") and
                       k.split(":")[1].split("(")[0] in ("Hold", "SeatsUnavailable"))
        flash_rows.append([config, answered / elapsed, _count(stats, "503") / elapsed, hold["p50"], hold["p99"],
                           release["p99"], _count(stats, *FAILURES)])
    if flash_rows:
        print(table(["configuration", "answered holds/s", "sheds/s", "hold p50 ms", "hold p99 ms", "release p99 ms",
                     "errors"], flash_rows,
                    title=f"flash sale: {args.fans} clients hold 2 seats and release, {args.flash_duration:.0f} s each"))
        for config, out in results:
            if "flash" in out:
                print(_outcomes(f"{config} flash", out["flash"]["stats"]))


FAILURES = ("errors", "transport", "500", "502", "504")  # answers that are not a product's answer (503: shed)


def _count(stats: Stats, *outcomes: str) -> int:
    """How many answers of any kind had one of these outcomes."""
    return sum(n for k, n in stats.outcomes.items() if k.split(":")[1] in outcomes)


def _outcomes(label: str, stats: Stats) -> str:
    return f"- {label}: " + ", ".join(f"{k}={n:,}" for k, n in sorted(stats.outcomes.items()))


if __name__ == "__main__":
    sys.exit(main())
