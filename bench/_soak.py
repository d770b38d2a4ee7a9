"""The flash-sale soak (`flash_sale.py --soak-s 600`): the issue requires that the server process does not
grow in memory over a 10-minute soak. The load runs on, holds expire after a short TTL so that seats keep
coming back (and the sweeper works all along), and the server's RSS is sampled every few seconds."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from _common import log, table
from _db import connect_retry, on_postgres
from _meter import RssSampler


def add_soak_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--soak-s", type=float, default=0.0, metavar="SECONDS",
                   help="soak: the same load for this long against one server (the issue's soak: 600), the "
                        "server's RSS sampled every --rss-every s; --duration is ignored")
    p.add_argument("--hold-ttl", type=int, default=None, metavar="SECONDS",
                   help="the shows' hold TTL, 30..3600 (default 600; 30 with --soak-s, so that seats come back)")
    p.add_argument("--rss-every", type=float, default=5.0, metavar="SECONDS", help="soak: RSS sampling interval")
    p.add_argument("--vacuum-every", type=float, default=None, metavar="SECONDS",
                   help="soak: VACUUM (ANALYZE) the hot tables this often, standing in for autovacuum; default "
                        "30 when this PostgreSQL has autovacuum off (this box's CI config does), else 0 (never)")
    p.add_argument("--soak-max-slope", type=float, default=1.0, metavar="MB_PER_MIN",
                   help="soak verdict: the most RSS may still grow over the second half")
    p.add_argument("--soak-max-growth", type=float, default=10.0, metavar="PERCENT",
                   help="soak verdict: the most RSS may grow from start (after warm-up) to end")


def resolve_soak_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Soak defaults: a longer warm-up (pools, caches and the allocator settle before the start RSS), a
    30-s hold TTL (the schema's minimum) and 30-s timeline windows."""
    if args.soak_s and not 10 <= args.soak_s <= 3600:
        p.error("soak-s 10..3600")
    if args.soak_s:
        args.duration = args.soak_s
    if args.warmup is None:
        args.warmup = 30.0 if args.soak_s else 2.0
    if args.hold_ttl is None:
        args.hold_ttl = 30 if args.soak_s else 600
    if not 30 <= args.hold_ttl <= 3600 or not 0.5 <= args.rss_every <= 60:
        p.error("hold-ttl 30..3600 s, rss-every 0.5..60 s")
    args.window_s = 30 if args.soak_s else 2


def resolve_vacuum(args: argparse.Namespace) -> None:
    """--vacuum-every's default: a stand-in for autovacuum only where PostgreSQL has it off."""
    if args.vacuum_every is None:
        autovacuum = asyncio.run(on_postgres("SHOW autovacuum"))
        args.vacuum_every = 30.0 if args.soak_s and autovacuum == "off" else 0.0


HOT_TABLES = "show_seats, holds, outbox"


def soak_wait(rss: RssSampler, until: float, db_url: str, vacuum_every_s: float, every_s: float = 60.0) -> None:
    """Sleeps until `until` (wall clock), logging the server's RSS once a minute. With vacuum_every_s,
    vacuums the hot tables that often: every hold, expiry and sale leaves a dead seat row (the status
    columns are indexed, so no update is HOT). Unvacuumed, five minutes of the sale left three dead
    rows per live one, and PostgreSQL spent about a quarter more CPU per hold."""
    start = time.time()
    next_log, next_vacuum = start + every_s, start + vacuum_every_s if vacuum_every_s else float("inf")
    while time.time() < until:
        time.sleep(max(0.0, min(next_log, next_vacuum, until) - time.time()))
        if time.time() >= next_vacuum:
            t0 = time.time()
            asyncio.run(_vacuum(db_url))
            log(f"soak: VACUUM (ANALYZE) {HOT_TABLES} took {time.time() - t0:.1f} s")
            next_vacuum = time.time() + vacuum_every_s
        if time.time() >= next_log:
            log(f"soak: {time.time() - start:.0f} s, server RSS {rss.current_sum() / 1024:.0f} MB")
            next_log += every_s


async def _vacuum(db_url: str) -> None:
    conn = await connect_retry(db_url)
    try:
        await conn.execute(f"VACUUM (ANALYZE) {HOT_TABLES}")
    finally:
        await conn.close()


def drain(rss: RssSampler, hold_ttl_s: int) -> int:
    """With the load stopped, waits until every hold has expired and been swept (TTL, plus the sweeper's
    1-s round); returns the idle RSS then, in kB."""
    log(f"soak: load stopped; waiting {hold_ttl_s + 3} s for every hold to expire and be swept")
    time.sleep(hold_ttl_s + 3)
    return rss.current_sum()


def _slope_mb_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per minute."""
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var == 0:
        return float("nan")
    return 60.0 * sum((t - mt) * (v - mv) for t, v in points) / var


def report_soak(args: argparse.Namespace, m: dict[str, Any], series: list[tuple[float, dict[int, int]]],
                t0: float, idle_kb: int) -> None:
    """RSS at start (after warm-up), at end, its peak and its slope over the second half, beside the
    holds per window, and a verdict line. t0 is the wall-clock start of the measured window."""
    t_end = t0 + args.duration
    measured = [(t - t0, kb) for t, kb in series if t0 <= t <= t_end + 0.5]
    if len(measured) < 2:
        print("\nRESULT soak: too few RSS samples")
        return
    mb = [(t, sum(kb.values()) / 1024) for t, kb in measured]
    (_, start), (_, end) = mb[0], mb[-1]
    peak = max(v for _, v in mb)
    half = [(t, v) for t, v in mb if t >= args.duration / 2]
    slope2, slope_all = _slope_mb_per_min(half), _slope_mb_per_min(mb)
    growth = end - start
    print(table(["server RSS (sum of its processes)", "MB"], [
        ("start (after the warm-up)", start), ("end", end), ("peak", peak),
        ("growth, end - start", f"{growth:+.1f} ({100 * growth / start:+.1f}%)"),
        ("slope over the second half (MB/min)", f"{slope2:+.2f}"),
        ("slope over the whole run (MB/min)", f"{slope_all:+.2f}"),
        (f"idle after the drain ({args.hold_ttl + 3} s, every hold expired)", idle_kb / 1024),
        ("samples", f"{len(mb)} (every {args.rss_every:g} s)"),
    ], title=f"Soak: {args.duration:g} s of load after a {args.warmup:g}-s warm-up, hold TTL {args.hold_ttl} s"))
    pids = sorted({p for _, kb in measured for p in kb})
    print(table(["server process", "start MB", "end MB", "peak MB"],
                [(pid, measured[0][1].get(pid, 0) / 1024, measured[-1][1].get(pid, 0) / 1024,
                  max(kb.get(pid, 0) for _, kb in measured) / 1024) for pid in pids], title="Per process"))
    w = args.window_s
    rows = []
    for k in range(int(-(-args.duration // w))):  # ceil: a last, shorter window
        lo, hi = k * w, min(args.duration, (k + 1) * w)
        counts = m["windows"].get(str(k), {})
        at_end = [v for t, v in mb if t <= hi]
        rows.append((f"{lo}-{hi:g} s", counts.get("hold:ok", 0) / (hi - lo), at_end[-1] if at_end else float("nan")))
    print(table(["window", "successes/s", "RSS MB at its end"], rows, title="Soak timeline"))
    grows = not (slope2 <= args.soak_max_slope and 100 * growth / start <= args.soak_max_growth)
    stalled = rows[-1][1] == 0
    print(f"\nRESULT soak: server RSS {start:.0f} MB at start, {end:.0f} MB at end ({growth:+.1f} MB, "
          f"{100 * growth / start:+.1f}%), peak {peak:.0f} MB, {slope2:+.2f} MB/min over the second half: "
          f"{'GROWING' if grows else 'no growth'} (limits {args.soak_max_slope:g} MB/min, "
          f"{args.soak_max_growth:g}%)" + ("; NOTE: no hold succeeded in the last window" if stalled else ""))
