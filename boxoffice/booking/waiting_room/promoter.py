"""The promoter: one process at a time moves waiting rooms forward.

Every server process runs `Promoter.run`; only the holder of the promoter
lease acts. The lease is a Redis key set with SET NX PX to a random owner id,
renewed and released by compare-and-set Lua scripts, so only its owner can
extend or drop it; a holder that dies or stalls loses it after the TTL and
another process takes over.

The lease keeps the work to one process; it is not what keeps the admission
rate. A holder that stalls past its TTL may overlap briefly with its
successor, and that is harmless: `WaitingRoom.promote` draws from a token
bucket kept atomically in the store, so any number of callers together never
exceed the rate.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from datetime import datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from boxoffice.booking.waiting_room.queue_store import WaitingRoomUnavailable
from boxoffice.failure_log import FailureStreak
from boxoffice.booking.waiting_room.room import Promotion, ShowRoomSettings, WaitingRoom

log = logging.getLogger(__name__)

ListShows = Callable[[], Awaitable[list[ShowRoomSettings]]]
OnMoved = Callable[[str], Awaitable[None]]


class PromoterLease(ABC):
    """A named lease held by one owner id at a time, for `ttl_s` after each renewal."""

    @abstractmethod
    async def acquire(self, owner: str, ttl_s: float) -> bool: ...

    @abstractmethod
    async def renew(self, owner: str, ttl_s: float) -> bool:
        """Extends the lease only if `owner` still holds it."""

    @abstractmethod
    async def release(self, owner: str) -> bool:
        """Drops the lease only if `owner` holds it."""

    @abstractmethod
    async def holder(self) -> str | None: ...


_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisPromoterLease(PromoterLease):
    def __init__(self, redis: aioredis.Redis, *, key: str = "wr:promoter-lease", timeout_s: float = 0.5) -> None:
        self._redis = redis
        self._key = key
        self._timeout_s = timeout_s
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def _run(self, call: Callable[[], Awaitable[object]]) -> object:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await call()
        except (RedisError, OSError, TimeoutError) as exc:
            raise WaitingRoomUnavailable(f"promoter lease unreachable: {exc!r}") from exc

    async def acquire(self, owner: str, ttl_s: float) -> bool:
        ttl_ms = max(1, round(ttl_s * 1000))
        return bool(await self._run(lambda: self._redis.set(self._key, owner, nx=True, px=ttl_ms)))

    async def renew(self, owner: str, ttl_s: float) -> bool:
        ttl_ms = max(1, round(ttl_s * 1000))
        return bool(await self._run(lambda: self._renew(keys=[self._key], args=[owner, ttl_ms])))

    async def release(self, owner: str) -> bool:
        return bool(await self._run(lambda: self._release(keys=[self._key], args=[owner])))

    async def holder(self) -> str | None:
        value = await self._run(lambda: self._redis.get(self._key))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)


class InProcessPromoterLease(PromoterLease):
    """The same lease for one process (several promoters in it still elect one)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._owner: str | None = None
        self._expires = 0.0

    async def holder(self) -> str | None:
        if self._owner is not None and self._clock() >= self._expires:
            self._owner = None
        return self._owner

    async def acquire(self, owner: str, ttl_s: float) -> bool:
        if await self.holder() is not None:
            return False
        self._owner, self._expires = owner, self._clock() + ttl_s
        return True

    async def renew(self, owner: str, ttl_s: float) -> bool:
        if await self.holder() != owner:
            return False
        self._expires = self._clock() + ttl_s
        return True

    async def release(self, owner: str) -> bool:
        if await self.holder() != owner:
            return False
        self._owner = None
        return True


class Promoter:
    def __init__(
        self,
        room: WaitingRoom,
        lease: PromoterLease,
        *,
        on_moved: OnMoved | None = None,
        clock: Callable[[], datetime] | None = None,
        interval_s: float = 1.0,
        lease_ttl_s: float = 5.0,
        owner_id: str | None = None,
    ) -> None:
        if lease_ttl_s <= interval_s:
            raise ValueError("the lease must outlive a promotion interval, or leadership flaps")
        self._room = room
        self._lease = lease
        self._on_moved = on_moved
        self._clock = clock or room.now
        self._interval_s = interval_s
        self._lease_ttl_s = lease_ttl_s
        self.owner_id = owner_id or uuid.uuid4().hex
        self._leader = False

    @property
    def is_leader(self) -> bool:
        """Whether this promoter held the lease at its last step."""
        return self._leader

    async def _keep_lease(self) -> bool:
        was_leader = self._leader
        try:
            # Renew first even when the lease seemed lost: a renewal that timed out may have left it
            # ours, and acquiring (set if absent) would then wait out our own lease's TTL.
            self._leader = (await self._lease.renew(self.owner_id, self._lease_ttl_s)
                            or await self._lease.acquire(self.owner_id, self._lease_ttl_s))
            if was_leader and not self._leader:
                log.warning("promoter %s lost its lease", self.owner_id)
            elif self._leader and not was_leader:
                log.info("promoter %s took the lease", self.owner_id)
        except WaitingRoomUnavailable:
            log.warning("promoter lease unreachable; standing by", exc_info=True)
            self._leader = False
        return self._leader

    async def step(self, list_shows: ListShows) -> list[Promotion]:
        """One round: keep or take the lease; if held, promote every enabled show."""
        if not await self._keep_lease():
            return []
        promotions: list[Promotion] = []
        for show in await list_shows():
            if not show.enabled:
                continue
            try:
                promotion = await self._room.promote(
                    show.show_id,
                    show.admit_per_minute,
                    show.admission_ttl_s,
                    self._clock(),
                    on_sale_at=show.on_sale_at,
                )
            except WaitingRoomUnavailable:
                log.warning("waiting room store unreachable; promotion paused", exc_info=True)
                break
            promotions.append(promotion)
            if promotion.admitted and self._on_moved is not None:
                try:
                    await self._on_moved(show.show_id)
                except Exception:  # a failed push must not stop admissions
                    log.exception("on_moved failed for show %s", show.show_id)
        return promotions

    async def run(self, list_shows: ListShows, stop_event: asyncio.Event) -> None:
        """Steps every `interval_s` until `stop_event` is set, then releases the lease."""
        streak = FailureStreak(log, "promoter step")
        try:
            while not stop_event.is_set():
                try:
                    await self.step(list_shows)
                    streak.succeeded()
                except Exception as error:  # e.g. list_shows failing while the database restarts
                    streak.failed(error)
                try:
                    await asyncio.wait_for(stop_event.wait(), self._interval_s)
                except TimeoutError:
                    pass
        finally:
            await self.resign()

    async def resign(self) -> None:
        """Releases the lease (if held) so another process takes over at once."""
        if not self._leader:
            return
        self._leader = False
        try:
            await self._lease.release(self.owner_id)
        except WaitingRoomUnavailable:
            log.warning("could not release the promoter lease; it lapses after its TTL")
