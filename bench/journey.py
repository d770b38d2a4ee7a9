"""The fan's whole journey (issue #16): closed loops of signed-up fans taking turns, each workload beside
a same-run ceiling with no web stack, CPU per journey by process group, `boxoffice audit` at the end.

    .venv/bin/python bench/journey.py [--seconds 20] [--clients 400] [--workers 2] [--only a,b,c]
                                      [--buyers 200] [--latencies 0,300] [--sim process|inprocess]
                                      [--peer] [--keep]
    short:  .venv/bin/python bench/journey.py --seconds 5 --clients 50 --wait-quiet 0

Workloads (2 workers + Redis by default, as the issue's targets):
  a  hold 2 random seats of a 50,000-seat show, releaseHold when held; --clients closed loops.
     Ceiling: the same hold + release statements from bare asyncpg (as the PostGraphile peer's load.py).
  b  a crowd of --room-fans fans entering a show's waiting room at once, --room-clients at a time
     (enterWaitingRoom), then --poll-seconds of waitingRoomTicket polls. Ceiling: redis-py ZADD / ZRANK loops.
  c  the purchase: holdSeats(2) -> createOrder -> confirmPayment(pm_card_visa) -> order CONFIRMED with its 2
     tickets, --buyers closed loops, once per --latencies value (ms added by the Stripe simulator, which runs
     as its own process: `boxoffice stripe-sim`, bench/_stripe_sim.py; --sim inprocess uses the mounted one).
     Ceiling: the purchase's state changes in bare SQL, one statement per step (_journey_ceilings.py).
a's and c's ceilings are measured before the server's runs and again after; the ratio is to their
mean, so a box whose speed drifts during the sitting favours neither side.
--peer also runs the PostGraphile 5 peer (../shared/peers/postgraphile/run) on workload a in this sitting.

Fans: --fans users inserted with SQL, tokens minted by TokenIssuer; each client serves its share of them
in turn and uses a fan again only after 1.5x the per-user limit's interval (limit_policy.py), so that
no fan is ever rate-limited. Everything is on 127.0.0.1, bounded in time and requests; the database
(bo_bench_<random>) is dropped and the Redis keys deleted unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import REDIS_URL, install_uvloop, log, raise_nofile  # noqa: E402
from _db import BenchDatabase, dispose_scratch, run_audit, wait_pg_slots  # noqa: E402
from _journey_ceilings import cleanup, cycle_ceiling, purchase_ceiling, redis_ceiling, vacuum  # noqa: E402
from _journey_peer import run_peer  # noqa: E402
from _journey_report import report  # noqa: E402
from _meter import CpuMeter, MachineWindow, busy_before, postgres_pids  # noqa: E402
from _procs import _Spawned, split  # noqa: E402
from _server import Server, print_environment, server_env  # noqa: E402
from _stadium import build_stadium, create_fans, enable_waiting_room  # noqa: E402

FAN_GAP_MARGIN = 1.5  # a fan is used again after 1.5x its limit's interval: never rate-limited
CEILING_CONNS = 16  # the ceilings' pool (as the peer's load.py)
PG_SLOTS_PER_WORKER = 30  # a worker's pool (20 + 10 overflow, boxoffice/db.py) and the simulator's


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds of a and of each c run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds before a's window (c: --purchase-warmup)")
    p.add_argument("--purchase-warmup", type=float, default=6.0,
                   help="seconds before c's window: 200 buyers starting at once on a cold server take 2-3 s for "
                        "their first journey on a 2-core box, so a shorter warm-up can measure the start-up, not "
                        "the sale (the journeys that end in the warm-up are reported apart)")
    p.add_argument("--clients", type=int, default=400, help="closed loops of workload a")
    p.add_argument("--buyers", type=int, default=None, help="closed loops of workload c (default min(200, clients))")
    p.add_argument("--fans", type=int, default=10_000, help="signed-up fans taking turns")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-redis", action="store_true", help="serve without REDIS_URL (b needs Redis)")
    p.add_argument("--only", default="a,b,c")
    p.add_argument("--room-fans", type=int, default=800)
    p.add_argument("--room-clients", type=int, default=200)
    p.add_argument("--poll-seconds", type=float, default=10.0)
    p.add_argument("--latencies", default="0,300", help="ms added by the Stripe simulator, one c run each")
    p.add_argument("--sim", choices=("process", "inprocess"), default="process")
    p.add_argument("--ceiling-seconds", type=float, default=5.0)
    p.add_argument("--loadgen-procs", type=int, default=2)
    p.add_argument("--request-timeout", type=float, default=10.0)
    p.add_argument("--peer", action="store_true", help="run the PostGraphile peer on workload a too")
    p.add_argument("--peer-seconds", type=float, default=None, help="default: --seconds")
    p.add_argument("--wait-quiet", type=float, default=60.0, metavar="SECONDS",
                   help="wait up to this long for outside load under 40%% of a core before ceilings and runs")
    p.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                   help="a setting of the server's, e.g. BOXOFFICE_MAX_IN_FLIGHT=64 (repeatable)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    if any("=" not in item for item in args.server_env):
        p.error("--server-env takes NAME=VALUE")
    args.only = sorted({w.strip() for w in args.only.split(",") if w.strip()})
    args.latency_list = [int(x) for x in args.latencies.split(",") if x.strip()]
    args.buyers = args.buyers or min(200, args.clients)
    if (not set(args.only) <= {"a", "b", "c"} or not 1 <= args.clients <= 5000 or not 0 < args.seconds <= 600
            or not 1 <= args.workers <= 8 or not 100 <= args.fans <= 200_000 or not args.latency_list
            or not 1 <= args.room_clients <= args.room_fans <= 50_000 or not 0 < args.poll_seconds <= 120):
        p.error("only a,b,c; clients 1..5000; seconds 0..600; workers 1..8; fans 100..200000; "
                "room-clients <= room-fans <= 50000; poll-seconds 0..120")
    if "b" in args.only and args.no_redis:
        p.error("workload b needs Redis (the waiting room's queue)")
    return args


def fan_gap(kind: str) -> float:
    from boxoffice.booking.accounts.limit_policy import LimitPolicy
    limit = LimitPolicy().payment_per_user if kind == "purchase" else LimitPolicy().hold_per_user
    return FAN_GAP_MARGIN * limit.period_s / limit.limit


class JourneyLoad(_Spawned):
    """bench/_journey_load.py with a JSON spec; one JSON result on stdout."""

    def __init__(self, spec: dict[str, Any], workdir: str) -> None:
        fd, spec_path = tempfile.mkstemp(suffix=".json", dir=workdir)
        os.close(fd)
        self.out_path = spec_path + ".out"
        self._out = open(self.out_path, "wb")
        super().__init__("_journey_load.py", [], spec, spec_path, stdout=self._out)

    def result(self, timeout_s: float) -> dict[str, Any]:
        import json
        ok = self._wait(timeout_s)
        self._out.close()
        self._err.close()
        if not ok or self.proc.returncode != 0:
            raise RuntimeError(f"load generator failed ({self.proc.returncode}):\n{self.err_tail()}")
        with open(self.out_path) as f:
            return dict(json.load(f))


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"outcomes": {}, "latency": {}, "notes": [], "cpu_s": 0.0, "fan_waits": 0,
                           "reconnects": 0, "enter_s": 0.0, "poll_s": 0.0, "tickets": []}
    for r in results:
        for k, v in r["outcomes"].items():
            out["outcomes"][k] = out["outcomes"].get(k, 0) + v
        for k, v in r["latency"].items():
            out["latency"].setdefault(k, []).extend(v)
        out["notes"] += [n for n in r["notes"] if n not in out["notes"]]
        out["cpu_s"] += r["cpu_s"]
        out["fan_waits"] += r["fan_waits"]
        out["reconnects"] += r["reconnects"]
        out["enter_s"] = max(out["enter_s"], r.get("enter_s", 0.0))
        out["poll_s"] = max(out["poll_s"], r.get("poll_s", 0.0))
        out["tickets"] += r.get("tickets", [])
        for k in ("server_cpu_enter_s", "server_cpu_poll_s"):
            out[k] = out.get(k, 0.0) + r.get(k, 0.0)
    return out


def run_load(args: argparse.Namespace, server: Server, sim: Any, db: BenchDatabase, workdir: str,
             scenario: str, base: dict[str, Any], tokens: list[str], clients: int) -> dict[str, Any]:
    """One workload against the running server: load-generator processes, CPU by process group."""
    procs = max(1, min(args.loadgen_procs, clients))
    room = scenario == "room"
    duration = 600.0 if room else args.seconds  # the crowd's run ends by itself (bounded below)
    warmup = 0.0 if room else args.purchase_warmup if scenario == "purchase" else args.warmup
    start_at = time.time() + 3.0
    gens = []
    for i, (chunk, n) in enumerate(zip(split(tokens, procs), [len(c) for c in split(list(range(clients)), procs)])):
        spec = {**base, "host": "127.0.0.1", "port": server.port, "scenario": scenario, "tokens": chunk,
                "clients": n, "start_at": start_at, "warmup": warmup, "duration": duration,
                "hard_timeout": (300.0 if room else warmup + duration + args.request_timeout + 30),
                "request_timeout": args.request_timeout, "fan_gap_s": fan_gap(scenario),
                "seed": args.seed * 1000 + i, "poll_s": args.poll_seconds,
                "server_pids": server.pids() if i == 0 else []}  # one process splits the room's CPU by phase
        gens.append(JourneyLoad(spec, workdir))
    groups: dict[str, Any] = {"server": server.pids, "postgres": lambda: postgres_pids(db.name),
                              "redis-server": "redis-server", "load generator": lambda: [g.pid for g in gens]}
    if sim is not None:
        groups["simulator"] = sim.pids
    meter = CpuMeter(groups)
    time.sleep(max(0.0, start_at + warmup - time.time()))
    t0 = time.monotonic()
    meter.start()
    if room:
        results = [g.result(400) for g in gens]
        cpu = meter.stop()
    else:
        time.sleep(max(0.0, start_at + warmup + duration - time.time()))
        cpu = meter.stop()
        results = [g.result(args.request_timeout + 90) for g in gens]
    merged = merge(results)
    merged["cpu"] = cpu
    merged["window_s"] = time.monotonic() - t0
    merged["clients"] = clients
    return merged


async def set_inprocess_latency(db_url: str, latency_ms: int) -> None:
    from _db import connect_retry
    conn = await connect_retry(db_url)
    try:
        await conn.execute("UPDATE stripe_sim.faults SET latency_ms = $1 WHERE id = 1", latency_ms)
    finally:
        await conn.close()


def delete_redis_keys(patterns: list[str], keys: list[str] | None = None) -> int:
    import redis
    r = redis.Redis.from_url(REDIS_URL)
    n = 0
    try:
        for i in range(0, len(keys or []), 1000):
            n += r.unlink(*(keys or [])[i:i + 1000])
        for pattern in patterns:
            keys = list(r.scan_iter(match=pattern, count=1000))
            for i in range(0, len(keys), 1000):
                n += r.unlink(*keys[i:i + 1000])
    finally:
        r.close()
    return n


def error_lines(path: Path, limit: int = 6) -> list[str]:
    """Distinct exception lines of a log, most frequent first."""
    counts: collections.Counter[str] = collections.Counter()
    try:
        for line in path.read_text(errors="replace").splitlines():
            s = line.strip()
            if ("Error" in s or "Exception" in s) and not s.startswith(("File ", "Traceback", "The above")):
                counts[s[:200]] += 1
    except OSError:
        return []
    return [f"{n} x {line}" for line, n in counts.most_common(limit)]


def sittings(args: argparse.Namespace) -> list[tuple[int | None, list[str]]]:
    """Server runs: the first serves a, b and c at the first latency; each further latency gets its own
    server and simulator (a simulator process is told its latency when it starts)."""
    first = [w for w in args.only if w in ("a", "b")]
    if "c" not in args.only:
        return [(None, first)]
    return [(args.latency_list[0], first + ["c"])] + [(ms, ["c"]) for ms in args.latency_list[1:]]


def database_ceilings(args: argparse.Namespace, db: BenchDatabase, show: Any, fan_ids: list[Any]) -> dict[str, Any]:
    """a's and c's bare-SQL ceilings on the ceiling's own show, its seats freed again afterwards."""
    found: dict[str, Any] = {}
    seats = [s for row in show.rows for s in row]
    if "a" in args.only:
        log("ceiling a: hold + release, bare asyncpg")
        found["a"] = with_steal(lambda: asyncio.run(cycle_ceiling(
            db.url, show.show_id, seats, show.version_sequence, seconds=args.ceiling_seconds, conns=CEILING_CONNS)))
    if "c" in args.only:
        log("ceiling c: the purchase's state changes in bare SQL")
        found["c"] = with_steal(lambda: asyncio.run(purchase_ceiling(
            db.url, show.show_id, seats, show.version_sequence, fan_ids, seconds=args.ceiling_seconds,
            conns=CEILING_CONNS)))
    asyncio.run(cleanup(db.url, show.show_id))
    return found


def with_steal(measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A ceiling's result, with the CPU the hypervisor gave other guests while it ran (% of one core)."""
    window = MachineWindow()
    result = measure()
    result["steal"] = window.pcts()[1]
    return result


def averaged(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """One ceiling measured before and after the server's runs: the mean rate, both kept."""
    outcomes = collections.Counter(before["outcomes"]) + collections.Counter(after["outcomes"])
    return {**before, "rate": (before["rate"] + after["rate"]) / 2, "rates": (before["rate"], after["rate"]),
            "outcomes": dict(outcomes), "steal": max(before.get("steal", 0.0), after.get("steal", 0.0)),
            "steals": (before.get("steal", 0.0), after.get("steal", 0.0))}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_nofile()
    install_uvloop()
    print_environment({"server workers": args.workers, "server REDIS_URL": not args.no_redis,
                       "workloads": ",".join(args.only), "clients (a)": args.clients, "buyers (c)": args.buyers,
                       "warm-up s (a / c)": f"{args.warmup:g} / {args.purchase_warmup:g}",
                       "fans": args.fans, "simulator": args.sim, "PSP latencies ms": args.latencies,
                       "server settings": " ".join(args.server_env) or "defaults"})
    db = BenchDatabase()
    workdir = tempfile.mkdtemp(prefix="bo_journey_")
    secret = secrets.token_urlsafe(32)
    env = server_env(db.url, secret, workdir, redis=not args.no_redis)
    env.update(item.split("=", 1) for item in args.server_env)
    if args.sim == "inprocess":
        env["BOXOFFICE_STRIPE_SIM_FAULTS"] = "1"
    runs: dict[str, dict[str, Any]] = {}
    ceilings: dict[str, dict[str, Any]] = {}
    room_show: str | None = None
    server: Server | None = None
    sim: Any = None
    rc = 1
    try:
        log(f"creating database {db.name}")
        asyncio.run(db.create())
        db.migrate(env)
        venue = asyncio.run(build_stadium(db.url, shows=2, max_tickets_per_user=100))
        show, ceiling_show = venue.shows
        seats = [s for row in show.rows for s in row]
        if "b" in args.only:
            small = asyncio.run(build_stadium(db.url, sections=1, rows=2, seats_per_row=10, shows=1))
            room_show = str(small.shows[0].show_id)
            asyncio.run(enable_waiting_room(db.url, small.organizer_id, small.shows[0].show_id))
        fans = asyncio.run(create_fans(db.url, args.fans, secret))
        tokens = [t for _, t in fans]
        log(f"{show.seat_count:,}-seat show, {len(fans):,} fans with tokens")

        # ---- ceilings, before any server runs
        busy = {"ceilings": busy_before(args.wait_quiet)}
        wait_pg_slots(CEILING_CONNS + 4, max(60.0, args.wait_quiet))
        ceilings.update(database_ceilings(args, db, ceiling_show, [u for u, _ in fans]))
        if "b" in args.only:
            key = f"bench:journey:{secrets.token_hex(4)}:q"
            log("ceiling b: redis-py ZADD and ZRANK loops")
            ceilings["b_zadd"] = with_steal(lambda: asyncio.run(redis_ceiling(
                REDIS_URL, "zadd", key, seconds=args.ceiling_seconds, concurrency=args.room_clients, members=0)))
            members = sum(ceilings["b_zadd"]["outcomes"].values())
            ceilings["b_zrank"] = with_steal(lambda: asyncio.run(redis_ceiling(
                REDIS_URL, "zrank", key, seconds=args.ceiling_seconds, concurrency=args.room_clients,
                members=members)))
            delete_redis_keys([key])

        # ---- the server, per sitting
        busy["runs"] = busy_before(args.wait_quiet)
        for latency, work in sittings(args):
            # others share this PostgreSQL (max_connections 100): a server short of slots answers errors
            args.free_conns = min(getattr(args, "free_conns", 10_000),
                                  wait_pg_slots(PG_SLOTS_PER_WORKER * args.workers + 10, max(60.0, args.wait_quiet)))
            server = Server(dict(env), args.workers)
            server.env["BOXOFFICE_PUBLIC_URL"] = f"http://127.0.0.1:{server.port}"
            if "c" in work and args.sim == "process":
                from _stripe_sim import StripeSimProcess
                sim = StripeSimProcess(db.url, secret, f"http://127.0.0.1:{server.port}/webhooks/stripe",
                                       "whsec_bench_sim_" + secret[:12], latency or 0,
                                       log_path=Path(workdir) / f"stripe-sim-{latency}ms.log")
                sim.start()
                server.env.update(sim.env_for_server())
            log(f"boxoffice serve --workers {args.workers}: {', '.join(work)}"
                + (f" (PSP latency {latency} ms, simulator {args.sim})" if "c" in work else ""))
            server.start()
            if "c" in work and args.sim == "inprocess":  # the mounted simulator's schema exists once it runs
                asyncio.run(set_inprocess_latency(db.url, latency or 0))
            for w in work:
                asyncio.run(vacuum(db.url))  # seat rows in the state each ceiling starts from
                if w == "a":
                    log(f"a: hold + release, {args.clients} clients, {args.seconds:g} s")
                    runs["a"] = run_load(args, server, None, db, workdir, "cycle",
                                         {"show_id": str(show.show_id), "seat_ids": seats}, tokens, args.clients)
                elif w == "b":
                    log(f"b: {args.room_fans} fans enter, {args.room_clients} at a time, then poll")
                    runs["b"] = run_load(args, server, None, db, workdir, "room", {"show_id": room_show},
                                         tokens[:args.room_fans], args.room_clients)
                else:
                    log(f"c: purchases, {args.buyers} buyers, {args.seconds:g} s, PSP latency {latency} ms")
                    runs[f"c{latency}"] = run_load(args, server, sim, db, workdir, "purchase",
                                                   {"show_id": str(show.show_id), "seat_ids": seats}, tokens,
                                                   args.buyers)
            server.stop()
            runs.setdefault("_server_errors", {"lines": []})["lines"] += server.error_summary()
            server = None
            if sim is not None:
                sim.stop()
                runs["_server_errors"]["lines"] += [f"simulator (+{latency} ms): {ln}" for ln in error_lines(sim.log_path)]
                sim = None
        if {"a", "c"} & set(args.only):  # again after the runs: the ratio is to their mean, so a box
            # whose speed drifts during the sitting favours neither side
            wait_pg_slots(CEILING_CONNS + 4, max(60.0, args.wait_quiet))
            asyncio.run(vacuum(db.url))
            for name, after in database_ceilings(args, db, ceiling_show, [u for u, _ in fans]).items():
                ceilings[name] = averaged(ceilings[name], after)
        audit_rc, audit_out = run_audit(env)
        peer = None
        if args.peer:
            peer = run_peer(args.peer_seconds or args.seconds, args.clients, args.warmup)
        rc = report(args, runs, ceilings, busy, peer, audit_rc, audit_out)
    finally:
        if server is not None:
            server.stop()
        if sim is not None:
            sim.stop()
        if room_show and not args.keep:
            tickets = [f"wr:ticket:{t}" for t in runs.get("b", {}).get("tickets", [])]
            log(f"deleted {delete_redis_keys([f'wr:{{{room_show}}}:*'], tickets)} waiting-room keys")
        dispose_scratch(db, workdir, args.keep)
    return rc


if __name__ == "__main__":
    sys.exit(main())
