"""Rate limits: GCRA (a token bucket in one timestamp) on Redis or in process.

`check(scope, key, limit, period_s)` allows a burst of up to `limit` calls,
refilling evenly at `limit` per `period_s`; beyond that it says how long to
wait. One key per (scope, key), holding the "theoretical arrival time", so a
limit costs O(1) memory whatever its size.

Fail open. When Redis is unreachable the Redis limiter allows the call (and
logs, at most once a minute). Rate limits shield capacity and slow abuse;
they guard no invariant: PostgreSQL enforces seat ownership, GA capacity and
per-user ticket caps, and the waiting room (which fails closed) gates holds
during a flash sale. Refusing every sign-in because Redis blinked would be the
worse outage.

Keys in Redis are hashed (`rl:<scope>:<blake2b of key>`) so email addresses
and IPs are not stored in clear and key length stays bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .redis_pipe import RedisPipe, RedisPipeError, ReplyError

log = logging.getLogger(__name__)


class RateDecision(NamedTuple):
    """A tuple, so `allowed, retry_after_s = await limiter.check(...)` works too."""

    allowed: bool
    # Seconds until a call would be allowed; 0 when allowed.
    retry_after_s: float


@dataclass(frozen=True)
class RateLimit:
    limit: int
    period_s: float


# Scope names, so every caller keys the same limit the same way.
SIGN_UP = "sign_up"
LOG_IN_ADDRESS = "log_in:address"
LOG_IN_EMAIL = "log_in:email"
HOLD = "hold"
PAYMENT = "payment"


@dataclass(frozen=True)
class RateLimitPolicy:
    """Defaults sized for honest use with headroom; keys say what each is per."""

    # Per client address; generous because offices, campuses and mobile
    # carriers put many people behind one address.
    sign_up_per_address: RateLimit = RateLimit(20, 3600)
    log_in_per_address: RateLimit = RateLimit(60, 600)
    # Per email (lower-cased). Count failed attempts only, or anyone can lock a
    # fan out by guessing at their address.
    log_in_per_email: RateLimit = RateLimit(10, 900)
    # Per user: a fan in a flash sale holds and retries a few times a second at most.
    hold_per_user: RateLimit = RateLimit(20, 10)
    # Per user: confirmations, including retries after a declined card.
    payment_per_user: RateLimit = RateLimit(10, 60)


class RateLimiter(ABC):
    @abstractmethod
    async def check(self, scope: str, key: str, limit: int, period_s: float) -> RateDecision:
        """Counts one call against (scope, key) if allowed."""

    async def check_limit(self, scope: str, key: str, rule: RateLimit) -> RateDecision:
        return await self.check(scope, key, rule.limit, rule.period_s)

    def close(self) -> None:
        """Closes connections the limiter opened itself (none unless said otherwise)."""


def _gcra(tat_us: int | None, now_us: int, limit: int, period_us: int) -> tuple[RateDecision, int | None]:
    """(decision, new theoretical arrival time or None when rejected); the Lua mirrors this.

    Integer microseconds: exact in Python and in Lua's doubles (below 2**53),
    where float seconds near the epoch would flip a decision by rounding.
    """
    interval = max(1, period_us // limit)  # rounded down, so a full burst of `limit` always fits
    tat = now_us if tat_us is None or tat_us < now_us else tat_us
    allow_at = tat + interval - period_us
    if now_us < allow_at:
        return RateDecision(False, (allow_at - now_us) / 1e6), None
    return RateDecision(True, 0.0), tat + interval


def _validate(limit: int, period_s: float) -> int:
    """The period in whole microseconds."""
    if limit < 1 or not period_s > 0 or not math.isfinite(period_s):
        raise ValueError("a rate limit needs limit >= 1 and a positive, finite period")
    return max(1, round(period_s * 1e6))


def _micros(seconds: float) -> int:
    return round(seconds * 1e6)


class InProcessRateLimiter(RateLimiter):
    """For one process without Redis. Memory is bounded by pruning spent keys."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, prune_above: int = 10_000) -> None:
        self._clock = clock
        self._prune_above = prune_above
        self._tat: dict[tuple[str, str], int] = {}

    async def check(self, scope: str, key: str, limit: int, period_s: float) -> RateDecision:
        period_us = _validate(limit, period_s)
        now = _micros(self._clock())
        decision, new_tat = _gcra(self._tat.get((scope, key)), now, limit, period_us)
        if new_tat is not None:
            self._tat[(scope, key)] = new_tat
            if len(self._tat) > self._prune_above:
                # A key whose TAT has passed is a full bucket: same as absent.
                self._tat = {k: v for k, v in self._tat.items() if v > now}
        return decision


# KEYS: the limit's key; ARGV: now, interval, period (integer microseconds)
_GCRA = """
local now, interval, period = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
if not tat or tat < now then tat = now end
local allow_at = tat + interval - period
if now < allow_at then return {0, string.format('%.0f', allow_at - now)} end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, '0'}
"""


class RedisRateLimiter(RateLimiter):
    """Shared across processes. `clock` is wall time (all servers NTP-synced).

    With `pipe`, the script runs over that one pipelined connection instead of `redis`'s
    pool: a fraction of redis-py's CPU per call, which matters at thousands of holds a second.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        clock: Callable[[], float] = time.time,
        namespace: str = "rl",
        timeout_s: float = 0.25,
        pipe: RedisPipe | None = None,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._ns = namespace
        self._timeout_s = timeout_s
        self._script = redis.register_script(_GCRA)
        self._pipe = pipe
        self._last_outage_log = -math.inf

    def _key(self, scope: str, key: str) -> str:
        digest = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        return f"{self._ns}:{scope}:{digest}"

    async def check(self, scope: str, key: str, limit: int, period_s: float) -> RateDecision:
        period_us = _validate(limit, period_s)
        args = [_micros(self._clock()), max(1, period_us // limit), period_us]
        try:
            if self._pipe is not None:
                allowed, retry = await self._run_on_pipe(self._pipe, self._key(scope, key), args)
            else:
                async with asyncio.timeout(self._timeout_s):
                    allowed, retry = await self._script(keys=[self._key(scope, key)], args=args)
        except (RedisError, RedisPipeError, OSError, TimeoutError):
            self._log_outage()
            return RateDecision(True, 0.0)  # fail open: see the module docstring
        retry_us = int(retry.decode() if isinstance(retry, bytes) else retry)
        return RateDecision(bool(int(allowed)), max(0.0, retry_us / 1e6))

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()

    async def _run_on_pipe(self, pipe: RedisPipe, key: str, args: list[int]) -> Any:
        reply = await pipe.call("EVALSHA", self._script.sha, 1, key, *args)
        if isinstance(reply, ReplyError) and str(reply).startswith("NOSCRIPT"):
            reply = await pipe.call("EVAL", _GCRA, 1, key, *args)  # also caches the script in Redis
        if isinstance(reply, ReplyError) or not isinstance(reply, list) or len(reply) != 2:
            raise RedisPipeError(f"unexpected rate-limit reply: {reply!r}")
        return reply

    def _log_outage(self) -> None:
        now = time.monotonic()
        if now - self._last_outage_log >= 60:
            self._last_outage_log = now
            log.warning("rate limiter: Redis unreachable, allowing requests (fail open)", exc_info=True)
