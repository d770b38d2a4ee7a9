"""PostgreSQL for the benchmarks: scratch databases, free connection slots (others share this server),
activity sampling, and the `boxoffice audit` run after a benchmark."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import threading
import time
from typing import Any

from _common import BIN, PG_HOST, PG_PORT, PG_USER, log


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


async def on_postgres(sql: str, value: bool = True) -> Any:
    """One statement on the maintenance database; DDL goes by the simple protocol (value=False)."""
    conn = await connect_retry(pg_url("postgres"))
    try:
        return await conn.fetchval(sql) if value else await conn.execute(sql)
    finally:
        await conn.close()


class BenchDatabase:
    """CREATE DATABASE bo_bench_<random> … DROP DATABASE (unless kept)."""

    def __init__(self, prefix: str = "bo_bench") -> None:
        self.name = f"{prefix}_{secrets.token_hex(4)}"
        self.url = pg_url(self.name)

    async def create(self) -> None:
        await on_postgres(f'CREATE DATABASE "{self.name}"', value=False)

    async def drop(self) -> None:
        await on_postgres(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)', value=False)

    def migrate(self, env: dict[str, str]) -> None:
        out = subprocess.run([str(BIN / "boxoffice"), "migrate"], env=env, capture_output=True, text=True,
                             timeout=300, cwd=env.get("BOXOFFICE_DATA_DIR"))
        if out.returncode != 0:
            raise RuntimeError(f"boxoffice migrate failed:\n{out.stdout}\n{out.stderr}")


def dispose_scratch(db: BenchDatabase | None, workdir: str, keep: bool) -> None:
    """The end of every benchmark: drop its database and work dir, or say where they were kept."""
    if keep:
        print(f"\nkept database {db.name} ({db.url}); work dir {workdir}" if db else f"\nkept work dir {workdir}")
        return
    if db is not None:
        try:
            asyncio.run(db.drop())
        except Exception as err:  # noqa: BLE001 - reported; the run's figures are already out
            log(f"could not drop {db.name}: {err}")
    shutil.rmtree(workdir, ignore_errors=True)


async def pg_version() -> str:
    return str(await on_postgres("SHOW server_version"))


async def free_connections() -> int:
    """Connection slots PostgreSQL has left now (others share this server)."""
    return int(await on_postgres(
        "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int "
        "- (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"))


def wait_pg_slots(want: int, max_wait_s: float) -> int:
    """Others share this PostgreSQL (max_connections 100): wait (bounded) until `want` slots are free."""
    deadline = time.monotonic() + max_wait_s
    free = asyncio.run(free_connections())
    while free < want and time.monotonic() < deadline:
        log(f"PostgreSQL has {free} free connection slots (want {want}): waiting")
        time.sleep(3.0)
        free = asyncio.run(free_connections())
    return free


# ---------------------------------------------------------------- after a run

def run_audit(env: dict[str, str]) -> tuple[int, str]:
    """`boxoffice audit` on the run's database: (exit code, its output)."""
    out = subprocess.run([str(BIN / "boxoffice"), "audit"], env=env, capture_output=True, text=True, timeout=600,
                         cwd=env["BOXOFFICE_DATA_DIR"])
    return out.returncode, (out.stdout + out.stderr).strip()


async def _release_orphan_holds(db_url: str) -> None:
    conn = await connect_retry(db_url)
    try:
        await conn.execute("UPDATE show_seats SET status = 'A', hold_id = NULL, hold_expires_at = NULL "
                           "WHERE status = 'H' AND hold_id NOT IN (SELECT id FROM holds)")
    finally:
        await conn.close()


def audit_app_holds(env: dict[str, str], label: str) -> int:
    """Bare-SQL variants hold seats under hold ids with no hold row (they are not the app): put those
    seats back on sale, then `boxoffice audit` checks what the app did. Prints it; returns its exit code."""
    asyncio.run(_release_orphan_holds(env["DATABASE_URL"]))
    rc, out = run_audit(env)
    print(f"\n$ boxoffice audit ({label})\n{out}  (exit {rc})")
    return rc


# ---------------------------------------------------------------- lock/activity sampler

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
