"""Shared answers for anonymous read queries: a stadium's seat map is executed once per window,
not once per fan watching it.

Only requests without credentials, and only queries, are cached, for `ttl_s` (default 200 ms,
the live-delta window). Such answers are the same for everyone (drafts and user data are never
shown to anonymous callers). Concurrent identical requests share one execution; once an answer
is older than `ttl_s`, one request refreshes it while the others are still given the old one
(up to `2 * ttl_s` old, or `stale_if_error_s` while refreshes are refused or fail), so readers
never queue behind an execution, nor are they all turned away when the process sheds load.

Seat statuses and counts are indicative by contract: a cached answer is a consistent snapshot
whose `version` a client resumes from with seatChanges(sinceVersion). So changes to seat
inventory (holds, orders, payments, the waiting room, expiries) do not clear shared answers; at
a flash sale's write rate nothing would ever be shared. The writer itself reads its own writes:
its requests carry credentials, so they are never answered from here, and the seat boards behind
every executed read are patched with this process's changes at once.

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

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .http_body import read_body
from .schema.build import operation_type

MAX_REQUEST_BYTES = 64_000
MAX_RESPONSE_BYTES = 8_000_000

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
        self._pending: dict[bytes, asyncio.Future[Answer | None]] = {}
        self._refresh_sent: dict[bytes, float] = {}  # when a request last went on to refresh a stale answer
        self._refresh_failing: set[bytes] = set()

    def clear(self, *_: Any) -> None:
        self._entries.clear()
        self._refresh_sent.clear()
        self._refresh_failing.clear()

    def servable(self, key: bytes) -> Answer | None:
        """An answer to give without executing: a fresh one, or a stale one (up to twice the ttl)
        while another request is refreshing it."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        age = self.clock() - entry[0]
        if age < self.ttl_s or (age < 2 * self.ttl_s and key in self._pending):
            return entry[1]
        return None

    def answer_or_refresh(self, key: bytes) -> Answer | None:
        """For the outermost middleware: the answer to give, or None for a request that must go on
        (no answer, one past twice the ttl, or its turn to refresh a stale one). One request per
        quarter ttl goes on to refresh, so that when that one is refused (load shedding) the others
        still get the stale answer instead of each being refused in turn."""
        entry = self._entries.get(key)
        if entry is None:
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

    def refreshed(self, key: bytes, ok: bool) -> None:
        """How the request sent on by answer_or_refresh ended."""
        if ok:
            self._refresh_failing.discard(key)
        elif key in self._entries:
            self._refresh_failing.add(key)

    def store(self, key: bytes, started: float, answer: Answer) -> None:
        if len(self._entries) >= self._max:
            self.clear()
        self._entries[key] = (started, answer)


class _CacheMiddleware:
    def __init__(self, app: ASGIApp, cache: QueryCache) -> None:
        self.app = app
        self.cache = cache

    def applies(self, scope: Scope) -> bool:
        return (scope["type"] == "http" and scope["path"] == "/graphql" and scope["method"] == "POST"
                and self.cache.ttl_s > 0)


class SharedAnswers(_CacheMiddleware):
    """Outermost: a shared answer costs no other middleware, no parsing and no load-shedding slot
    (it is about a quarter of the CPU of the cheapest execution). Only anonymous requests with a
    declared small body are looked at; everything else, and every miss, goes on untouched."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.applies(scope):
            await self.app(scope, receive, send)
            return
        length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name in (b"authorization", b"cookie"):
                length = None
                break
        if length is None or not length.isdigit() or int(length) > MAX_REQUEST_BYTES:
            await self.app(scope, receive, send)
            return
        body, replay = await read_body(receive)  # already read whole, in time, by BodyLimit in front
        if body is None:
            await self.app(scope, replay, send)
            return
        key = hashlib.sha256(body).digest()
        answer = self.cache.answer_or_refresh(key)
        if answer is not None:
            await _send(send, *answer)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, replay, watch)
        finally:
            self.cache.refreshed(key, status == 200)


class QueryCacheMiddleware(_CacheMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.applies(scope):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        body, replay = await read_body(receive)
        assert body is not None  # no limit asked: always the body
        anonymous = b"authorization" not in headers and b"cookie" not in headers
        key = hashlib.sha256(body).digest()
        if anonymous:
            cached = self.cache.servable(key)  # only query answers are ever stored: no parsing needed
            if cached is not None:
                await _send(send, *cached)
                return
        if not anonymous or not _is_query(body):  # passed on; never clears (see the module's docstring)
            await self.app(scope, replay, send)
            return
        pending = self.cache._pending.get(key)
        if pending is not None:
            shared = await asyncio.shield(pending)
            if shared is not None:
                await _send(send, *shared)
                return
            # The shared execution produced nothing to share: run this request on its own.
        await self._execute(key, scope, replay, send)

    async def _execute(self, key: bytes, scope: Scope, receive: Receive, send: Send) -> None:
        future: asyncio.Future[Answer | None] = asyncio.get_running_loop().create_future()
        self.cache._pending[key] = future
        started = self.cache.clock()
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
            if self.cache._pending.get(key) is future:
                del self.cache._pending[key]
            future.set_result(result)  # waiters without a result run the request themselves


def _is_query(body: bytes) -> bool:
    """Whether the body is one GraphQL request selecting a query operation."""
    if len(body) > MAX_REQUEST_BYTES:
        return False
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(data, dict) or not isinstance(data.get("query"), str):
        return False
    name = data.get("operationName")
    return operation_type(data["query"], name if isinstance(name, str) else None) == "query"


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
