"""The waiting-room queue store on Redis: one Lua script per operation; the entries and the ticket
reads of one event-loop turn share one call.

Keys (`ns` defaults to "wr"; braces are Redis hash tags, one slot per show):
  {ns}:{<show>}:users    hash    user id -> ticket id (one ticket per user)
  {ns}:{<show>}:queue    zset    ticket id -> score (see queue_store's ordering)
  {ns}:{<show>}:seq      string  FIFO counter; exists once the pre-queue closed
  {ns}:{<show>}:bucket   hash    tokens, ts (ms), rate: the admission bucket
  {ns}:ticket:<ticket>   hash    show, user, entered, opens, admitted, expires
Lookup by ticket id reaches the show's keys from inside the script, so this
needs a single Redis (or a primary with replicas), not Redis Cluster.
Every key written gets a retention TTL (default 7 days) refreshed on writes.

Each call runs under a short asyncio timeout and maps every Redis or network
failure to WaitingRoomUnavailable, so callers fail closed fast instead of
hanging, whatever retry policy the injected client has.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from boxoffice.booking.turn_batches import TurnBatches
from boxoffice.booking.waiting_room.queue_store import (
    ADMISSION_UNIT,
    AdmitResult,
    QueueStore,
    StoredTicket,
    WaitingRoomUnavailable,
    new_ticket_id,
    prequeue_score,
)

T = TypeVar("T")
# An entry's keys (users, queue, seq, the new ticket's key) and arguments, as _ENTER takes them.
_Entry = tuple[tuple[str, str, str, str], tuple[str | int, ...]]

DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000

# view(ns, tid): the ticket's fields, its 0-based rank (-1 once admitted) and
# the show's last known admit rate; false for an unknown ticket.
_VIEW = """
local function view(ns, tid)
  local t = redis.call('HMGET', ns .. ':ticket:' .. tid,
                       'show', 'user', 'entered', 'opens', 'admitted', 'expires')
  if not t[1] then return false end
  local sk = ns .. ':{' .. t[1] .. '}:'
  local rank = -1
  if not t[5] then
    rank = redis.call('ZRANK', sk .. 'queue', tid) or -1
  end
  local rate = redis.call('HGET', sk .. 'bucket', 'rate') or ''
  return {tid, t[1], t[2], t[3], t[4] or '', t[5] or '', t[6] or '', rank, rate}
end
"""

# Many entries in one call, in order (the entries of one event-loop turn: see turn_batches.py); the
# same user twice gets the same ticket (a new one once its admission has lapsed).
# KEYS, per entry: users, queue, seq, ticket key for a new ticket
# ARGV: ns; then per entry: show, user, new tid, now ms, on-sale ms or '', pre-queue score, retention ms
_ENTER = (
    _VIEW
    + """
local ns, out = ARGV[1], {}
for i = 0, #KEYS / 4 - 1 do
  local users, queue, seq, fresh = KEYS[4 * i + 1], KEYS[4 * i + 2], KEYS[4 * i + 3], KEYS[4 * i + 4]
  local a = 1 + 7 * i
  local show, user, now, opens_at = ARGV[a + 1], ARGV[a + 2], ARGV[a + 4], ARGV[a + 5]
  local tid = redis.call('HGET', users, user)
  if tid and redis.call('EXISTS', ns .. ':ticket:' .. tid) == 0 then
    redis.call('ZREM', queue, tid)  -- the ticket outlived its retention: start afresh
    tid = false
  end
  if tid then  -- an admission that lapsed unused: queued again, at the back (queue_store.admission_lapsed)
    local expires = redis.call('HGET', ns .. ':ticket:' .. tid, 'expires')
    if expires and math.floor(tonumber(now) / 1000) >= math.floor(tonumber(expires) / 1000) then tid = false end
  end
  if not tid then
    tid = ARGV[a + 3]
    local opens, score = '', nil
    if opens_at ~= '' and tonumber(now) < tonumber(opens_at) and redis.call('EXISTS', seq) == 0 then
      opens, score = opens_at, ARGV[a + 6]
    else
      score = redis.call('INCR', seq)
    end
    redis.call('HSET', users, user, tid)
    redis.call('ZADD', queue, score, tid)
    redis.call('HSET', fresh, 'show', show, 'user', user, 'entered', now, 'opens', opens)
    for _, key in ipairs({users, queue, seq, fresh}) do redis.call('PEXPIRE', key, ARGV[a + 7]) end
  end
  out[#out + 1] = view(ns, tid) or {}
end
return out
"""
)

# Many tickets in one call, in order ({} for an unknown one). ARGV: ns, then the ticket ids.
_TICKET = _VIEW + """
local out = {}
for i = 2, #ARGV do out[#out + 1] = view(ARGV[1], ARGV[i]) or {} end
return out
"""

# KEYS: users; ARGV: ns, user
_TICKET_FOR_USER = (
    _VIEW
    + """
local tid = redis.call('HGET', KEYS[1], ARGV[2])
if not tid then return false end
return view(ARGV[1], tid)
"""
)

# The token bucket of queue_store.refill_bucket, then ZPOPMIN the admitted.
# KEYS: queue, bucket, seq
# ARGV: ns, now ms, admit per minute, admission ttl ms, on-sale ms or '', retention ms, unit
_ADMIT = """
local now, rate, ttl, unit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[7])
redis.call('HSET', KEYS[2], 'rate', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
if rate <= 0 or (ARGV[5] ~= '' and now < tonumber(ARGV[5])) then
  return {redis.call('ZCARD', KEYS[1]), {}}
end
if redis.call('SETNX', KEYS[3], 0) == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[6]) end
local cap = math.max(unit, rate * 1000)
local b = redis.call('HMGET', KEYS[2], 'tokens', 'ts')
local tokens, ts = tonumber(b[1]), tonumber(b[2])
if not tokens or not ts then
  tokens, ts = cap, now
elseif now > ts then
  tokens, ts = math.min(cap, tokens + rate * (now - ts)), now
end
local waiting = redis.call('ZCARD', KEYS[1])
local n = math.min(math.floor(tokens / unit), waiting)
local admitted = {}
if n > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[1], n)
  local expires = string.format('%.0f', now + ttl)
  for i = 1, #popped, 2 do
    local tk = ARGV[1] .. ':ticket:' .. popped[i]
    redis.call('HSET', tk, 'admitted', ARGV[2], 'expires', expires)
    redis.call('PEXPIRE', tk, ARGV[6])
    admitted[#admitted + 1] = popped[i]
  end
  tokens = tokens - n * unit
end
redis.call('HSET', KEYS[2], 'tokens', string.format('%.0f', tokens), 'ts', string.format('%.0f', ts))
return {waiting - n, admitted}
"""


def make_redis_client(url: str, *, timeout_s: float = 0.5) -> aioredis.Redis:
    """A client for the waiting room and rate limits: short timeouts, one quick retry.

    redis-py's default is 10 retries with backoff and 5 s socket timeouts,
    which turns a Redis outage into multi-second stalls per request.
    """
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _opt_int(value: Any) -> int | None:
    text = _text(value)
    return int(text) if text else None


def _stored_ticket(reply: Any) -> StoredTicket | None:
    if not reply:
        return None
    tid, show, user, entered, opens, admitted, expires, rank, rate = reply
    rank_i = int(rank)
    return StoredTicket(
        ticket_id=_text(tid),
        show_id=_text(show),
        user_id=_text(user),
        entered_ms=int(_text(entered)),
        prequeue_until_ms=_opt_int(opens),
        rank=rank_i if rank_i >= 0 else None,
        admitted_ms=_opt_int(admitted),
        expires_ms=_opt_int(expires),
        admit_per_minute=_opt_int(rate),
    )


class RedisQueueStore(QueueStore):
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        namespace: str = "wr",
        timeout_s: float = 0.5,
        retention_ms: int = DEFAULT_RETENTION_MS,
    ) -> None:
        self._redis = redis
        self._ns = namespace
        self._timeout_s = timeout_s
        self._retention_ms = retention_ms
        self._enter = redis.register_script(_ENTER)
        self._ticket = redis.register_script(_TICKET)
        self._ticket_for_user = redis.register_script(_TICKET_FOR_USER)
        self._admit = redis.register_script(_ADMIT)
        # The entries and ticket reads of one event-loop turn go as one script call each.
        self._entries: TurnBatches[_Entry, Any] = TurnBatches(self._enter_many)
        self._tickets: TurnBatches[str, Any] = TurnBatches(self._tickets_of)

    def _key(self, show_id: str, name: str) -> str:
        return f"{self._ns}:{{{show_id}}}:{name}"

    async def _run(self, call: Callable[[], Awaitable[T]]) -> T:
        return await self._batched(self._bounded(call))

    async def _bounded(self, call: Callable[[], Awaitable[T]]) -> T:
        async with asyncio.timeout(self._timeout_s):
            return await call()

    @staticmethod
    async def _batched(answer: Awaitable[T]) -> T:
        """A call's answer, a failure to reach Redis typed. A batched call needs no timer of its own: its
        batch is bounded by the store's timeout (_enter_many, _tickets_of), and all its callers asked in
        the same loop turn."""
        try:
            return await answer
        except (RedisError, OSError, TimeoutError) as exc:
            raise WaitingRoomUnavailable(f"waiting room store unreachable: {exc!r}") from exc

    async def enter(self, show_id: str, user_id: str, now_ms: int, on_sale_ms: int | None) -> StoredTicket:
        tid = new_ticket_id()
        keys = (self._key(show_id, "users"), self._key(show_id, "queue"), self._key(show_id, "seq"),
                f"{self._ns}:ticket:{tid}")
        args = (show_id, user_id, tid, now_ms, "" if on_sale_ms is None else on_sale_ms, prequeue_score(),
                self._retention_ms)
        ticket = _stored_ticket(await self._batched(self._entries.submit((keys, args))))
        assert ticket is not None  # the script always returns the user's ticket
        return ticket

    async def ticket(self, ticket_id: str) -> StoredTicket | None:
        return _stored_ticket(await self._batched(self._tickets.submit(ticket_id)))

    async def _enter_many(self, entries: list[_Entry]) -> list[Any]:
        keys = [key for entry_keys, _ in entries for key in entry_keys]
        args: list[str | int] = [self._ns, *(arg for _, entry_args in entries for arg in entry_args)]
        async with asyncio.timeout(self._timeout_s):  # every caller's bound (_batched)
            return list(await self._enter(keys=keys, args=args))

    async def _tickets_of(self, ticket_ids: list[str]) -> list[Any]:
        async with asyncio.timeout(self._timeout_s):
            return list(await self._ticket(args=[self._ns, *ticket_ids]))

    async def ticket_for_user(self, show_id: str, user_id: str) -> StoredTicket | None:
        keys = [self._key(show_id, "users")]
        return _stored_ticket(await self._run(lambda: self._ticket_for_user(keys=keys, args=[self._ns, user_id])))

    async def admit(
        self,
        show_id: str,
        now_ms: int,
        admit_per_minute: int,
        admission_ttl_ms: int,
        on_sale_ms: int | None,
    ) -> AdmitResult:
        keys = [self._key(show_id, "queue"), self._key(show_id, "bucket"), self._key(show_id, "seq")]
        args: list[str | int] = [
            self._ns,
            now_ms,
            admit_per_minute,
            admission_ttl_ms,
            "" if on_sale_ms is None else on_sale_ms,
            self._retention_ms,
            ADMISSION_UNIT,
        ]
        waiting, admitted = await self._run(lambda: self._admit(keys=keys, args=args))
        return AdmitResult(tuple(_text(t) for t in admitted), int(waiting))

    async def queue_length(self, show_id: str) -> int:
        return int(await self._run(lambda: self._redis.zcard(self._key(show_id, "queue"))))
