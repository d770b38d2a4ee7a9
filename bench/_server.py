"""The server under test: `boxoffice serve` as a subprocess in its own process group (or, to attribute
memory, the same app under tracemalloc), and the environment table every benchmark prints first."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from _common import BENCH, BIN, REDIS_URL, ROOT, log, table
from _db import on_postgres, pg_version


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(db_url: str, secret: str, data_dir: str, redis: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "BOXOFFICE_"))}
    env.update(DATABASE_URL=db_url, BOXOFFICE_SECRET=secret, BOXOFFICE_DATA_DIR=data_dir,
               STRIPE_WEBHOOK_SECRET="whsec_bench_" + secret[:16])
    if redis:
        env["REDIS_URL"] = REDIS_URL
        left = flush_bench_redis()
        if left:
            log(f"emptied the benches' Redis database ({left} keys left by an earlier run)")
    return env


def flush_bench_redis(url: str = REDIS_URL) -> int:
    """Empties the benches' own Redis database before a run, and returns how many keys it held. A run
    that ends with notifications still on the stream (a soak's hold expiries) would otherwise hand
    them to the next run's servers, which then spend their CPU dead-lettering another database's
    notifications instead of answering holds."""
    import redis
    client = redis.Redis.from_url(url)
    try:
        keys = int(client.dbsize())
        client.flushdb()
        return keys
    finally:
        client.close()


class GroupProcess:
    """A command in its own process group (so we stop exactly what we started), its output in log_path,
    started once GET /healthz answers and `ready()` agrees."""

    what = "process"
    poll_s = 0.2
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def spawn(self) -> tuple[dict[str, str], str]:
        """The environment and working directory of the process."""
        raise NotImplementedError

    def ready(self) -> bool:
        return True

    def start(self, timeout_s: float = 60) -> None:
        self._log = open(self.log_path, "wb")
        env, cwd = self.spawn()
        self.proc = subprocess.Popen(self.argv(), env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=cwd)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.what} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                    if r.status == 200 and self.ready():
                        return
            except OSError:
                pass
            time.sleep(self.poll_s)
        raise RuntimeError(f"{self.what} not healthy within {timeout_s} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def pids(self) -> list[int]:
        """The process and its children (e.g. uvicorn workers), for _meter.proc_cpu_s."""
        import psutil
        if self.proc is None:
            return []
        try:
            p = psutil.Process(self.proc.pid)
            return [p.pid, *(c.pid for c in p.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

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


class Server(GroupProcess):
    """`boxoffice serve` as a subprocess in its own process group."""

    what = "server"

    def __init__(self, env: dict[str, str], workers: int, log_level: str = "warning") -> None:
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.log_level = log_level
        self.proc = None
        self.log_path = Path(env["BOXOFFICE_DATA_DIR"]) / "server.log"

    def argv(self) -> list[str]:
        return [str(BIN / "boxoffice"), "serve", "--port", str(self.port), "--workers", str(self.workers),
                "--log-level", self.log_level, "--no-migrate"]

    def spawn(self) -> tuple[dict[str, str], str]:
        return self.env, self.env["BOXOFFICE_DATA_DIR"]

    def ready(self) -> bool:
        if self.workers > 1 and len(self.worker_pids()) < self.workers:
            return False
        time.sleep(0.5 if self.workers > 1 else 0.1)  # let every worker finish its lifespan
        return True

    def error_summary(self, limit: int = 8) -> list[str]:
        """Distinct error lines of the server log (exception types and messages), most frequent first."""
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


class TracedServer(Server):
    """The same app (boxoffice.app:create_app on uvicorn, 1 worker) run by `_live.py serve-traced` under
    tracemalloc; snapshot() has it write its top allocation sites. Timings and RSS are inflated."""

    def __init__(self, env: dict[str, str], log_level: str = "warning") -> None:
        super().__init__(env, 1, log_level)
        data_dir = env["BOXOFFICE_DATA_DIR"]
        self.spec_path = os.path.join(data_dir, "serve-traced.json")
        self.trace_out = os.path.join(data_dir, "tracemalloc")
        self._n = 0

    def argv(self) -> list[str]:
        return [sys.executable, str(BENCH / "_live.py"), "serve-traced", self.spec_path]

    def start(self, timeout_s: float = 60) -> None:
        with open(self.spec_path, "wb") as f:
            f.write(orjson.dumps({"port": self.port, "out": self.trace_out}))
        super().start(timeout_s)

    def snapshot(self, label: str, timeout_s: float = 120) -> dict[str, Any] | None:
        self._n += 1
        path = f"{self.trace_out}-{self._n}.json"
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not os.path.exists(path):
            time.sleep(0.2)
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            doc: dict[str, Any] = orjson.loads(f.read())
        doc["label"] = label
        return doc


# ---------------------------------------------------------------- the environment table

def versions() -> dict[str, str]:
    from importlib.metadata import version
    out = {"python": sys.version.split()[0], "nproc": str(os.cpu_count())}
    for pkg in ("strawberry-graphql", "graphql-core", "uvicorn", "starlette", "SQLAlchemy", "asyncpg", "redis"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # noqa: BLE001 - a missing package reads as "?"
            out[pkg] = "?"
    return out


def print_environment(extra: dict[str, Any] | None = None) -> None:
    """Versions, PostgreSQL, and which boxoffice code is measured: the repository (commit, and whether
    boxoffice/ or migrations/ have uncommitted changes; read-only git, no optional index writes) or a
    snapshot put first on PYTHONPATH (`git archive <commit> | tar -x -C DIR`, with DIR/COMMIT)."""
    import boxoffice
    v = versions()
    try:
        v["postgresql"] = asyncio.run(pg_version())
        v["postgresql autovacuum"] = asyncio.run(on_postgres("SHOW autovacuum"))
    except Exception:  # noqa: BLE001
        v["postgresql"] = "?"
    pkg_root = Path(boxoffice.__file__).resolve().parent.parent
    if pkg_root == ROOT.resolve():
        env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # others commit while we measure: never touch the index
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
