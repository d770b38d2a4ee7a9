"""One scaled-out deployment for the scale tests: a primary and its streaming replica, PgBouncer in
transaction mode, a Redis, three `boxoffice serve` processes and HAProxy in front of them."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.db import create_engine
from boxoffice.migrate import upgrade_to_head
from live_support import ServerProcess, free_port
from scale.infra import BIN, HAProxy, PgBouncer, Postgres, Redis, scratch_root, wait_for

HOSTS = 3


def prepare_primary(pg: Postgres) -> None:
    """Migrated, and with the statement timeouts on the role: behind PgBouncer the servers cannot send
    them at connection start (boxoffice/db.py)."""
    upgrade_to_head(pg.url)
    pg.sql("ALTER ROLE postgres SET statement_timeout = '15s'")
    pg.sql("ALTER ROLE postgres SET idle_in_transaction_session_timeout = '15s'")


def wait_streaming(primary: Postgres) -> None:
    wait_for(lambda: primary.sql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "1",
             "the replica to stream")


@dataclass
class Deployment:
    root: Path
    primary: Postgres
    replica: Postgres
    bouncer: PgBouncer
    redis: Redis
    servers: list[ServerProcess]
    balancer: HAProxy
    secret: str


def server_env(database_url_pooled: str, replica_url: str | None, public_url: str) -> dict[str, str]:
    env = {"BOXOFFICE_DATABASE_POOLED": "1", "BOXOFFICE_DB_POOL_SIZE": "4", "BOXOFFICE_REPLICA_MAX_LAG_S": "1",
           "BOXOFFICE_REPLICA_CHECK_S": "0.2", "BOXOFFICE_STRIPE_SIM_FAULTS": "1"}
    if replica_url:
        env["DATABASE_REPLICA_URL"] = replica_url
    if public_url:
        env["BOXOFFICE_PUBLIC_URL"] = public_url
    return env


class ScaleServer(ServerProcess):
    """`boxoffice serve` as ServerProcess starts it, given longer to become healthy: three of them
    starting at once beside a running suite on two cores can take more than its 30 s."""

    healthy_timeout_s = 120.0


def start_all(servers: list[ServerProcess]) -> None:
    with ThreadPoolExecutor(len(servers)) as pool:
        list(pool.map(lambda s: s.start(), servers))


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    assert os.geteuid() == 0 and BIN, "the scale tests run PostgreSQL and PgBouncer as the postgres user"
    assert shutil.which("pgbouncer") and shutil.which("haproxy"), ".ci/run installs pgbouncer and haproxy"
    root = scratch_root()
    primary = Postgres.primary(root)
    replica: Postgres | None = None
    bouncer: PgBouncer | None = None
    redis = Redis()
    servers: list[ServerProcess] = []
    balancer: HAProxy | None = None
    try:
        primary.start()
        prepare_primary(primary)
        replica = primary.replica(root)
        replica.start()
        wait_streaming(primary)
        bouncer = PgBouncer(root, primary)
        bouncer.start()
        redis.start()
        secret = "scale-" + uuid.uuid4().hex
        logs = tmp_path_factory.mktemp("scale")
        ports = [free_port() for _ in range(HOSTS)]
        balancer = HAProxy(root, ports)
        public_url = f"http://127.0.0.1:{balancer.port}"
        servers = [ScaleServer(bouncer.url, redis.url, secret, logs / f"host{i}", port=port,
                                 extra_env=server_env(bouncer.url, replica.url, public_url))
                   for i, port in enumerate(ports)]
        start_all(servers)
        balancer.start()
        yield Deployment(root, primary, replica, bouncer, redis, servers, balancer, secret)
    finally:
        for server in servers:
            server.stop()
        for part in (balancer, bouncer, redis):
            if part is not None:
                part.stop()
        for pg in (replica, primary):
            if pg is not None:
                pg.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def primary_engine(deployment: Deployment) -> AsyncIterator[AsyncEngine]:
    """Straight to the primary, for fixtures (shows, fans) and for checking what was stored."""
    engine = create_engine(deployment.primary.url, pool_size=2, max_overflow=2)
    yield engine
    await engine.dispose()


async def replica_metrics(url: str) -> dict[str, float]:
    """A server's boxoffice_replica_* figures from its /metrics."""
    async with httpx.AsyncClient(timeout=10) as client:
        body = (await client.get(f"{url}/metrics")).text
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(boxoffice_replica_\w+) (\S+)$", body, re.M)}
