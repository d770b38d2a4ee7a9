"""The real programs of a scaled-out deployment, started and stopped by the tests: a PostgreSQL
primary and its streaming replica (run as the postgres user: PostgreSQL refuses root), PgBouncer in
transaction mode (which refuses root too), HAProxy in front of several `boxoffice serve` processes,
and a Redis of their own."""

from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from live_support import free_port, stop_process

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1] if glob.glob("/usr/lib/postgresql/*/bin") else ""


def as_postgres(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, text=True,
                          timeout=timeout)


def wait_for(condition, what: str, timeout: float = 30, every: float = 0.05):  # type: ignore[no-untyped-def]
    """Polls condition() until it returns something true; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


class Postgres:
    """One cluster in a folder of its own, listening on a Unix socket there only (a TCP port picked up
    front could be taken by anyone while the cluster is down; see tests/faults/test_database_restart.py)."""

    def __init__(self, root: Path, name: str) -> None:
        self.dir = root / name
        self.data = self.dir / "data"
        self.log = self.dir / "log"

    @classmethod
    def primary(cls, root: Path, name: str = "primary") -> Postgres:
        pg = cls(root, name)
        pg.dir.mkdir()
        shutil.chown(pg.dir, "postgres", "postgres")
        as_postgres([f"{BIN}/initdb", "-D", str(pg.data), "-A", "trust", "-U", "postgres", "--no-sync"])
        with open(pg.data / "postgresql.conf", "a") as conf:
            # Small and fast: fsync off (a test cluster), room for the drills' connections.
            conf.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 60\n"
                       "shared_buffers = 32MB\nwal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n"
                       "wal_keep_size = 256MB\n")
        return pg

    def replica(self, root: Path, name: str = "replica") -> Postgres:
        """A streaming replica of this (running) cluster: pg_basebackup with -R."""
        replica = Postgres(root, name)
        replica.dir.mkdir()
        shutil.chown(replica.dir, "postgres", "postgres")
        as_postgres([f"{BIN}/pg_basebackup", "-h", str(self.dir), "-p", "5432", "-U", "postgres", "-D",
                     str(replica.data), "-R", "-X", "stream", "--no-sync", "-c", "fast"])
        return replica

    def start(self) -> None:
        as_postgres([f"{BIN}/pg_ctl", "-D", str(self.data), "-w", "-l", str(self.log),
                     "-o", f"-p 5432 -k {self.dir} -c listen_addresses=''", "start"])

    def stop(self, mode: str = "fast") -> None:
        as_postgres([f"{BIN}/pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop"])

    def promote(self) -> None:
        as_postgres([f"{BIN}/pg_ctl", "-D", str(self.data), "-w", "promote"])

    def sql(self, statement: str) -> str:
        return as_postgres([f"{BIN}/psql", "-h", str(self.dir), "-p", "5432", "-U", "postgres", "-d", "postgres",
                            "-At", "-c", statement], timeout=30).stdout.strip()

    def sql_ok(self) -> bool:
        try:
            self.sql("SELECT 1")
            return True
        except subprocess.CalledProcessError:
            return False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.dir}&port=5432"

    def destroy(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", f"{BIN}/pg_ctl", "-D", str(self.data), "-m",
                        "immediate", "stop"], capture_output=True)


class PgBouncer:
    """PgBouncer in transaction mode in front of `primary` (as database `postgres`)."""

    def __init__(self, root: Path, primary: Postgres, pool_size: int = 8) -> None:
        self.dir = root / "pgbouncer"
        self.dir.mkdir()
        self.port = free_port()
        (self.dir / "users.txt").write_text('"postgres" ""\n')
        (self.dir / "pgbouncer.ini").write_text(f"""[databases]
postgres = host={primary.dir} port=5432 dbname=postgres
; The same database through a pool of one server connection: every client's transaction shares it.
one_server = host={primary.dir} port=5432 dbname=postgres pool_size=1
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir}/users.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 1000
server_login_retry = 1
query_wait_timeout = 10
logfile = {self.dir}/pgbouncer.log
pidfile = {self.dir}/pgbouncer.pid
""")
        subprocess.run(["chown", "-R", "postgres:postgres", str(self.dir)], check=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # -u: it refuses to run as root, and switches to postgres itself (its pid is then ours to signal).
        self.proc = subprocess.Popen(["pgbouncer", "-u", "postgres", str(self.dir / "pgbouncer.ini")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self._answers(), "pgbouncer to listen")

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"pgbouncer exited: {(self.dir / 'pgbouncer.log').read_text()[-2000:]}")
        try:
            as_postgres([f"{BIN}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                         "-Atc", "SELECT 1"], timeout=5)
            return True
        except subprocess.CalledProcessError:
            return False

    def stop(self) -> None:
        # SIGTERM is PgBouncer 1.18's immediate shutdown: every client connection is cut.
        stop_process(self.proc)

    def server_connections(self) -> int:
        """Server connections PgBouncer has open to PostgreSQL now (SHOW POOLS: sv_active + sv_idle + ...)."""
        out = as_postgres([f"{BIN}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "pgbouncer",
                           "-At", "-F", ",", "-c", "SHOW POOLS"], timeout=10).stdout
        total = 0
        for line in out.splitlines():
            cols = line.split(",")
            if cols[0] == "postgres":
                total += sum(int(c) for c in cols[6:10])  # sv_active, sv_idle, sv_used, sv_tested
        return total

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def one_server_url(self) -> str:
        """The database through a pool of a single server connection (`one_server` above)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/one_server"


class HAProxy:
    """HTTP and WebSocket round robin over `backends` (host ports), health-checked on /healthz."""

    def __init__(self, root: Path, backends: list[int]) -> None:
        self.dir = root / "haproxy"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        # Checks patient enough for a busy two-core box: a /healthz slower than a second is not a dead host.
        servers = "\n".join(f"    server api{i} 127.0.0.1:{port} check inter 1s fall 3 rise 1"
                            for i, port in enumerate(backends))
        (self.dir / "haproxy.cfg").write_text(f"""global
    maxconn 4000
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    option http-server-close
frontend api
    bind 127.0.0.1:{self.port}
    default_backend servers
backend servers
    balance roundrobin
    option httpchk GET /healthz
    timeout check 5s
    retry-on conn-failure empty-response
    retries 2
{servers}
""")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.dir / "haproxy.cfg")],
                                     stdout=subprocess.DEVNULL, stderr=open(self.dir / "haproxy.log", "ab"))
        wait_for(lambda: self._healthy(), "haproxy to answer")

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"haproxy exited: {(self.dir / 'haproxy.log').read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        stop_process(self.proc)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL)
        wait_for(lambda: subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True,
                                        text=True).stdout.strip() == "PONG", "redis")

    def stop(self) -> None:
        stop_process(self.proc)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def scratch_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="bo-scale-", dir="/tmp"))
    shutil.chown(root, "postgres", "postgres")
    return root
