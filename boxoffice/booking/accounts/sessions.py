"""Whether a bearer token still speaks for its user, and with which role.

A token proves who signed in (booking/accounts/sign_in.py TokenIssuer); what they may do now is the
database's to say: users.role, and users.token_version, which log-out, a password change and a role
change bump, so that every older token is refused. Both are cached per process for `cache_s`
seconds, so a fan's every request does not cost a read, and the misses of one turn of the event
loop are read in one statement (a flash sale's holds arrive thousands a second).

A bump is announced on the event bus ("<user id> <version>" on SESSIONS_CHANNEL): every process
drops its cache entry and closes that user's older live subscriptions as soon as it hears. The
cache time is the backstop for a lost message (Redis down, or a change made by the CLI without
Redis): entries are read again, and live connections re-checked, every `cache_s` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from ...db import database_unavailable
from ...failure_log import FailureStreak
from ...subscriptions.bus import BusClosed, BusResumed, EventBus
from ...subscriptions.session_watch import SessionWatch
from .sign_in import TokenClaims, TokenIssuer
from ..errors import DatabaseUnavailable, RateLimited
from ..pg_calls import driver
from ..records import Viewer

log = logging.getLogger(__name__)

SESSIONS_CHANNEL = "sessions:ended"

# (role, token version, good until: monotonic seconds)
_Entry = tuple[str, int, float]
Current = tuple[str, int]

# Straight to asyncpg (prepared once per connection, one round trip, no transaction): through
# SQLAlchemy this read was the largest single cost of a crowd entering the waiting room (issue 16).
_CURRENT = "SELECT id, role, token_version FROM users WHERE id = ANY($1::uuid[])"


@dataclass(frozen=True, slots=True)
class Session:
    """A token that holds now: who it speaks for, with their current role, and its claims."""

    viewer: Viewer
    claims: TokenClaims


def bearer_token(authorization: str | None) -> str | None:
    """The token of an Authorization header value ("Bearer <token>")."""
    if not authorization or authorization[:7].lower() != "bearer ":
        return None
    return authorization[7:].strip()


async def announce_ended(redis_url: str | None, user_id: uuid.UUID, version: int) -> bool:
    """From outside a server (the CLI): tells every server process over Redis that the user's
    older tokens are void. Without Redis, servers notice within their `session_cache_s`."""
    if not redis_url:
        return False
    async with EventBus(redis_url) as bus:
        return await bus.publish(SESSIONS_CHANNEL, f"{user_id} {version}")


class Sessions:
    def __init__(self, engine: AsyncEngine, tokens: TokenIssuer, bus: EventBus, *, cache_s: float,
                 remembered: int, clock: Callable[[], float] = time.monotonic) -> None:
        """remembered: users whose session is kept (BOXOFFICE_SIGNED_IN_CACHE); past it, the oldest
        read is forgotten first."""
        self._engine, self.tokens, self._bus = engine, tokens, bus
        self._cache_s, self._clock = cache_s, clock
        self._remembered = remembered
        self._entries: dict[uuid.UUID, _Entry] = {}
        self._loading: dict[uuid.UUID, asyncio.Future[Current | None]] = {}
        # Bumped whenever entries are dropped: a read that started before must not store its answer.
        self._epoch = 0
        self.watch = SessionWatch()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: list[asyncio.Task[None]] = []

    # -- checking tokens ---------------------------------------------------------------

    async def of_authorization(self, authorization: str | None) -> Session | None:
        token = bearer_token(authorization)
        return None if token is None else await self.of_token(token)

    async def of_token(self, token: str) -> Session | None:
        claims = self.tokens.verify(token)
        if claims is None:
            return None
        current = await self.current(claims.user_id)
        if current is not None and claims.version > current[1]:
            # Issued after what this process remembers (a log-in after a change it has not heard of
            # yet, e.g. the CLI's without Redis): the entry is stale, not the token. Read it again.
            self._entries.pop(claims.user_id, None)
            current = await self.current(claims.user_id)
        if current is None or current[1] != claims.version:
            return None
        return Session(Viewer(user_id=claims.user_id, role=current[0]), claims)

    async def current(self, user_id: uuid.UUID) -> Current | None:
        """The user's role and token version (None: no such user), at most `cache_s` old."""
        entry = self._entries.get(user_id)
        if entry is not None and self._clock() < entry[2]:
            return entry[0], entry[1]
        waiting = self._loading.get(user_id)
        if waiting is None:
            loop = asyncio.get_running_loop()
            waiting = loop.create_future()
            if not self._loading:  # the first miss of this turn: read them all on the next
                loop.call_soon(self._start_load)
            self._loading[user_id] = waiting
        return await asyncio.shield(waiting)

    def _start_load(self) -> None:
        batch, self._loading = self._loading, {}
        task = asyncio.get_running_loop().create_task(self._load(batch))
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    async def _load(self, batch: dict[uuid.UUID, asyncio.Future[Current | None]]) -> None:
        epoch, good_until = self._epoch, self._clock() + self._cache_s
        try:
            async with driver(self._engine) as db:
                rows = await db.fetch(_CURRENT, list(batch))
        except BaseException as error:
            failure: Exception = error if isinstance(error, Exception) else RuntimeError("cancelled")
            if isinstance(error, PoolTimeout):  # every connection busy: overloaded, not broken
                failure = RateLimited("The server is busy; try again in a moment.", retry_after_s=1)
            elif isinstance(error, Exception) and database_unavailable(error):  # a failover, a pooler restart
                failure = DatabaseUnavailable()
            for user_id, waiting in batch.items():
                if waiting.done():
                    continue
                stale = self._entries.get(user_id)
                if stale is not None and isinstance(error, Exception):
                    waiting.set_result(stale[:2])  # the last known state beats none while the database is slow
                else:
                    waiting.set_exception(failure)
                    waiting.exception()  # retrieved here too: a waiter may have given up
            if not isinstance(error, Exception):
                raise
            return
        # Keyed by asyncpg's UUIDs, which hash and compare like the batch's uuid.UUIDs; stored under the latter.
        found: dict[uuid.UUID, Current] = {r[0]: (r[1], r[2]) for r in rows}
        store = epoch == self._epoch and self._remembered > 0
        for user_id, waiting in batch.items():
            current = found.get(user_id)
            if store and current is not None:
                self._remember(user_id, (current[0], current[1], good_until))
            if not waiting.done():
                waiting.set_result(current)

    def _remember(self, user_id: uuid.UUID, entry: _Entry) -> None:
        """Kept as the newest entry; when full, the oldest goes (one at a time: clearing the lot made
        every signed-in fan's next request a read at once)."""
        self._entries.pop(user_id, None)  # re-read: newest again, not where it was first put
        if len(self._entries) >= self._remembered:
            del self._entries[next(iter(self._entries))]
        self._entries[user_id] = entry

    # -- ending sessions ---------------------------------------------------------------

    async def ended(self, user_id: uuid.UUID, version: int) -> None:
        """After a bump of the user's token version has committed: this process applies it at
        once, every other one when the bus brings it."""
        self._apply(user_id, version)
        await self._bus.publish(SESSIONS_CHANNEL, f"{user_id} {version}")

    def _apply(self, user_id: uuid.UUID, version: int) -> None:
        self._entries.pop(user_id, None)
        self._epoch += 1
        self.watch.ended(user_id, version)

    def _lost_messages(self) -> None:
        self._entries.clear()
        self._epoch += 1
        self._tasks.append(asyncio.get_running_loop().create_task(self.recheck()))
        self._tasks[-1].add_done_callback(self._tasks.remove)

    async def recheck(self) -> None:
        """Closes live connections whose token no longer holds (the backstop for lost messages)."""
        users = self.watch.users()
        currents = await asyncio.gather(*(self.current(u) for u in users))
        for user_id, current in zip(users, currents):
            self.watch.ended(user_id, None if current is None else current[1])

    # -- background work of every server process -----------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._background = [loop.create_task(self._listen(), name="session-announcements"),
                             loop.create_task(self._recheck_every(), name="session-recheck")]

    async def aclose(self) -> None:
        tasks = [*self._background, *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.watch.aclose()

    async def _listen(self) -> None:
        streak = FailureStreak(log, "session announcements")
        while True:
            try:
                async with self._bus.subscribe(SESSIONS_CHANNEL) as sub:
                    self._lost_messages()  # anything announced while not subscribed
                    async for item in sub:
                        if isinstance(item, BusResumed):
                            self._lost_messages()
                            continue
                        with contextlib.suppress(ValueError):
                            user, version = item.split(" ")
                            self._apply(uuid.UUID(user), int(version))
                streak.succeeded()
                return  # the bus closed
            except BusClosed:
                return
            except Exception as error:
                streak.failed(error)
                await asyncio.sleep(1)

    async def _recheck_every(self) -> None:
        streak = FailureStreak(log, "session re-check")
        while True:
            await asyncio.sleep(max(self._cache_s, 1.0))
            try:
                if self.watch.users():
                    await self.recheck()
                streak.succeeded()
            except Exception as error:
                streak.failed(error)
