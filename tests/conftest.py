"""Shared fixtures: a fresh PostgreSQL database per test run, migrated to head."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.db import create_engine

if TYPE_CHECKING:
    from support import Api

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def fresh_database() -> Iterator[str]:
    """A brand-new migrated database; dropped afterwards."""
    import asyncio

    name = f"boxoffice_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    from boxoffice.migrate import upgrade_to_head

    upgrade_to_head(url)
    yield url
    if not os.environ.get("KEEP_TEST_DB"):
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """The run's database, shared by the test servers (as one deployment's processes would)."""
    yield from fresh_database()


@pytest.fixture
def private_database_url() -> Iterator[str]:
    """A database of one test's own: its servers' background jobs meet no other deployment's."""
    yield from fresh_database()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    # Ten kept, up to thirty at once: idle connections kept here are PostgreSQL slots the suite's
    # servers and simulators (which share its 100) cannot have.
    eng = create_engine(database_url, pool_size=10, max_overflow=20)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
async def api(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator["Api"]:
    """The real app served by uvicorn on a free port, in the tests' own event loop.

    A real HTTP server because the Stripe SDK reaches the built-in simulator over HTTP, and
    subscriptions need WebSockets; one loop so tests can use the app's engine directly.
    """
    import httpx
    import uvicorn

    from boxoffice.app import create_app
    from boxoffice.config import Settings
    from live_support import serving
    from support import Api

    import redis as sync_redis

    port = free_port()
    # On Redis like every other server of the run: they all share the database, so whichever
    # process sweeps an expired hold must publish where every subscriber listens. Db 14 is this
    # server's own (emptied first: Redis outlives test runs); pub/sub channels span all dbs.
    api_redis = "redis://127.0.0.1:6379/14"
    sync_redis.Redis.from_url(api_redis).flushdb()
    settings = Settings(database_url=database_url, redis_url=api_redis, secret="test-secret-" + uuid.uuid4().hex,
                        data_dir=tmp_path_factory.mktemp("data"), hold_sweep_interval_s=0.2,
                        seat_delta_window_ms=50, stripe_webhook_secret="whsec_test_" + uuid.uuid4().hex,
                        public_url=f"http://127.0.0.1:{port}", stripe_timeout_s=2.0,
                        stripe_sim_faults=True,  # tests switch the simulator's faults on and off
                        db_pool_size=10)  # PostgreSQL's 100 connections are the whole suite's
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="websockets",
                            # Longer than any pause between tests: the client reuses connections, and a
                            # server-side close mid-reuse is a ReadError.
                            timeout_keep_alive=600)
    async with serving(config), httpx.AsyncClient(base_url=settings.public_url, timeout=30) as client:
        yield Api(client, app.state.services, port)


@pytest.fixture(scope="session")
def secret() -> str:
    """BOXOFFICE_SECRET of the server processes in `cluster`."""
    return "cluster-secret-" + uuid.uuid4().hex


@pytest.fixture(scope="session")
def cluster(database_url: str, secret: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list]:
    """Two `boxoffice serve` processes (A and B) on the test database and a private Redis db number."""
    import random

    from live_support import ServerProcess

    redis_url = f"redis://127.0.0.1:6379/{random.randint(3, 13)}"  # 14 is the api fixture's
    servers = [ServerProcess(database_url, redis_url, secret, tmp_path_factory.mktemp(f"srv{i}")) for i in range(2)]
    try:
        for i, server in enumerate(servers):
            server.start(fresh_redis=i == 0)
        yield servers
    finally:
        for server in servers:
            server.stop()
