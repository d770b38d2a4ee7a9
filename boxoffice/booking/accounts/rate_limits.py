"""Rate limits and failure back-off, on Redis or in process.

Two primitives, each keyed by (scope, key):

- A rate (`RateLimit`): GCRA, a token bucket in one timestamp. A burst of up to `limit`
  calls, refilling evenly at `limit` per `period_s`. `take` counts a call if it is allowed;
  `peek` only says whether one would be; `charge` counts one whatever (for failures found
  after a `peek`: a burst of parallel failures is paid back by waiting longer).
- A back-off (`Backoff`): `free` failures in a row cost nothing, each further one makes the
  key wait, 1 s doubling per failure up to `max_wait_s`. `failed` counts one, `wait_s` says
  how long is left, `clear` forgets the key (a success). A key with no failure for
  `max_wait_s` after its last wait is forgotten too.

Fail open. When Redis is unreachable the Redis limiter allows the call (and logs, at most
once a minute). Rate limits shield capacity and slow abuse; they guard no invariant:
PostgreSQL enforces seat ownership, GA capacity and per-user ticket caps, and the waiting
room (which fails closed) gates holds during a flash sale. Refusing every sign-in because
Redis blinked would be the worse outage.

Keys in Redis are hashed (`rl:<scope>:<blake2b of key>`) so email addresses and IPs are not
stored in clear and key length stays bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import NamedTuple

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..turn_batches import TurnBatches
from .limit_policy import BACKOFF_FIRST_WAIT_S, Backoff, RateLimit

log = logging.getLogger(__name__)


class RateDecision(NamedTuple):
    """A tuple, so `allowed, retry_after_s = await limiter.take(...)` works too."""

    allowed: bool
    # Seconds until a call would be allowed; 0 when allowed.
    retry_after_s: float


# GCRA modes; the Lua mirrors them.
TAKE, PEEK, CHARGE = 0, 1, 2


class RateLimiter(ABC):
    @abstractmethod
    async def _gcra(self, scope: str, key: str, rule: RateLimit, mode: int) -> RateDecision: ...

    async def take(self, scope: str, key: str, rule: RateLimit) -> RateDecision:
        """Counts one call against (scope, key) if it is allowed."""
        return await self._gcra(scope, key, rule, TAKE)

    async def peek(self, scope: str, key: str, rule: RateLimit) -> RateDecision:
        """Whether a call would be allowed; counts nothing."""
        return await self._gcra(scope, key, rule, PEEK)

    async def charge(self, scope: str, key: str, rule: RateLimit) -> None:
        """Counts one call, allowed or not."""
        await self._gcra(scope, key, rule, CHARGE)

    @abstractmethod
    async def wait_s(self, scope: str, key: str) -> float:
        """Seconds (scope, key) must still wait after its failures; 0 when it need not."""

    @abstractmethod
    async def failed(self, scope: str, key: str, rule: Backoff) -> float:
        """Counts one failure; the wait it starts (0 while failures are free)."""

    @abstractmethod
    async def clear(self, scope: str, key: str) -> None:
        """Forgets the failures of (scope, key)."""

    def close(self) -> None:
        """Closes connections the limiter opened itself (none unless said otherwise)."""


def _gcra(tat_us: int | None, now_us: int, limit: int, period_us: int, mode: int) -> tuple[RateDecision, int | None]:
    """(decision, new theoretical arrival time or None to keep it); the Lua mirrors this.

    Integer microseconds: exact in Python and in Lua's doubles (below 2**53),
    where float seconds near the epoch would flip a decision by rounding.
    """
    interval = max(1, period_us // limit)  # rounded down, so a full burst of `limit` always fits
    tat = now_us if tat_us is None or tat_us < now_us else tat_us
    allow_at = tat + interval - period_us
    allowed = now_us >= allow_at
    decision = RateDecision(True, 0.0) if allowed else RateDecision(False, (allow_at - now_us) / 1e6)
    if mode == CHARGE or (mode == TAKE and allowed):
        return decision, tat + interval
    return decision, None


def _backoff_wait_us(failures: int, rule: Backoff) -> int:
    """The wait after `failures` failures in a row; the Lua mirrors this."""
    over = failures - rule.free
    if over <= 0:
        return 0
    return _micros(min(rule.max_wait_s, BACKOFF_FIRST_WAIT_S * 2.0 ** min(over - 1, 60)))


def _micros(seconds: float) -> int:
    return round(seconds * 1e6)


class InProcessRateLimiter(RateLimiter):
    """For one process without Redis. Memory is bounded by pruning spent keys."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, prune_above: int = 10_000) -> None:
        self._clock = clock
        self._prune_above = prune_above
        self._tat: dict[tuple[str, str], int] = {}
        # (scope, key) -> (failures in a row, wait until, forget at), microseconds
        self._failures: dict[tuple[str, str], tuple[int, int, int]] = {}

    async def _gcra(self, scope: str, key: str, rule: RateLimit, mode: int) -> RateDecision:
        now = _micros(self._clock())
        decision, new_tat = _gcra(self._tat.get((scope, key)), now, rule.limit, _micros(rule.period_s), mode)
        if new_tat is not None:
            self._tat[(scope, key)] = new_tat
            if len(self._tat) > self._prune_above:
                # A key whose TAT has passed is a full bucket: same as absent.
                self._tat = {k: v for k, v in self._tat.items() if v > now}
        return decision

    def _live(self, scope: str, key: str, now: int) -> tuple[int, int, int] | None:
        state = self._failures.get((scope, key))
        return state if state is not None and state[2] > now else None

    async def wait_s(self, scope: str, key: str) -> float:
        now = _micros(self._clock())
        state = self._live(scope, key, now)
        return max(0, state[1] - now) / 1e6 if state else 0.0

    async def failed(self, scope: str, key: str, rule: Backoff) -> float:
        now = _micros(self._clock())
        state = self._live(scope, key, now)
        failures = (state[0] if state else 0) + 1
        wait = _backoff_wait_us(failures, rule)
        self._failures[(scope, key)] = (failures, now + wait, now + wait + _micros(rule.max_wait_s))
        if len(self._failures) > self._prune_above:
            self._failures = {k: v for k, v in self._failures.items() if v[2] > now}
        return wait / 1e6

    async def clear(self, scope: str, key: str) -> None:
        self._failures.pop((scope, key), None)


# Many limits in one call. KEYS: the limits' keys; ARGV: now, then per key its interval, period
# (integer microseconds) and mode. Returns per key: allowed (1/0), retry after (microseconds).
# Keys are done in order, so one key twice in a call counts twice.
_GCRA = """
local now = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local interval, period, mode = tonumber(ARGV[i * 3 - 1]), tonumber(ARGV[i * 3]), tonumber(ARGV[i * 3 + 1])
  local tat = tonumber(redis.call('GET', key) or '')
  if not tat or tat < now then tat = now end
  local allow_at = tat + interval - period
  local allowed = now >= allow_at
  if mode == 2 or (mode == 0 and allowed) then
    local new_tat = tat + interval
    redis.call('SET', key, string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
  end
  if allowed then
    out[#out + 1] = 1
    out[#out + 1] = '0'
  else
    out[#out + 1] = 0
    out[#out + 1] = string.format('%.0f', allow_at - now)
  end
end
return out
"""

# KEYS: the back-off's key, holding "<failures>:<wait until>"; ARGV: now, free, first wait,
# longest wait (microseconds). Returns the wait this failure starts.
_FAILED = """
local now, free, first, longest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local failures, last_until = string.match(redis.call('GET', KEYS[1]) or '', '^(%d+):(%d+)$')
if not failures or now >= tonumber(last_until) + longest then failures = 0 end
failures = tonumber(failures) + 1
local wait = 0
if failures > free then wait = math.min(longest, first * 2 ^ math.min(failures - free - 1, 60)) end
redis.call('SET', KEYS[1], string.format('%d:%.0f', failures, now + wait), 'PX', math.ceil((wait + longest) / 1000) + 1)
return string.format('%.0f', wait)
"""


# (key, interval, period, mode) of one limit check, and its answer (allowed, retry after in µs)
_Check = tuple[str, int, int, int]
_Answer = tuple[bool, int]


class RedisRateLimiter(RateLimiter):
    """Shared across processes. `clock` is wall time (all servers NTP-synced). Every command
    goes through `redis` (redis-py: TLS and AUTH as its URL says); rate checks are batched."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        clock: Callable[[], float] = time.time,
        namespace: str = "rl",
        timeout_s: float = 0.25,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._ns = namespace
        self._timeout_s = timeout_s
        self._script = redis.register_script(_GCRA)
        self._failed_script = redis.register_script(_FAILED)
        self._batches: TurnBatches[_Check, _Answer] = TurnBatches(self._run_checks)
        self._last_outage_log = -math.inf

    def _key(self, scope: str, key: str) -> str:
        digest = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        return f"{self._ns}:{scope}:{digest}"

    async def _run_checks(self, checks: list[_Check]) -> list[_Answer]:
        args: list[int] = [_micros(self._clock())]
        for _, interval, period, mode in checks:
            args += (interval, period, mode)
        async with asyncio.timeout(self._timeout_s):
            reply = await self._script(keys=[key for key, *_ in checks], args=args)
        if not isinstance(reply, list) or len(reply) != 2 * len(checks):
            raise RedisError(f"unexpected rate-limit reply: {reply!r}")
        return [(bool(int(reply[i])), int(reply[i + 1])) for i in range(0, len(reply), 2)]

    async def _gcra(self, scope: str, key: str, rule: RateLimit, mode: int) -> RateDecision:
        period_us = _micros(rule.period_s)
        check = (self._key(scope, key), max(1, period_us // rule.limit), period_us, mode)
        try:  # bounded by the batch's timeout (_run_checks): the checks of a turn share one timer
            allowed, retry_us = await self._batches.submit(check)
        except (RedisError, OSError, TimeoutError) as err:
            self._log_outage(err)
            return RateDecision(True, 0.0)  # fail open: see the module docstring
        return RateDecision(allowed, max(0.0, retry_us / 1e6))

    async def wait_s(self, scope: str, key: str) -> float:
        try:
            async with asyncio.timeout(self._timeout_s):
                value = await self._redis.get(self._key(scope, key))
        except (RedisError, OSError, TimeoutError) as err:
            self._log_outage(err)
            return 0.0
        if value is None:
            return 0.0
        until_us = int((value.decode() if isinstance(value, bytes) else str(value)).split(":")[1])
        return max(0, until_us - _micros(self._clock())) / 1e6

    async def failed(self, scope: str, key: str, rule: Backoff) -> float:
        args = [_micros(self._clock()), rule.free, _micros(BACKOFF_FIRST_WAIT_S), _micros(rule.max_wait_s)]
        try:
            async with asyncio.timeout(self._timeout_s):
                wait = await self._failed_script(keys=[self._key(scope, key)], args=args)
        except (RedisError, OSError, TimeoutError) as err:
            self._log_outage(err)
            return 0.0
        return int(wait.decode() if isinstance(wait, bytes) else wait) / 1e6

    async def clear(self, scope: str, key: str) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._redis.delete(self._key(scope, key))
        except (RedisError, OSError, TimeoutError) as err:
            self._log_outage(err)

    def _log_outage(self, err: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_outage_log >= 60:
            self._last_outage_log = now
            if isinstance(err, TimeoutError):  # Redis away, or this process too busy to read its answer
                log.warning("rate limiter: no answer from Redis within %.2f s, allowing requests (fail open)",
                            self._timeout_s)
            else:
                log.warning("rate limiter: Redis unreachable, allowing requests (fail open)", exc_info=err)
