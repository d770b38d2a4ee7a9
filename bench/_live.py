"""Shared pieces of the live benchmarks (bench/fanout.py, bench/waiting_room.py).

Helpers imported by the bench scripts:
  raise_nofile        lift RLIMIT_NOFILE to its hard limit (children inherit it)
  proc_cpu_s          utime+stime of pids from /proc/<pid>/stat, in seconds
  RssSampler          a thread sampling VmRSS of pids (from /proc/<pid>/status): peak per process and summed
  Child               a role of this file run as a subprocess, spoken to by JSON lines on stdin/stdout
  HttpConn            a bare keep-alive HTTP/1.1 client for POST /graphql (per-request headers)
  LatencyHistogram    exact-to-1-ms percentiles over millions of samples without keeping them

Roles, run as `python bench/_live.py ROLE SPEC.json` (the spec says everything, stdout carries JSON lines):
  ws-clients  N graphql-transport-ws subscribers of seatChanges(showId) in one asyncio process; reports
              "connected", "ready" (every socket saw the sentinel seat), "progress", "complete" (every
              socket saw every expected seat) and, after "stop" on stdin, one "result" line.
  holds       issues the given holds over HTTP at a steady rate on a pool of keep-alive connections and
              records, per hold, the wall-clock time right after its response.
  promoter    runs boxoffice.booking.promoter.Promoter with a RedisPromoterLease for a bounded time and
              logs every promotion (time, leader, admitted ticket ids).

Everything talks to 127.0.0.1 only; every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

SEAT_CHANGES_SUBSCRIPTION = (
    "subscription Seats($id: ID!) { seatChanges(showId: $id) { showId version "
    "seats { seatId status version } sections { sectionId name generalAdmission capacity available } } }")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def install_uvloop() -> None:
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover
        pass


def raise_nofile(want: int = 65_536) -> int:
    """Soft RLIMIT_NOFILE up to min(want, hard); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def print_live_environment(extra: dict[str, Any] | None = None) -> None:
    """_common's environment table, plus which boxoffice code is measured: the repository (commit, and
    whether boxoffice/ has uncommitted changes; read-only git, no optional index writes) or a snapshot
    put first on PYTHONPATH (`git archive <commit> | tar -x -C DIR`, with DIR/COMMIT)."""
    sys.path.insert(0, str(BENCH))
    from _common import ROOT, pg_version, table, versions

    import boxoffice
    v = versions()
    try:
        v["postgresql"] = asyncio.run(pg_version())
    except Exception:  # noqa: BLE001
        v["postgresql"] = "?"
    pkg_root = Path(boxoffice.__file__).resolve().parent.parent
    if pkg_root == ROOT.resolve():
        env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
        try:
            head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True,
                                  text=True, timeout=10, env=env).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "boxoffice",
                                    "migrations"], capture_output=True, text=True, timeout=10,
                                   env=env).stdout.strip().splitlines()
            v["boxoffice code"] = f"{ROOT} at {head[:60]}" + (f" (+{len(dirty)} uncommitted files)" if dirty else "")
        except Exception:  # noqa: BLE001
            v["boxoffice code"] = str(ROOT)
    else:
        commit = pkg_root / "COMMIT"
        v["boxoffice code"] = f"snapshot {pkg_root}" + (f" = {commit.read_text().split()[1]}" if commit.exists()
                                                        else "")
    if extra:
        v.update({k: str(x) for k, x in extra.items()})
    print(table(["what", "value"], list(v.items()), title="Environment"))


# ---------------------------------------------------------------- /proc accounting

def proc_cpu_s(pids: Iterable[int]) -> dict[int, float]:
    """utime+stime (fields 14 and 15 of /proc/<pid>/stat) in seconds, per live pid."""
    out: dict[int, float] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "; fields[0] is field 3 (state)
        out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[p] - before.get(p, 0.0) for p in after)


def vm_rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler:
    """Samples VmRSS of `pids()` every `interval_s` in a thread; peaks per pid and of the sum."""

    def __init__(self, pids: Callable[[], list[int]], interval_s: float = 0.05, max_s: float = 3600) -> None:
        self._pids = pids
        self._interval = interval_s
        self._max_s = max_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.peak: dict[int, int] = {}
        self.peak_sum = 0
        self.last: dict[int, int] = {}
        self._marks: dict[str, tuple[int, dict[int, int]]] = {}
        self._window_peak_sum = 0
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + self._max_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.sample()
            self._stop.wait(self._interval)

    def sample(self) -> None:
        now: dict[int, int] = {}
        for pid in self._pids():
            kb = vm_rss_kb(pid)
            if kb is not None:
                now[pid] = kb
        with self._lock:
            self.last = now
            total = sum(now.values())
            self.peak_sum = max(self.peak_sum, total)
            self._window_peak_sum = max(self._window_peak_sum, total)
            for pid, kb in now.items():
                self.peak[pid] = max(self.peak.get(pid, 0), kb)

    def reset_window(self) -> None:
        with self._lock:
            self._window_peak_sum = 0

    @property
    def window_peak_sum(self) -> int:
        with self._lock:
            return self._window_peak_sum

    def current_sum(self) -> int:
        self.sample()
        with self._lock:
            return sum(self.last.values())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


# ---------------------------------------------------------------- subprocess roles

class Child:
    """`python bench/_live.py ROLE SPEC.json` with JSON lines on stdout (read by a thread)."""

    def __init__(self, role: str, spec: dict[str, Any], workdir: str, name: str) -> None:
        self.name = name
        spec_path = os.path.join(workdir, f"{name}.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        self.err_path = os.path.join(workdir, f"{name}.err")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([sys.executable, str(BENCH / "_live.py"), role, spec_path],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err)
        self.pid = self.proc.pid
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # ends when the child exits
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def last(self, ev: str) -> dict[str, Any] | None:
        with self._cond:
            for e in reversed(self.events):
                if e.get("ev") == ev:
                    return e
        return None

    def wait_for(self, ev: str, timeout_s: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for e in reversed(self.events):
                    if e.get("ev") == ev:
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    return None
                self._cond.wait(min(left, 0.5))

    def send(self, line: str) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def finish(self, timeout_s: float) -> dict[str, Any]:
        """Waits for the child's 'result' line and exit (killing it past timeout_s)."""
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._reader.join(timeout=10)
        self._err.close()
        result = self.last("result")
        if result is None:
            tail = Path(self.err_path).read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} (pid {self.pid}) ended with {self.proc.returncode} and no result:\n{tail}")
        return result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def emit(event: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(event) + b"\n")
    sys.stdout.buffer.flush()


def stdin_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str]) -> None:
    """Feeds stdin lines to `queue` from a daemon thread (EOF reads as 'stop')."""
    def run() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.strip())
        loop.call_soon_threadsafe(queue.put_nowait, "stop")
    threading.Thread(target=run, name="stdin", daemon=True).start()


# ---------------------------------------------------------------- a bare HTTP/1.1 keep-alive client

class _Proto(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._try_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed by server"))

    def _try_complete(self) -> None:
        if self.waiter is None or self.waiter.done():
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        status = int(head[9:12])
        i = head.find(b"\r\ncontent-length:")
        if i < 0:
            self.waiter.set_exception(ConnectionError("response without content-length"))
            return
        j = head.find(b"\r\n", i + 2)
        length = int(head[i + 17:j if j >= 0 else None].strip())
        if len(self.buf) < end + 4 + length:
            return
        body = bytes(self.buf[end + 4:end + 4 + length])
        del self.buf[:end + 4 + length]
        if b"\r\nconnection: close" in head:
            self.closed = True
        self.waiter.set_result((status, body))


class HttpConn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.proto: _Proto | None = None

    async def post_graphql(self, query: str, variables: dict[str, Any], token: str | None,
                           timeout_s: float) -> tuple[int, dict[str, Any]]:
        if self.proto is None or self.proto.closed:
            loop = asyncio.get_running_loop()
            _, self.proto = await asyncio.wait_for(loop.create_connection(_Proto, self.host, self.port), timeout_s)
        proto = self.proto
        assert proto is not None and proto.transport is not None
        body = orjson.dumps({"query": query, "variables": variables})
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        head = (f"POST /graphql HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Accept: application/json\r\n{auth}Content-Length: {len(body)}\r\n\r\n").encode()
        proto.waiter = asyncio.get_running_loop().create_future()
        proto.transport.write(head + body)
        try:
            status, raw = await asyncio.wait_for(proto.waiter, timeout_s)
        except BaseException:
            proto.closed = True
            if proto.transport is not None:
                proto.transport.close()
            raise
        return status, orjson.loads(raw) if raw else {}

    def close(self) -> None:
        if self.proto is not None and self.proto.transport is not None:
            self.proto.transport.close()


# ---------------------------------------------------------------- statistics

class LatencyHistogram:
    """Millisecond buckets (negative values allowed); percentiles exact to 1 ms."""

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


# ---------------------------------------------------------------- PostgreSQL lock/activity sampler

class PgActivitySampler:
    """Samples pg_stat_activity of one database every interval in a thread (one extra connection):
    backends waiting on advisory locks, on other locks, idle in transaction, and the longest waits."""

    SQL = """
    SELECT count(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event = 'advisory') AS adv_wait,
           count(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event <> 'advisory') AS row_wait,
           count(*) FILTER (WHERE state LIKE 'idle in transaction%') AS idle_tx,
           count(*) FILTER (WHERE state = 'active') AS active,
           count(*) AS backends,
           coalesce(max(extract(epoch FROM now() - state_change))
                    FILTER (WHERE state LIKE 'idle in transaction%'), 0)::float8 AS longest_idle_tx,
           coalesce(max(extract(epoch FROM now() - query_start))
                    FILTER (WHERE wait_event_type = 'Lock'), 0)::float8 AS longest_lock_wait
    FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'
    """
    # The last statement of the longest idle-in-transaction backend, and what lock waiters run.
    CULPRIT_SQL = """
    SELECT extract(epoch FROM now() - state_change)::float8 AS idle_s, left(query, 90) AS query,
           (SELECT count(*) FROM pg_stat_activity w WHERE w.datname = $1 AND w.wait_event_type = 'Lock')::int
             AS waiters,
           (SELECT left(w.query, 60) FROM pg_stat_activity w WHERE w.datname = $1 AND w.wait_event_type = 'Lock'
            LIMIT 1) AS waiter_query
    FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()
    ORDER BY state_change LIMIT 1
    """

    def __init__(self, dsn: str, db_name: str, interval_s: float = 0.1, max_s: float = 1800) -> None:
        self.dsn, self.db_name, self.interval_s, self.max_s = dsn, db_name, interval_s, max_s
        self.samples: list[tuple[float, dict[str, float]]] = []
        # idle-in-transaction backends seen idle for >= 1 s: (idle s, last statement, lock waiters, a waiter)
        self.culprits: dict[str, tuple[float, str, int, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="pg-sampler", daemon=True)

    def start(self) -> PgActivitySampler:
        self._thread.start()
        return self

    async def _run(self) -> None:
        import asyncpg
        conn = await asyncpg.connect(self.dsn)
        try:
            deadline = time.monotonic() + self.max_s
            while not self._stop.is_set() and time.monotonic() < deadline:
                row = await conn.fetchrow(self.SQL, self.db_name)
                self.samples.append((time.time(), dict(row)))
                if row["longest_idle_tx"] >= 1.0:
                    c = await conn.fetchrow(self.CULPRIT_SQL, self.db_name)
                    if c is not None:
                        key = " ".join(str(c["query"]).split())
                        prev = self.culprits.get(key)
                        if prev is None or c["idle_s"] > prev[0]:
                            self.culprits[key] = (float(c["idle_s"]), key, int(c["waiters"] or 0),
                                                  " ".join(str(c["waiter_query"] or "").split()))
                await asyncio.sleep(self.interval_s)
        finally:
            await conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {}
        keys = self.samples[0][1].keys()
        out: dict[str, float] = {"samples": len(self.samples)}
        for k in keys:
            vals = [float(s[k]) for _, s in self.samples]
            out[f"{k}_max"] = max(vals)
            out[f"{k}_mean"] = sum(vals) / len(vals)
        out["share_with_adv_wait"] = sum(1 for _, s in self.samples if s["adv_wait"]) / len(self.samples)
        return out


# ================================================================ role: ws-clients

class _Sub:
    __slots__ = ("i", "recv", "sentinel", "naive", "complete", "error", "nmsg", "chars", "connected_at")

    def __init__(self, i: int) -> None:
        self.i = i
        self.recv: list[tuple[float, int]] = []  # (wall-clock receive time, unique message index)
        self.sentinel = False
        self.naive = 0  # expected seats received, counted per message (may double count)
        self.complete = False
        self.error: str | None = None
        self.nmsg = 0
        self.chars = 0
        self.connected_at = 0.0


async def ws_clients(spec: dict[str, Any]) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url: str = spec["url"]
    n: int = spec["n"]
    show_id: str = spec["show_id"]
    compression = "deflate" if spec.get("deflate", True) else None
    sentinel = set(spec["sentinel"])
    expected_index = {s: k for k, s in enumerate(spec["expected"])}
    n_expected = len(expected_index)
    hard_deadline = time.monotonic() + float(spec["max_s"])

    subs = [_Sub(i) for i in range(n)]
    unique: dict[tuple[str, ...], int] = {}
    unique_seats: list[list[str]] = []
    unique_expected: list[list[int]] = []  # indices into spec["expected"], per unique message
    unique_sentinel: list[bool] = []
    # ended: the server ended the subscription (error/complete message) — it can never become ready
    counters = {"connected": 0, "failed": 0, "ready": 0, "complete": 0, "closed": 0, "errors": 0, "ended": 0}
    sockets: list[Any] = []
    subscribe_msg = {"type": "subscribe", "payload": {"query": SEAT_CHANGES_SUBSCRIPTION,
                                                      "variables": {"id": show_id}}}
    sem = asyncio.Semaphore(int(spec.get("connect_concurrency", 50)))
    error_samples: list[str] = []

    # Positions (in spec["expected"]) every subscriber must receive; narrowed by an "expect" command
    # once the hold sender knows which holds succeeded.
    required: list[set[int] | None] = [None]

    def exact_complete(sub: _Sub) -> bool:
        seen = bytearray(n_expected)
        for _, idx in sub.recv:
            for k in unique_expected[idx]:
                seen[k] = 1
        need = required[0]
        if need is None:
            return seen.count(1) == n_expected
        return all(seen[k] for k in need)

    def need_count() -> int:
        return n_expected if required[0] is None else len(required[0])

    def on_message(sub: _Sub, raw: str | bytes, t: float) -> str | None:
        msg = orjson.loads(raw)
        kind = msg.get("type")
        if kind == "ping":
            return '{"type":"pong"}'
        if kind != "next":
            if kind in ("error", "complete"):
                if sub.error is None:
                    counters["ended"] += 1
                sub.error = f"{kind}: {json.dumps(msg.get('payload'))[:300]}"
                if len(error_samples) < 5:
                    error_samples.append(sub.error)
            return None
        payload = msg["payload"]
        if payload.get("errors"):
            sub.error = "errors: " + json.dumps(payload["errors"])[:300]
            counters["errors"] += 1
            return None
        seats = payload["data"]["seatChanges"]["seats"]
        key = tuple(s["seatId"] + s["status"][0] for s in seats)
        idx = unique.get(key)
        if idx is None:
            idx = unique[key] = len(unique_seats)
            ids = [s["seatId"] for s in seats]
            unique_seats.append(ids)
            unique_expected.append([expected_index[s] for s in ids if s in expected_index])
            unique_sentinel.append(any(s in sentinel for s in ids))
        sub.recv.append((t, idx))
        sub.nmsg += 1
        sub.chars += len(raw)
        if unique_sentinel[idx] and not sub.sentinel:
            sub.sentinel = True
            counters["ready"] += 1
        if not sub.complete and unique_expected[idx]:
            sub.naive += len(unique_expected[idx])
            if sub.naive >= need_count() and exact_complete(sub):
                sub.complete = True
                counters["complete"] += 1
        return None

    async def run_sub(sub: _Sub) -> None:
        try:
            async with sem:
                ws = await connect(url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                   compression=compression, max_size=2**24, open_timeout=60,
                                   ping_interval=None, close_timeout=2)
                sockets.append(ws)
                await ws.send('{"type":"connection_init","payload":{}}')
                ack = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
                if ack.get("type") != "connection_ack":
                    raise RuntimeError(f"no connection_ack: {ack}")
                await ws.send(orjson.dumps({**subscribe_msg, "id": f"s{sub.i}"}).decode())
            sub.connected_at = time.time()
            counters["connected"] += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported
            counters["failed"] += 1
            sub.error = f"connect: {type(exc).__name__}: {exc}"[:300]
            if len(error_samples) < 5:
                error_samples.append(sub.error)
            return
        try:
            for _ in range(10_000_000):
                raw = await ws.recv()
                reply = on_message(sub, raw, time.time())
                if reply is not None:
                    await ws.send(reply)
        except ConnectionClosed as exc:
            if sub.error is None:
                counters["closed"] += 1
            sub.error = sub.error or f"closed: {exc}"[:300]
            if len(error_samples) < 5:
                error_samples.append(sub.error)

    commands: asyncio.Queue[str] = asyncio.Queue()
    stdin_lines(asyncio.get_running_loop(), commands)
    tasks = [asyncio.create_task(run_sub(s)) for s in subs]
    announced: set[str] = set()
    last_progress = 0.0
    try:
        while time.monotonic() < hard_deadline:
            try:
                cmd = await asyncio.wait_for(commands.get(), 0.1)
            except asyncio.TimeoutError:
                cmd = ""
            if cmd == "stop":
                break
            if cmd.startswith("expect "):
                required[0] = {expected_index[s] for s in orjson.loads(cmd[7:]) if s in expected_index}
                for sub in subs:
                    if not sub.complete and sub.naive >= need_count() and exact_complete(sub):
                        sub.complete = True
                        counters["complete"] += 1
            if "connected" not in announced and counters["connected"] + counters["failed"] >= n:
                announced.add("connected")
                emit({"ev": "connected", "connected": counters["connected"], "failed": counters["failed"],
                      "errors": error_samples})
            gone = counters["ended"] + counters["closed"]
            if ("ready" not in announced and "connected" in announced
                    and counters["ready"] + gone >= counters["connected"]):
                announced.add("ready")
                emit({"ev": "ready", "ready": counters["ready"], "ended": gone, "errors": error_samples})
            if ("complete" not in announced and "ready" in announced
                    and counters["complete"] + gone >= counters["connected"]):
                announced.add("complete")
                emit({"ev": "complete", "complete": counters["complete"], "t": time.time()})
            if time.monotonic() - last_progress >= 1.0:
                last_progress = time.monotonic()
                emit({"ev": "progress", **counters, "messages": sum(s.nmsg for s in subs)})
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ws in sockets:
            ws.transport.abort()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    emit({"ev": "result", "counters": counters, "errors": error_samples,
          "unique_seats": unique_seats,
          "subs": [{"recv": s.recv, "complete": s.complete, "error": s.error, "nmsg": s.nmsg, "chars": s.chars,
                    "sentinel": s.sentinel} for s in subs],
          "cpu_s": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss})


# ================================================================ role: holds

async def holds(spec: dict[str, Any]) -> None:
    """spec: port, show_id, rate (holds/s), conns, timeout_s, query, holds: [{token, seats, key}]"""
    items: list[dict[str, Any]] = spec["holds"]
    rate = float(spec["rate"])
    conns: asyncio.Queue[HttpConn] = asyncio.Queue()
    for _ in range(int(spec["conns"])):
        conns.put_nowait(HttpConn("127.0.0.1", int(spec["port"])))
    results: list[dict[str, Any] | None] = [None] * len(items)
    timeout_s = float(spec.get("timeout_s", 30))

    async def one(i: int, scheduled: float) -> None:
        conn = await conns.get()
        sent = time.time()
        item = items[i]
        variables = {"input": {"showId": spec["show_id"], "seatIds": item["seats"], "idempotencyKey": item["key"]}}
        try:
            status, doc = await conn.post_graphql(spec["query"], variables, item["token"], timeout_s)
            t_resp = time.time()  # right after the response
            res = (doc.get("data") or {}).get("holdSeats") or {}
            outcome = res.get("__typename") or f"http_{status}:{json.dumps(doc.get('errors'))[:200]}"
        except Exception as exc:  # noqa: BLE001 - counted and reported
            t_resp = time.time()
            outcome = f"error:{type(exc).__name__}"
        finally:
            conns.put_nowait(conn)
        results[i] = {"scheduled": scheduled, "sent": sent, "resp": t_resp, "outcome": outcome}

    loop_t0 = time.time() + 0.05
    tasks = []
    for i in range(len(items)):
        at = loop_t0 + i / rate
        delay = at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, at)))
    await asyncio.wait(tasks, timeout=float(spec.get("max_s", timeout_s + 5)))
    for t in tasks:
        t.cancel()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    emit({"ev": "result", "results": results, "cpu_s": ru.ru_utime + ru.ru_stime})


# ================================================================ role: promoter

async def promoter(spec: dict[str, Any]) -> None:
    """spec: redis_url, namespace, lease_key, show_id, admit_per_minute, ttl_s, interval_s, max_s, owner"""
    from datetime import datetime, timezone

    from boxoffice.booking.promoter import Promoter, RedisPromoterLease
    from boxoffice.booking.redis_queue_store import RedisQueueStore, make_redis_client
    from boxoffice.booking.waiting_room import ShowRoomSettings, WaitingRoom

    redis = make_redis_client(spec["redis_url"])
    store = RedisQueueStore(redis, namespace=spec["namespace"])
    room = WaitingRoom(store, secret=spec["secret"], clock=lambda: datetime.now(timezone.utc))
    lease = RedisPromoterLease(redis, key=spec["lease_key"])
    log_rows: list[list[Any]] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    commands: asyncio.Queue[str] = asyncio.Queue()
    stdin_lines(loop, commands)

    class Logged(Promoter):
        async def step(self, list_shows: Any) -> Any:  # type: ignore[override]
            t0 = time.time()
            promotions = await super().step(list_shows)
            admitted = [tid for p in promotions for tid in p.admitted]
            log_rows.append([t0, time.time(), self.is_leader, admitted])
            return promotions

    settings = [ShowRoomSettings(show_id=spec["show_id"], admit_per_minute=int(spec["admit_per_minute"]),
                                 admission_ttl_s=int(spec["ttl_s"]))]

    async def list_shows() -> list[ShowRoomSettings]:
        return settings

    p = Logged(room, lease, interval_s=float(spec["interval_s"]), lease_ttl_s=float(spec.get("lease_ttl_s", 5.0)),
               owner_id=spec["owner"])
    emit({"ev": "started", "t": time.time()})

    async def watch() -> None:
        deadline = time.monotonic() + float(spec["max_s"])
        while time.monotonic() < deadline and not stop.is_set():
            try:
                cmd = await asyncio.wait_for(commands.get(), 0.2)
            except asyncio.TimeoutError:
                continue
            if cmd == "stop":
                break
        stop.set()

    watcher = asyncio.create_task(watch())
    stopped_at = None
    try:
        await p.run(list_shows, stop)
        stopped_at = time.time()
    finally:
        watcher.cancel()
        await redis.aclose()
    emit({"ev": "result", "owner": spec["owner"], "log": log_rows, "stopped_at": stopped_at})


# ================================================================ role: serve-traced (diagnostic)

def serve_traced(spec: dict[str, Any]) -> None:
    """`boxoffice serve --workers 1 --no-migrate` with tracemalloc on; SIGUSR1 writes a snapshot summary
    (top allocation sites by line and by file, traced current/peak) to spec["out"]-<n>.json.
    tracemalloc slows the server down: use it to attribute memory, never for latency figures."""
    import signal as _signal
    import tracemalloc

    tracemalloc.start(int(spec.get("frames", 1)))
    count = [0]

    def dump(signum: int, frame: Any) -> None:
        count[0] += 1
        current, peak = tracemalloc.get_traced_memory()
        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        by_line = [[str(st.traceback[0]), st.size, st.count] for st in snap.statistics("lineno")[:40]]
        by_file = [[str(st.traceback[0].filename), st.size, st.count] for st in snap.statistics("filename")[:25]]
        path = f"{spec['out']}-{count[0]}.json"
        with open(path + ".tmp", "w") as f:
            json.dump({"current": current, "peak": peak, "by_line": by_line, "by_file": by_file,
                       "rss_kb": vm_rss_kb(os.getpid())}, f)
        os.replace(path + ".tmp", path)

    _signal.signal(_signal.SIGUSR1, dump)
    import uvicorn
    uvicorn.run("boxoffice.app:create_app", factory=True, host="127.0.0.1", port=int(spec["port"]), workers=1,
                loop="uvloop", http="httptools", log_level="warning", proxy_headers=True,
                timeout_graceful_shutdown=5)


def main() -> None:
    role, spec_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as f:
        spec = json.load(f)
    raise_nofile()
    if role == "serve-traced":
        serve_traced(spec)
        return
    install_uvloop()
    fn = {"ws-clients": ws_clients, "holds": holds, "promoter": promoter}[role]
    asyncio.run(fn(spec))


if __name__ == "__main__":
    import importlib.util
    if importlib.util.find_spec("boxoffice") is None:  # normally installed (editable) or on PYTHONPATH
        sys.path.append(str(BENCH.parent))
    main()
