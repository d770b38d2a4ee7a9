"""Shared pieces of the benchmark scripts: scratch databases, the 50k-seat show, fan users and
tokens, the server subprocess, load-generator subprocesses, CPU accounting, profiling, stats, tables.

Everything talks to 127.0.0.1 only. Every loop here is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
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


# ---------------------------------------------------------------- scratch database

def pg_url(db: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"


async def connect_retry(dsn: str, attempts: int = 30, **kwargs: Any) -> Any:
    """asyncpg.connect, retried (bounded) while PostgreSQL is out of connection slots (others share it)."""
    import asyncpg
    for i in range(attempts):
        try:
            return await asyncpg.connect(dsn, **kwargs)
        except asyncpg.TooManyConnectionsError:
            if i == attempts - 1:
                raise
            log("PostgreSQL has no free connection slot (others share it): retrying in 2 s")
            await asyncio.sleep(2.0)


class BenchDatabase:
    """CREATE DATABASE bo_bench_<random> … DROP DATABASE (unless kept)."""

    def __init__(self, prefix: str = "bo_bench") -> None:
        self.name = f"{prefix}_{secrets.token_hex(4)}"
        self.url = pg_url(self.name)

    async def create(self) -> None:
        conn = await connect_retry(pg_url("postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await conn.close()

    async def drop(self) -> None:
        conn = await connect_retry(pg_url("postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await conn.close()

    def migrate(self, env: dict[str, str]) -> None:
        out = subprocess.run([str(BIN / "boxoffice"), "migrate"], env=env, capture_output=True, text=True,
                             timeout=300, cwd=env.get("BOXOFFICE_DATA_DIR"))
        if out.returncode != 0:
            raise RuntimeError(f"boxoffice migrate failed:\n{out.stdout}\n{out.stderr}")


def server_env(db_url: str, secret: str, data_dir: str, redis: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "BOXOFFICE_"))}
    env.update(DATABASE_URL=db_url, BOXOFFICE_SECRET=secret, BOXOFFICE_DATA_DIR=data_dir,
               STRIPE_WEBHOOK_SECRET="whsec_bench_" + secret[:16])
    if redis:
        env["REDIS_URL"] = REDIS_URL
    return env


# ---------------------------------------------------------------- the 50,000-seat show

def row_label(i: int) -> str:
    letters = string.ascii_uppercase
    return letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]


@dataclass
class ShowLayout:
    show_id: uuid.UUID
    version_sequence: str
    # Seat ids of every row, in map order (section by section, row by row).
    rows: list[list[int]]
    section_ids: list[str]           # reserved sections, in order
    section_of_row: list[int]        # index into section_ids for each row
    ga_section_ids: list[str] = field(default_factory=list)

    @property
    def seat_count(self) -> int:
        return sum(len(r) for r in self.rows)


@dataclass
class Venue:
    organizer_id: uuid.UUID
    event_id: uuid.UUID
    venue_id: uuid.UUID
    shows: list[ShowLayout]


async def build_stadium(db_url: str, *, sections: int = 10, rows: int = 50, seats_per_row: int = 100,
                        ga_capacity: int = 0, shows: int = 1, max_tickets_per_user: int = 100) -> Venue:
    """Organizer → venue → event → `shows` shows of it → published, through boxoffice.booking.organize."""
    from sqlalchemy import text

    from boxoffice.booking import accounts, organize
    from boxoffice.booking.records import Viewer
    from boxoffice.booking.venue_layout import RowSpec, SectionSpec
    from boxoffice.db import create_engine

    engine = create_engine(db_url, pool_size=4)
    try:
        org = await accounts.create_user(engine, email=f"organizer-{secrets.token_hex(3)}@bench.test",
                                         password="bench-organizer-pass", name="Bench Promotions",
                                         role="organizer")
        viewer = Viewer(user_id=org.id, role="organizer")
        specs = [SectionSpec(name=f"Section {101 + i}",
                             rows=[RowSpec(label=row_label(r), seat_count=seats_per_row) for r in range(rows)])
                 for i in range(sections)]
        if ga_capacity:
            specs.append(SectionSpec(name="Field", general_admission_capacity=ga_capacity))
        venue = await organize.create_venue(engine, viewer, name="Bench Stadium", city="Lisbon", sections=specs)
        event = await organize.create_event(engine, viewer, name="Bench Flash Sale", performer="The Benchmarks",
                                            category="concert", description=None, venue_id=venue.id)
        now = datetime.now(timezone.utc)
        tiers = []
        if sections:
            tiers.append(organize.TierSpec("Reserved", 5_000, [f"Section {101 + i}" for i in range(sections)]))
        if ga_capacity:
            tiers.append(organize.TierSpec("Field", 4_000, ["Field"]))
        layouts = []
        for k in range(shows):
            show = await organize.create_show(engine, viewer, organize.ShowSpec(
                event_id=event.id, starts_at=now + timedelta(days=30 + k), on_sale_at=now - timedelta(hours=1),
                currency="EUR", hold_ttl_seconds=600, max_tickets_per_user=max_tickets_per_user,
                price_tiers=tiers))
            layouts.append(show)
        await organize.publish_event(engine, viewer, event.id)
        out: list[ShowLayout] = []
        async with engine.connect() as conn:
            sec_rows = (await conn.execute(text(
                "SELECT id, general_admission FROM sections WHERE venue_id = :v ORDER BY position"),
                {"v": venue.id})).all()
            reserved = [str(r.id) for r in sec_rows if not r.general_admission]
            ga = [str(r.id) for r in sec_rows if r.general_admission]
            index = {s: i for i, s in enumerate(reserved)}
            for show in layouts:
                seat_rows = (await conn.execute(text(
                    "SELECT ss.id, vs.section_id, vs.row_label FROM show_seats ss "
                    "JOIN venue_seats vs ON vs.id = ss.venue_seat_id WHERE ss.show_id = :s "
                    "AND ss.position IS NOT NULL ORDER BY ss.position"), {"s": show.id})).all()
                grouped: list[list[int]] = []
                section_of_row: list[int] = []
                last = None
                for r in seat_rows:
                    key = (r.section_id, r.row_label)
                    if key != last:
                        grouped.append([])
                        section_of_row.append(index[str(r.section_id)])
                        last = key
                    grouped[-1].append(int(r.id))
                out.append(ShowLayout(show.id, show.version_sequence, grouped, reserved, section_of_row, ga))
        return Venue(org.id, event.id, venue.id, out)
    finally:
        await engine.dispose()


async def create_fans(db_url: str, n: int, secret: str, ttl_s: int = 6 * 3600) -> list[tuple[str, str]]:
    """Bulk-inserts n fan users with SQL; returns (user id, bearer token) pairs."""
    import asyncpg

    from boxoffice.booking.accounts import TokenIssuer
    from boxoffice.booking.records import UserRecord

    tag = secrets.token_hex(3)
    conn = await connect_retry(db_url)
    try:
        rows = await conn.fetch(
            "INSERT INTO users (email, name, password_hash, role) SELECT 'fan-' || $1 || '-' || g || '@bench.test', "
            "'Fan ' || g, 'not-a-login', 'fan' FROM generate_series(1, $2) g RETURNING id, email, name, role",
            tag, n)
    finally:
        await conn.close()
    issuer = TokenIssuer(secret, ttl_s)
    return [(str(r["id"]), issuer.issue(UserRecord(id=r["id"], email=r["email"], name=r["name"], role=r["role"])))
            for r in rows]


# ---------------------------------------------------------------- the server subprocess

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`boxoffice serve` as a subprocess in its own process group (so we stop exactly what we started)."""

    def __init__(self, env: dict[str, str], workers: int, log_level: str = "warning") -> None:
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(env["BOXOFFICE_DATA_DIR"]) / "server.log"

    def start(self, timeout_s: float = 60) -> None:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(BIN / "boxoffice"), "serve", "--port", str(self.port), "--workers", str(self.workers),
             "--log-level", self.log_level, "--no-migrate"],
            env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=self.env["BOXOFFICE_DATA_DIR"])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                    if r.status == 200 and (self.workers == 1 or len(self.worker_pids()) >= self.workers):
                        time.sleep(0.5 if self.workers > 1 else 0.1)  # let every worker finish its lifespan
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not healthy within {timeout_s} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def error_summary(self, limit: int = 8) -> list[str]:
        """Distinct error lines of the server log (exception types and messages), most frequent first."""
        import collections
        counts: collections.Counter[str] = collections.Counter()
        try:
            for line in self.log_path.read_text(errors="replace").splitlines():
                s = line.strip()
                if not s or s.startswith(("File ", "^", "~", "Traceback", "|", "+", "The above", "During handling")):
                    continue
                if ("Error" in s or "Exception" in s or "Timeout" in s) and not s.startswith(("await ", "return ",
                                                                                            "raise ")):
                    counts[s[:220]] += 1
        except OSError:
            return []
        return [f"{n} x {line}" for line, n in counts.most_common(limit)]

    def pids(self) -> list[int]:
        """The server process and its children (uvicorn workers)."""
        import psutil
        if self.proc is None:
            return []
        try:
            p = psutil.Process(self.proc.pid)
            return [p.pid, *(c.pid for c in p.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the children with --workers > 1, else the server itself."""
        import psutil
        if self.proc is None:
            return []
        if self.workers == 1:
            return [self.proc.pid]
        try:
            kids = psutil.Process(self.proc.pid).children(recursive=False)
        except psutil.NoSuchProcess:
            return []
        # uvicorn's multiprocess supervisor spawns via multiprocessing: skip its resource tracker.
        return [k.pid for k in kids if "resource_tracker" not in " ".join(k.cmdline())]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own process group, by its id
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()


# ---------------------------------------------------------------- load-generator subprocesses

class LoadGen:
    """Runs bench/_loadgen.py with a JSON spec; it prints one JSON result on stdout."""

    def __init__(self, spec: dict[str, Any], workdir: str) -> None:
        fd, self.spec_path = tempfile.mkstemp(suffix=".json", dir=workdir)
        with os.fdopen(fd, "w") as f:
            json.dump(spec, f)
        self.out_path = self.spec_path + ".out"
        self.err_path = self.spec_path + ".err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([sys.executable, str(BENCH / "_loadgen.py"), self.spec_path],
                                     stdout=self._out, stderr=self._err)
        self.pid = self.proc.pid

    def result(self, timeout_s: float) -> dict[str, Any]:
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise RuntimeError("load generator overran its time bound")
        self._out.close()
        self._err.close()
        if self.proc.returncode != 0:
            raise RuntimeError(f"load generator failed ({self.proc.returncode}):\n"
                               + Path(self.err_path).read_text(errors="replace")[-3000:])
        return json.loads(Path(self.out_path).read_text())


def split(items: Sequence[Any], parts: int) -> list[list[Any]]:
    return [list(items[i::parts]) for i in range(parts)]


def merge_results(results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Merges load-generator results: outcome counts add up, latency samples concatenate."""
    merged: dict[str, Any] = {"outcomes": {}, "latency": {}, "cpu_s": 0.0, "elapsed_s": 0.0, "windows": {},
                              "bytes": 0, "notes": [], "reconnects": 0}
    for r in results:
        for k, v in r["outcomes"].items():
            merged["outcomes"][k] = merged["outcomes"].get(k, 0) + v
        for k, v in r["latency"].items():
            merged["latency"].setdefault(k, []).extend(v)
        for w, counts in r["windows"].items():
            slot = merged["windows"].setdefault(w, {})
            for k, v in counts.items():
                slot[k] = slot.get(k, 0) + v
        merged["cpu_s"] += r["cpu_s"]
        merged["elapsed_s"] = max(merged["elapsed_s"], r["elapsed_s"])
        merged["bytes"] += r.get("bytes", 0)
        merged["reconnects"] += r.get("reconnects", 0)
        for n in r.get("notes", []):
            if n not in merged["notes"]:
                merged["notes"].append(n)
    return merged


# ---------------------------------------------------------------- CPU accounting

def _proc_stat() -> tuple[float, float]:
    with open("/proc/stat") as f:
        parts = [float(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


class CpuMeter:
    """CPU time of process groups over a window, in % of one core (200% = both cores of this box)."""

    def __init__(self, groups: dict[str, Any]) -> None:
        # groups: name -> callable returning pids, or a process name to match (e.g. "postgres")
        self.groups = groups

    def _pids(self, spec: Any) -> list[int]:
        import psutil
        if callable(spec):
            return list(spec())
        return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == spec]

    def _sample(self) -> dict[str, dict[int, float]]:
        import psutil
        out: dict[str, dict[int, float]] = {}
        for name, spec in self.groups.items():
            times: dict[int, float] = {}
            for pid in self._pids(spec):
                try:
                    t = psutil.Process(pid).cpu_times()
                    times[pid] = t.user + t.system
                except psutil.Error:
                    pass
            out[name] = times
        return out

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._busy0, self._total0 = _proc_stat()
        self._s0 = self._sample()

    def stop(self) -> dict[str, float]:
        elapsed = time.monotonic() - self._t0
        busy1, total1 = _proc_stat()
        s1 = self._sample()
        ncpu = os.cpu_count() or 1
        result = {"machine": 100.0 * ncpu * (busy1 - self._busy0) / max(1e-9, total1 - self._total0)}
        for name in self.groups:
            before, after = self._s0.get(name, {}), s1.get(name, {})
            used = sum(after[p] - before.get(p, 0.0) for p in after)
            result[name] = 100.0 * used / elapsed
        return result


def postgres_pids(db_name: str | None = None) -> list[int]:
    """PostgreSQL processes; with db_name, only the backends connected to that database."""
    import psutil
    out = []
    for p in psutil.process_iter(["name", "cmdline"]):
        if p.info["name"] != "postgres":
            continue
        if db_name is None or f" {db_name} " in " ".join(p.info["cmdline"] or []) + " ":
            out.append(p.pid)
    return out


def machine_busy(seconds: float = 1.0) -> float:
    """% of one core busy on the whole machine over `seconds`."""
    b0, t0 = _proc_stat()
    time.sleep(seconds)
    b1, t1 = _proc_stat()
    return 100.0 * (os.cpu_count() or 1) * (b1 - b0) / max(1e-9, t1 - t0)


def wait_quiet(max_wait_s: float, threshold: float = 40.0) -> float:
    """Waits (bounded) until the machine is quiet: others share this box. Returns the last busy %."""
    deadline = time.monotonic() + max_wait_s
    busy = machine_busy(2.0)
    while busy > threshold and time.monotonic() < deadline:
        log(f"machine busy {busy:.0f}% (outside load): waiting for quiet")
        busy = machine_busy(3.0)
    return busy


# ---------------------------------------------------------------- profiling (py-spy)

class Profiler:
    """py-spy record in raw (collapsed-stack) format for each pid; summarised into hot spots."""

    def __init__(self, pids: list[int], duration_s: int, workdir: str, svg: bool = True) -> None:
        self.procs: list[tuple[int, subprocess.Popen[bytes], str]] = []
        exe = BIN / "py-spy"
        if not exe.exists():
            self.error = "py-spy is not installed (pip install py-spy)"
            return
        self.error = None
        for pid in pids:
            raw = os.path.join(workdir, f"profile-{pid}.txt")
            p = subprocess.Popen([str(exe), "record", "-p", str(pid), "-d", str(duration_s), "-f", "raw",
                                  "-o", raw, "--nonblocking"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.procs.append((pid, p, raw))

    def finish(self, timeout_s: float = 60) -> list[str]:
        files = []
        for pid, p, raw in self.procs:
            try:
                _, err = p.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate(timeout=5)
                err = b"timeout"
            if p.returncode != 0 or not os.path.exists(raw):
                self.error = f"py-spy failed on {pid}: {err.decode(errors='replace')[-500:]}"
            else:
                files.append(raw)
        return files


def summarise_profile(files: list[str], top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """Self time (leaf frame) and inclusive time per function, in % of samples, plus by-package buckets."""
    total = 0
    leaf: dict[str, int] = {}
    incl: dict[str, int] = {}
    bucket: dict[str, int] = {}
    for path in files:
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                stack, _, count_s = line.rpartition(" ")
                try:
                    count = int(count_s)
                except ValueError:
                    continue
                frames = stack.split(";")
                total += count
                names = [_frame_name(fr) for fr in frames]
                leaf[names[-1]] = leaf.get(names[-1], 0) + count
                for n in set(names):
                    incl[n] = incl.get(n, 0) + count
                b = _bucket(frames)
                bucket[b] = bucket.get(b, 0) + count
    if not total:
        return {"self": [], "inclusive": [], "buckets": []}

    def pct(d: dict[str, int], n: int) -> list[tuple[str, float]]:
        return [(k, 100.0 * v / total) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:n]]
    return {"self": pct(leaf, top), "inclusive": pct(incl, top * 2), "buckets": pct(bucket, 20),
            "samples": [("samples", float(total))]}


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"
    fn, _, loc = frame.partition(" (")
    loc = loc.rstrip(")")
    path = loc.rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{fn} ({path})"


_BUCKETS = [
    ("boxoffice/booking", "boxoffice domain (booking/)"),
    ("boxoffice/", "boxoffice other (schema, resolvers, app)"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("asyncpg/", "asyncpg"),
    ("strawberry/", "strawberry"),
    ("graphql/", "graphql-core"),
    ("starlette/", "starlette"),
    ("uvicorn/", "uvicorn"),
    ("jwt/", "PyJWT"),
    ("redis/", "redis-py"),
    ("broadcaster/", "broadcaster"),
    ("orjson", "orjson"),
    ("json/", "stdlib json"),
    ("asyncio/", "asyncio"),
]


def _bucket(frames: list[str]) -> str:
    """Attributes a sample to the innermost frame that belongs to a known package."""
    for fr in reversed(frames):
        for needle, name in _BUCKETS:
            if needle in fr:
                return name
    return "other (interpreter, C, stdlib)"


# ---------------------------------------------------------------- stats and tables

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


def versions() -> dict[str, str]:
    from importlib.metadata import version
    out = {"python": sys.version.split()[0], "nproc": str(os.cpu_count())}
    for pkg in ("strawberry-graphql", "graphql-core", "uvicorn", "starlette", "SQLAlchemy", "asyncpg", "redis"):
        try:
            out[pkg] = version(pkg)
        except Exception:
            out[pkg] = "?"
    return out


async def pg_version() -> str:
    conn = await connect_retry(pg_url("postgres"))
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def free_connections() -> int:
    """Connection slots PostgreSQL has left now (others share this server)."""
    conn = await connect_retry(pg_url("postgres"))
    try:
        return int(await conn.fetchval(
            "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int "
            "- (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"))
    finally:
        await conn.close()


def print_environment(extra: dict[str, Any] | None = None) -> None:
    v = versions()
    try:
        v["postgresql"] = asyncio.run(pg_version())
    except Exception:
        v["postgresql"] = "?"
    try:  # read-only git: which backend code is being measured (others commit while we measure)
        head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "boxoffice"],
                               capture_output=True, text=True, timeout=10).stdout.strip().splitlines()
        v["boxoffice commit"] = f"{head[:60]}{' (+%d uncommitted files under boxoffice/)' % len(dirty) if dirty else ''}"
    except Exception:
        pass
    if extra:
        v.update({k: str(x) for k, x in extra.items()})
    print(table(["what", "value"], list(v.items()), title="Environment"))


def pick_seats(rng: random.Random, rows: list[list[int]], hot_rows: list[list[int]], hot_share: float,
               max_seats: int = 4) -> list[int]:
    """1..max_seats adjacent seats of one row; hot_share of requests go to the hot block."""
    pool = hot_rows if hot_rows and rng.random() < hot_share else rows
    row = pool[rng.randrange(len(pool))]
    n = rng.randint(1, max_seats)
    start = rng.randrange(0, len(row) - n + 1)
    return row[start:start + n]


def hot_block(layout: ShowLayout, seats: int = 200) -> list[list[int]]:
    """The first rows of the first section, `seats` seats in all (two 100-seat rows by default)."""
    out: list[list[int]] = []
    left = seats
    for row in layout.rows:
        if left <= 0:
            break
        out.append(row[:left])
        left -= len(out[-1])
    return out
