"""Rate limits on real Redis and in process, on a simulated clock."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from boxoffice.booking.rate_limits import (
    HOLD,
    InProcessRateLimiter,
    RateLimit,
    RateLimiter,
    RateLimitPolicy,
    RedisRateLimiter,
)
from boxoffice.booking.redis_pipe import RedisPipe
from boxoffice.booking.redis_queue_store import make_redis_client


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Limiters:
    """Limiters sharing one state; `new()` is another server process."""

    def __init__(self, kind: str, redis_url: str, ns: str, clock: Clock) -> None:
        self.kind, self._url, self._ns, self.clock = kind, redis_url, ns, clock
        self._clients: list[aioredis.Redis] = []
        self._limiters: list[RedisRateLimiter] = []
        self._memory = InProcessRateLimiter(clock=clock)

    def new(self) -> RateLimiter:
        if self.kind == "memory":
            return self._memory
        client = make_redis_client(self._url)
        self._clients.append(client)
        pipe = RedisPipe(self._url) if self.kind == "redis pipe" else None
        limiter = RedisRateLimiter(client, clock=self.clock, namespace=self._ns, pipe=pipe)
        self._limiters.append(limiter)
        return limiter

    async def close(self) -> None:
        for limiter in self._limiters:
            limiter.close()
        for client in self._clients:
            await client.aclose()


@pytest.fixture(params=["memory", "redis", "redis pipe"])
async def limiters(request: pytest.FixtureRequest, redis_url: str, redis_ns: str) -> AsyncIterator[Limiters]:
    lim = Limiters(request.param, redis_url, redis_ns, Clock())
    yield lim
    await lim.close()


async def test_allows_within_the_limit_then_rejects_with_a_retry_hint(limiters: Limiters) -> None:
    limiter = limiters.new()
    for _ in range(5):
        assert (await limiter.check("log_in:email", "fan@example.com", 5, 10)).allowed
    denied = await limiter.check("log_in:email", "fan@example.com", 5, 10)
    assert not denied.allowed
    assert denied.retry_after_s == pytest.approx(2.0, abs=0.01)  # one slot refills every 10/5 s

    limiters.clock.advance(1.0)
    allowed, retry_after_s = await limiter.check("log_in:email", "fan@example.com", 5, 10)  # unpacks too
    assert not allowed and retry_after_s == pytest.approx(1.0, abs=0.01)
    limiters.clock.advance(1.0)
    assert (await limiter.check("log_in:email", "fan@example.com", 5, 10)).allowed
    assert not (await limiter.check("log_in:email", "fan@example.com", 5, 10)).allowed

    limiters.clock.advance(10)  # a quiet period refills the whole burst
    results = [(await limiter.check("log_in:email", "fan@example.com", 5, 10)).allowed for _ in range(6)]
    assert results == [True] * 5 + [False]


async def test_scopes_and_keys_are_independent(limiters: Limiters) -> None:
    limiter = limiters.new()
    assert (await limiter.check("sign_up", "10.0.0.1", 1, 60)).allowed
    assert not (await limiter.check("sign_up", "10.0.0.1", 1, 60)).allowed
    assert (await limiter.check("sign_up", "10.0.0.2", 1, 60)).allowed
    assert (await limiter.check("log_in:address", "10.0.0.1", 1, 60)).allowed


async def test_processes_share_the_limit(limiters: Limiters) -> None:
    a, b = limiters.new(), limiters.new()
    decisions = await asyncio.gather(*((a if i % 2 else b).check("payment", "user-1", 10, 60) for i in range(30)))
    assert sum(d.allowed for d in decisions) == 10


async def test_default_hold_limit_lets_an_honest_fan_through_and_stops_a_bot(limiters: Limiters) -> None:
    policy = RateLimitPolicy()
    assert (policy.hold_per_user.limit, policy.hold_per_user.period_s) == (20, 10)
    limiter = limiters.new()
    # A fan retrying a hold twice a second through a whole minute of a flash sale.
    for _ in range(120):
        assert (await limiter.check_limit(HOLD, "fan", policy.hold_per_user)).allowed
        limiters.clock.advance(0.5)
    # A script firing 50 a second gets its burst and then the refill rate only.
    allowed = 0
    for _ in range(500):
        allowed += (await limiter.check_limit(HOLD, "bot", policy.hold_per_user)).allowed
        limiters.clock.advance(0.02)
    assert 20 + 2 * 10 - 1 <= allowed <= 20 + 2 * 10 + 1


async def test_rejects_a_nonsense_limit(limiters: Limiters) -> None:
    with pytest.raises(ValueError):
        await limiters.new().check_limit("x", "k", RateLimit(0, 10))
    with pytest.raises(ValueError):
        await limiters.new().check("x", "k", 5, 0)


async def test_in_process_limiter_prunes_spent_keys() -> None:
    clock = Clock()
    limiter = InProcessRateLimiter(clock=clock, prune_above=10)
    for i in range(50):
        assert (await limiter.check("sign_up", f"addr-{i}", 1, 1)).allowed
        clock.advance(2)
    assert len(limiter._tat) <= 11
    assert (await limiter.check("sign_up", "addr-49", 1, 1)).allowed


async def test_redis_down_fails_open_fast() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0")  # redis-py's slow default retries
    limiter = RedisRateLimiter(client, timeout_s=0.25)
    try:
        started = time.monotonic()
        for _ in range(3):
            decision = await limiter.check("hold", "fan", 1, 60)
            assert decision.allowed and decision.retry_after_s == 0
        assert time.monotonic() - started < 1.5
    finally:
        await client.aclose()


async def test_redis_down_fails_open_fast_on_the_pipe_too() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"
    client = aioredis.Redis.from_url(url)
    limiter = RedisRateLimiter(client, pipe=RedisPipe(url, timeout_s=0.25))
    try:
        started = time.monotonic()
        for _ in range(3):
            assert await limiter.check("hold", "fan", 1, 60) == (True, 0.0)
        assert time.monotonic() - started < 1.5
    finally:
        limiter.close()
        await client.aclose()


async def test_the_pipe_runs_the_script_on_a_redis_that_lost_it(redis_client: aioredis.Redis,
                                                                  redis_url: str, redis_ns: str) -> None:
    limiter = RedisRateLimiter(redis_client, namespace=redis_ns, pipe=RedisPipe(redis_url))
    # As after a Redis restart: the script's digest is unknown to this Redis (without flushing
    # the scripts of everyone else sharing it).
    limiter._script.sha = hashlib.sha1(uuid.uuid4().bytes).hexdigest()
    try:
        assert (await limiter.check("hold", "fan", 1, 60)).allowed  # NOSCRIPT, then EVAL
        assert not (await limiter.check("hold", "fan", 1, 60)).allowed
    finally:
        limiter.close()


async def test_redis_keys_do_not_hold_emails_in_clear(redis_client: aioredis.Redis, redis_ns: str) -> None:
    limiter = RedisRateLimiter(redis_client, namespace=redis_ns)
    await limiter.check("log_in:email", "fan@example.com", 5, 60)
    keys = [k.decode() async for k in redis_client.scan_iter(match=f"{redis_ns}:*")]
    assert len(keys) == 1 and "example.com" not in keys[0]
    ttl_ms = await redis_client.pttl(keys[0])
    assert 0 < ttl_ms <= 12_100  # the key lives only until its bucket is full again
