"""Basics every benchmark module shares: paths, addresses, the GraphQL documents, logging, stats, tables.

The other shared modules, by concern:
  _db.py       scratch databases, PostgreSQL slots and activity, the audit
  _stadium.py  the 50,000-seat show, fan users and tokens, which seats a request takes
  _server.py   `boxoffice serve` as a subprocess (plain or under tracemalloc), the environment table
  _procs.py    the benchmarks' own subprocesses (_loadgen.py, _live.py roles) and their results
  _http.py     a bare keep-alive HTTP/1.1 client for POST /graphql
  _meter.py    CPU and RSS of process groups, how busy the machine is, quiet-machine waits
  _profile.py  py-spy recordings and their summaries
  _soak.py     the flash-sale soak: options, RSS over time, the verdict

Everything talks to 127.0.0.1 only. Every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
BIN = ROOT / ".venv" / "bin"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_URL = "redis://127.0.0.1:6379/9"

# ---------------------------------------------------------------- GraphQL documents (one text each: parser cache)

HOLD_MUTATION = (
    "mutation Hold($input: HoldSeatsInput!) { holdSeats(input: $input) { __typename "
    "... on Hold { id expiresAt totalCents } ... on SeatsUnavailable { code seatIds } "
    "... on Rejected { code message } } }")
RELEASE_MUTATION = (
    "mutation Release($id: ID!) { releaseHold(holdId: $id) { __typename ... on Hold { id status } "
    "... on Rejected { code message } } }")
CREATE_ORDER_MUTATION = (
    "mutation Order($input: CreateOrderInput!) { createOrder(input: $input) { __typename "
    "... on Order { id status } ... on Rejected { code message } } }")
CONFIRM_PAYMENT_MUTATION = (
    "mutation Pay($input: ConfirmPaymentInput!) { confirmPayment(input: $input) { __typename "
    "... on Order { id status payment { status } } ... on Rejected { code message } } }")
ORDER_QUERY = "query OrderStatus($id: ID!) { order(id: $id) { id status payment { status } } }"
AVAILABILITY_QUERY = (
    "query Availability($id: ID!) { show(id: $id) { availability { version codes "
    "sections { sectionId name generalAdmission capacity available } } } }")
SEATS_QUERY = (
    "query Seats($id: ID!, $section: ID!) { show(id: $id) { seats(sectionId: $section) { id sectionId section "
    "row number status version priceCents accessible obstructedView x y } } }")
SEAT_CHANGES_SUBSCRIPTION = (
    "subscription Seats($id: ID!) { seatChanges(showId: $id) { showId version "
    "seats { seatId status version } sections { sectionId name generalAdmission capacity available } } }")

# The ceiling's statement, verbatim from the issue (the app's AVAILABLE predicate).
CEILING_UPDATE = (
    "UPDATE show_seats SET status = 'H', hold_id = $1, hold_expires_at = now() + interval '10 min', "
    "version = nextval($4::text::regclass) WHERE show_id = $2 AND id = ANY($3::bigint[]) "
    "AND (status = 'A' OR (status = 'H' AND hold_expires_at <= now()))")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def install_uvloop() -> None:
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover
        pass


def raise_nofile(want: int = 65_536) -> int:
    """Soft RLIMIT_NOFILE up to min(want, hard); returns the new soft limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------- stats

def percentile(sorted_values: Sequence[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    """Seconds in, milliseconds out."""
    s = sorted(values)
    return {"n": len(s), "p50": percentile(s, 50) * 1e3, "p95": percentile(s, 95) * 1e3,
            "p99": percentile(s, 99) * 1e3, "max": (s[-1] * 1e3 if s else float("nan")),
            "mean": (sum(s) / len(s) * 1e3 if s else float("nan"))}


class LatencyHistogram:
    """Millisecond buckets (negative values allowed); percentiles exact to 1 ms over millions of samples
    without keeping them."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0
        self.max_s = float("-inf")
        self.min_s = float("inf")
        self.sum_s = 0.0

    def add(self, seconds: float, count: int = 1) -> None:
        b = int(seconds * 1000 // 1)
        self.counts[b] = self.counts.get(b, 0) + count
        self.n += count
        self.sum_s += seconds * count
        if seconds > self.max_s:
            self.max_s = seconds
        if seconds < self.min_s:
            self.min_s = seconds

    def percentile_ms(self, p: float) -> float:
        """Upper edge of the bucket holding the p-th percentile sample (conservative by < 1 ms)."""
        if not self.n:
            return float("nan")
        rank = max(1, int(-(-p / 100.0 * self.n // 1)))  # ceil
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                return float(b + 1)
        return self.max_s * 1000

    def summary(self) -> dict[str, float]:
        return {"n": self.n, "p50": self.percentile_ms(50), "p95": self.percentile_ms(95),
                "p99": self.percentile_ms(99), "max": self.max_s * 1000 if self.n else float("nan"),
                "min": self.min_s * 1000 if self.n else float("nan"),
                "mean": self.sum_s / self.n * 1000 if self.n else float("nan")}


# ---------------------------------------------------------------- tables

def fmt(v: Any, digits: int = 1) -> str:
    if isinstance(v, float):
        if v != v:
            return "-"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> str:
    cells = [[fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = []
    if title:
        lines.append(f"\n{title}")
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        lines.append("| " + " | ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths)) + " |")
    return "\n".join(lines)


def _numeric(c: str) -> bool:
    return bool(c) and (c[0].isdigit() or c[0] in "-+.") and c != "-" or c.endswith("%") and c[:1].isdigit()
