"""Real Redis for waiting-room and rate-limit tests: a fresh key namespace per test, removed after."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from boxoffice.booking.waiting_room.redis_queue_store import make_redis_client


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = make_redis_client(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def redis_ns(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    ns = f"test-{uuid.uuid4().hex[:12]}"
    yield ns
    keys = [key async for key in redis_client.scan_iter(match=f"{ns}:*", count=1000)]
    if keys:
        await redis_client.delete(*keys)
