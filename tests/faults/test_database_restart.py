"""PostgreSQL goes away under load and comes back: 503 on /healthz meanwhile, no 500s, recovery alone."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import httpx
import pytest

from boxoffice.db import create_engine
from boxoffice.migrate import upgrade_to_head
from booking.fixtures_db import make_show
from live_support import ServerProcess, fan_tokens

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1] if glob.glob("/usr/lib/postgresql/*/bin") else ""
HOLD = """mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename ... on Hold { id } } }"""


class PrivatePostgres:
    """A throw-away PostgreSQL cluster of the machine's binaries, run as the postgres user.

    It listens on a Unix socket in its own folder only. A TCP port picked up front is free for anyone
    while the cluster is down (before its first start and across the restart): under a busy suite
    another server, or an outgoing connection given it as its local port, can take it, and the start
    then fails with "Address already in use"."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="bo-pg-", dir="/tmp")
        self.port = 5432  # names the socket file only
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres([f"{BIN}/initdb", "-D", f"{self.dir}/data", "-A", "trust", "-U", "postgres"])

    def _as_postgres(self, cmd: list[str]) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._as_postgres([f"{BIN}/pg_ctl", "-D", f"{self.dir}/data", "-w", "-l", f"{self.dir}/log",
                           "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=''", "start"])

    def stop(self) -> None:
        self._as_postgres([f"{BIN}/pg_ctl", "-D", f"{self.dir}/data", "-w", "-m", "fast", "stop"])

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.dir}&port={self.port}"

    def destroy(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", f"{BIN}/pg_ctl", "-D", f"{self.dir}/data", "-m",
                        "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0 or not BIN, reason="needs root to run a private PostgreSQL as postgres")
async def test_server_survives_a_database_restart(tmp_path) -> None:
    pg = PrivatePostgres()
    pg.start()
    secret = "pg-restart-" + uuid.uuid4().hex
    server = ServerProcess(pg.url, None, secret, tmp_path / "srv")
    engine = create_engine(pg.url, pool_size=3)
    try:
        await asyncio.to_thread(upgrade_to_head, pg.url)
        show, seats, _ = await make_show(engine, seats=200, ga=1, max_tickets=100)
        token, = await fan_tokens(engine, secret, 1)
        await engine.dispose()
        server.start()
        statuses: list[int] = []
        bodies: list[str] = []

        async def hold_once(client: httpx.AsyncClient, seat: str) -> None:
            r = await client.post(f"{server.url}/graphql", headers={"Authorization": f"Bearer {token}"},
                                  json={"query": HOLD, "variables": {"i": {"showId": str(show.id), "seatIds": [seat],
                                                                           "idempotencyKey": uuid.uuid4().hex}}})
            statuses.append(r.status_code)
            bodies.append(r.text)

        async with httpx.AsyncClient(timeout=20) as client:
            await hold_once(client, seats[0])
            assert bodies[-1].count('"Hold"') == 1
            pg.stop()
            health = (await client.get(f"{server.url}/healthz")).status_code
            for seat in seats[1:6]:  # requests while the database is away
                await hold_once(client, seat)
            pg.start()
            recovered_at = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if (await client.get(f"{server.url}/healthz")).status_code == 200:
                    recovered_at = time.monotonic()
                    break
                await asyncio.sleep(0.2)
            assert recovered_at is not None, "the server did not recover by itself"
            await hold_once(client, seats[10])
        assert health == 503
        assert all(s < 500 for s in statuses), statuses
        assert not any("Traceback" in b or "asyncpg" in b or "sqlalchemy" in b.lower() for b in bodies), bodies
        assert '"Hold"' in bodies[-1]  # holds work again, without a restart of the server
    finally:
        server.stop()
        await engine.dispose()
        pg.destroy()
