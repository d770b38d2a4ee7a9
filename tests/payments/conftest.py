"""Fixtures for the payments tests: a real simulator server (see sim_harness),
driven over HTTP with the real stripe SDK through StripeGateway."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from boxoffice.db import create_engine
from boxoffice.payments.gateway import StripeGateway
from boxoffice.payments.simulator import SimulatorStore

from .sim_harness import API_KEY, AUTH, WEBHOOK_SECRET, SimulatorServer

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def sim_database_url() -> Iterator[str]:
    """A database of our own: the app under test elsewhere in the run mounts a simulator too,
    and its delivery worker must not pick up (and misdeliver) these tests' webhooks.
    The simulator needs no migrations."""
    name = f"boxoffice_sim_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def sim_server(sim_database_url: str) -> Iterator[SimulatorServer]:
    server = SimulatorServer(sim_database_url)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def sim_store(sim_database_url: str, sim_server: SimulatorServer
                    ) -> AsyncIterator[SimulatorStore]:
    """Test-side view of the same state (own engine, on the tests' loop)."""
    engine = create_engine(sim_database_url, pool_size=5, max_overflow=5)
    yield SimulatorStore(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
async def gateway(sim_server: SimulatorServer) -> AsyncIterator[StripeGateway]:
    gw = StripeGateway(API_KEY, f"{sim_server.base_url}/stripe-sim", WEBHOOK_SECRET,
                       timeout_s=2.0, max_attempts=4, backoff_s=0.05, backoff_cap_s=0.2)
    yield gw
    await gw.aclose()


@pytest.fixture(scope="session")
async def http(sim_server: SimulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim_server.base_url, timeout=10) as client:
        yield client


@pytest.fixture(autouse=True)
async def reset_faults(sim_server: SimulatorServer, http: httpx.AsyncClient
                       ) -> AsyncIterator[None]:
    assert (await http.post("/stripe-sim/_faults", json={}, headers=AUTH)).status_code == 200
    yield
    await http.post("/stripe-sim/_faults", json={}, headers=AUTH)
