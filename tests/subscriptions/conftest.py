"""Fixtures for the event bus and seat hub: real Redis only, no fakes of Redis."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from redis import asyncio as aioredis

from boxoffice.subscriptions.bus import EventBus

from .helpers import FAST, RedisProcess


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server binary not installed")
    proc = RedisProcess()
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client to look at the server side (PUBSUB NUMSUB)."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.skip(f"Redis not reachable at {redis_url}: {exc}")
    yield client
    await client.aclose()


@pytest.fixture
async def redis_bus(redis_url: str, redis_client: aioredis.Redis) -> AsyncIterator[EventBus]:
    async with EventBus(redis_url, settings=FAST) as bus:
        yield bus


@pytest.fixture
async def memory_bus() -> AsyncIterator[EventBus]:
    async with EventBus(None) as bus:
        yield bus
