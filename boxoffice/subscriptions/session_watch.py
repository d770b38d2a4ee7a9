"""The live connections each signed-in user has open, so the end of their session closes them.

A WebSocket authenticates once, at connection_init; after that nothing re-reads its token. So the
connection registers here: when its token expires (a timer at `exp`), or when the user's sessions
end (log-out, a password or role change: booking/accounts/sessions.py tells us), `end` is called with the
reason, and the connection closes itself. Anonymous connections are never registered.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from ..booking.accounts.sign_in import TokenClaims

log = logging.getLogger(__name__)

TOKEN_EXPIRED = "Token expired"
SESSION_ENDED = "Session ended"

EndConnection = Callable[[str], Awaitable[None]]


class Watched:
    """One connection's registration; `cancel()` when the connection ends on its own."""

    __slots__ = ("_end", "_timer", "_watch", "claims", "done")

    def __init__(self, watch: SessionWatch, claims: TokenClaims, end: EndConnection) -> None:
        self._watch, self.claims, self._end, self.done = watch, claims, end, False
        delay = max(0.0, claims.expires_at - time.time())
        self._timer = asyncio.get_running_loop().call_later(delay, self.fire, TOKEN_EXPIRED)

    def fire(self, reason: str) -> None:
        if self.done:
            return
        self.cancel()
        self._watch._run(self._end(reason))

    def cancel(self) -> None:
        self.done = True
        self._timer.cancel()
        self._watch._forget(self)


class SessionWatch:
    def __init__(self) -> None:
        self._by_user: dict[uuid.UUID, set[Watched]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def watch(self, claims: TokenClaims, end: EndConnection) -> Watched:
        watched = Watched(self, claims, end)
        self._by_user.setdefault(claims.user_id, set()).add(watched)
        return watched

    def ended(self, user_id: uuid.UUID, version: int | None) -> None:
        """The user's token version is now `version` (None: the user is gone): older tokens' connections close."""
        for watched in list(self._by_user.get(user_id, ())):
            if version is None or watched.claims.version != version:
                watched.fire(SESSION_ENDED)

    def users(self) -> list[uuid.UUID]:
        return list(self._by_user)

    def connections(self, user_id: uuid.UUID) -> int:
        return len(self._by_user.get(user_id, ()))

    async def aclose(self) -> None:
        for watched in [w for ws in self._by_user.values() for w in ws]:
            watched.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)

    def _forget(self, watched: Watched) -> None:
        entries = self._by_user.get(watched.claims.user_id)
        if entries is not None:
            entries.discard(watched)
            if not entries:
                del self._by_user[watched.claims.user_id]

    def _run(self, closing: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await closing
            except Exception:  # a socket already gone; nothing else to do for it
                log.debug("closing a connection whose session ended failed", exc_info=True)

        task = asyncio.get_running_loop().create_task(run())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
