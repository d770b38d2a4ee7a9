"""Shared answers for read queries: a stadium's seat map is executed once per window, not once per
fan watching it, whether the fan is signed in or not.

A query's answer is shared for `ttl_s` (default 200 ms, the live-delta window). Anonymous
requests share the answers of every query (drafts and user data are never shown to anonymous
callers). A signed-in request shares them only for a document whose fields answer the same for
everybody (schema/viewer_marks.py: no per-viewer field, and drafts only for callers who see none
of them), and only once its token still holds (booking/accounts/sessions.py, cached per process): it then
gets exactly what an anonymous caller gets, and a miss executes as one, without credentials.
Every other signed-in request (its own holds and orders, `viewer`, an organizer's view of a show,
an invalid token) goes on untouched and is never stored. Concurrent identical requests share one
execution; once an answer is older than `ttl_s`, one request refreshes it while the others are
still given the old one (up to `2 * ttl_s` old, or `stale_if_error_s` while refreshes are refused
or fail), so readers never queue behind an execution, nor are they all turned away when the
process sheds load.

Seat statuses and counts are indicative by contract: a cached answer is a consistent snapshot
whose `version` a client resumes from with seatChanges(sinceVersion). So changes to seat
inventory (holds, orders, payments, the waiting room, expiries) do not clear shared answers; at
a flash sale's write rate nothing would ever be shared. The writer reads its own writes: once a
signed-in caller's mutation (or any request not known to be a query) has been answered, that
token is given no shared answer older than it, and the seat boards behind every executed read
are patched with this process's changes at once. (Another process sees the change within the
window, as an anonymous reader does.)

Requests never clear the shared answers by themselves: a body that is not GraphQL, a document that
does not parse or validate, a refused or failed mutation would otherwise let anyone keep the cache
empty, and every fan's read would execute again. The catalog does: when an organizer's change
that anonymous readers see has been made (an event published, a waiting room configured), the
resolver clears the show cache, which clears these answers too (`ShowCache(on_clear=...)`, wired
in app.py), so anonymous readers of this process see it at once. A new draft is invisible to them,
and anything else reaches them within the ttl.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .booking.accounts.sessions import Session
from .http_body import body_of
from .schema.viewer_marks import Audience, DocumentKinds

MAX_REQUEST_BYTES = 64_000
MAX_RESPONSE_BYTES = 8_000_000
MAX_WRITERS = 100_000  # callers remembered as having written lately (read-your-writes)

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class QueryCache:
    def __init__(self, ttl_s: float = 0.2, max_entries: int = 256, stale_if_error_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        # While refreshes are refused (load shedding) or fail, a shared answer is served up to this
        # old rather than turning every reader away: it is indicative anyway.
        self.stale_if_error_s = stale_if_error_s
        self.clock = clock
        self._max = max_entries
        self._entries: dict[bytes, tuple[float, Answer]] = {}
        self._pending: dict[bytes, tuple[float, asyncio.Future[Answer | None]]] = {}
        self._refresh_sent: dict[bytes, float] = {}  # when a request last went on to refresh a stale answer
        self._refresh_failing: set[bytes] = set()
        self._writes: dict[bytes, float] = {}  # Authorization value -> when its last write was answered

    def clear(self, *_: Any) -> None:
        self._entries.clear()
        self._refresh_sent.clear()
        self._refresh_failing.clear()

    def wrote(self, caller: bytes) -> None:
        """This caller's write (or a request that may have been one) has been answered."""
        now = self.clock()
        if len(self._writes) >= MAX_WRITERS:
            # Marks older than any servable answer no longer matter.
            horizon = now - max(2 * self.ttl_s, self.stale_if_error_s)
            self._writes = {c: t for c, t in self._writes.items() if t >= horizon}
            if len(self._writes) >= MAX_WRITERS:
                self._writes.clear()
        self._writes[caller] = now

    def written_at(self, caller: bytes) -> float | None:
        """When this caller's last write was answered: no shared answer from before is theirs."""
        return self._writes.get(caller)

    def servable(self, key: bytes, since: float | None = None) -> Answer | None:
        """An answer to give without executing: a fresh one, or a stale one (up to twice the ttl)
        while another request is refreshing it; none executed before `since`."""
        entry = self._entries.get(key)
        if entry is None or (since is not None and entry[0] < since):
            return None
        age = self.clock() - entry[0]
        if age < self.ttl_s or (age < 2 * self.ttl_s and key in self._pending):
            return entry[1]
        return None

    def answer_or_refresh(self, key: bytes, since: float | None = None) -> Answer | None:
        """For the outermost middleware: the answer to give, or None for a request that must go on
        (no answer, one past twice the ttl or from before `since`, or its turn to refresh a stale
        one). One request per quarter ttl goes on to refresh, so that when that one is refused
        (load shedding) the others still get the stale answer instead of each being refused in turn."""
        entry = self._entries.get(key)
        if entry is None or (since is not None and entry[0] < since):
            return None
        now = self.clock()
        age = now - entry[0]
        if age < self.ttl_s:
            return entry[1]
        if age >= (self.stale_if_error_s if key in self._refresh_failing else 2 * self.ttl_s):
            return None
        if key in self._pending or now - self._refresh_sent.get(key, -self.ttl_s) < self.ttl_s / 4:
            return entry[1]
        self._refresh_sent[key] = now
        return None

    def stale(self, key: bytes, since: float | None = None) -> Answer | None:
        """An answer to give instead of a refusal (load shedding) of the request sent to refresh it."""
        entry = self._entries.get(key)
        if entry is None or (since is not None and entry[0] < since) or self.clock() - entry[0] >= self.stale_if_error_s:
            return None
        return entry[1]

    def refreshed(self, key: bytes, ok: bool) -> None:
        """How the request sent on by answer_or_refresh ended."""
        if ok:
            self._refresh_failing.discard(key)
        elif key in self._entries:
            self._refresh_failing.add(key)

    def pending(self, key: bytes, since: float | None = None) -> asyncio.Future[Answer | None] | None:
        """The execution under way for this key, if it started at or after `since`."""
        found = self._pending.get(key)
        if found is None or (since is not None and found[0] < since):
            return None
        return found[1]

    def store(self, key: bytes, started: float, answer: Answer) -> None:
        if len(self._entries) >= self._max:
            self.clear()
        self._entries[key] = (started, answer)


def _credentials(scope: Scope) -> tuple[bytes | None, bool]:
    """The Authorization header's value, and whether the request carries a cookie."""
    authorization, cookie = None, False
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:  # the one the application reads
            authorization = value
        elif name == b"cookie":
            cookie = True
    return authorization, cookie


async def admits(scope: Scope, authorization: bytes, audience: Audience) -> bool:
    """Whether a signed-in caller gets the answer anonymous callers get: their token still holds
    (booking/accounts/sessions.py, cached per process) and the document's audience includes them."""
    services = scope.get("state", {}).get("services")
    if services is None:
        return False
    try:
        session: Session | None = await services.sessions.of_authorization(authorization.decode("latin-1"))
    except Exception:  # e.g. the database busy: the request goes on, and is answered as any other
        return False
    return session is not None and audience.admits(session.viewer)


def without_credentials(scope: Scope) -> Scope:
    """The request as an anonymous caller's: what it executes must be shareable by all."""
    return {**scope, "headers": [(n, v) for n, v in scope["headers"] if n not in (b"authorization", b"cookie")]}


class _CacheMiddleware:
    def __init__(self, app: ASGIApp, cache: QueryCache, kinds: DocumentKinds) -> None:
        self.app = app
        self.cache = cache
        self.kinds = kinds

    def applies(self, scope: Scope) -> bool:
        return (scope["type"] == "http" and scope["path"] == "/graphql" and scope["method"] == "POST"
                and self.cache.ttl_s > 0)


class SharedAnswers(_CacheMiddleware):
    """Outermost: a shared answer costs no other middleware, no parsing and no load-shedding slot
    (it is about a quarter of the CPU of the cheapest execution). Only requests without a cookie
    and with a declared small body are looked at; everything else, and every miss, goes on
    untouched. Signed-in callers' writes are noted here, where every request passes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.applies(scope):
            await self.app(scope, receive, send)
            return
        authorization, cookie = _credentials(scope)
        if cookie:
            await self.app(scope, receive, send)
            return
        length = next((v for n, v in scope["headers"] if n == b"content-length"), None)
        if length is None or not length.isdigit() or int(length) > MAX_REQUEST_BYTES:
            await self._go_on(scope, receive, send, authorization)
            return
        body, replay = await body_of(scope, receive)  # already read whole, in time, by BodyLimit in front
        key = hashlib.sha256(body).digest()
        if authorization is None:
            answer = self.cache.answer_or_refresh(key)
        else:
            kind = self.kinds.of_body(body)
            audience = kind.shared
            if audience is None:
                await self._go_on(scope, replay, send, authorization if kind.operation != "query" else None)
                return
            if not await admits(scope, authorization, audience):
                await self._go_on(scope, replay, send, None)  # e.g. a token that no longer holds
                return
            answer = self.cache.answer_or_refresh(key, since=self.cache.written_at(authorization))
        if answer is not None:
            await _send(send, *answer)
            return
        # Refused while a stale answer is at hand, a reader gets that answer, not the refusal.
        stale = self.cache.stale(key, None if authorization is None else self.cache.written_at(authorization))
        status, refused = 0, False

        async def watch(message: Message) -> None:
            nonlocal status, refused
            if message["type"] == "http.response.start":
                status = message["status"]
                refused = status == 503 and stale is not None
            if not refused:
                await send(message)

        try:
            await self.app(scope, replay, watch)
        finally:
            self.cache.refreshed(key, status == 200)
        if refused and stale is not None:
            await _send(send, *stale)

    async def _go_on(self, scope: Scope, receive: Receive, send: Send, writer: bytes | None) -> None:
        """Passes the request on; a signed-in caller's possible write is noted once answered."""
        try:
            await self.app(scope, receive, send)
        finally:
            if writer is not None:
                self.cache.wrote(writer)


class QueryCacheMiddleware(_CacheMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.applies(scope):
            await self.app(scope, receive, send)
            return
        authorization, cookie = _credentials(scope)
        body, replay = await body_of(scope, receive)
        key = hashlib.sha256(body).digest()
        since, query = None, False
        if cookie:
            await self.app(scope, replay, send)  # passed on; never clears (see the module's docstring)
            return
        if authorization is not None:
            audience = self.kinds.of_body(body).shared
            if audience is None or not await admits(scope, authorization, audience):
                await self.app(scope, replay, send)
                return
            since, query = self.cache.written_at(authorization), True
            scope = without_credentials(scope)
        cached = self.cache.servable(key, since)  # only query answers are ever stored
        if cached is not None:
            await _send(send, *cached)
            return
        if not query and self.kinds.of_body(body).operation != "query":
            await self.app(scope, replay, send)
            return
        pending = self.cache.pending(key, since)
        if pending is not None:
            shared = await asyncio.shield(pending)
            if shared is not None:
                await _send(send, *shared)
                return
            # The shared execution produced nothing to share: run this request on its own.
        await self._execute(key, scope, replay, send)

    async def _execute(self, key: bytes, scope: Scope, receive: Receive, send: Send) -> None:
        future: asyncio.Future[Answer | None] = asyncio.get_running_loop().create_future()
        started = self.cache.clock()
        self.cache._pending[key] = (started, future)
        captured: dict[str, Any] = {"status": 0, "headers": [], "body": []}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"], captured["headers"] = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        result = None
        try:
            await self.app(scope, receive, capture)
            response = b"".join(captured["body"])
            if captured["status"] == 200 and len(response) <= MAX_RESPONSE_BYTES and b'"errors"' not in response:
                result = (captured["status"], captured["headers"], response)
                self.cache.store(key, started, result)
        finally:
            if self.cache._pending.get(key, (0.0, None))[1] is future:
                del self.cache._pending[key]
            future.set_result(result)  # waiters without a result run the request themselves


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
