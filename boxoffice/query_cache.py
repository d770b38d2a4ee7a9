"""Shared answers for anonymous read queries: a stadium's seat map is executed once per window,
not once per fan watching it.

Only requests without credentials, and only queries, are cached, for `ttl_s` (default 200 ms,
the live-delta window). Such answers are the same for everyone (drafts and user data are never
shown to anonymous callers), and seat-map data is indicative by contract: a cached answer is a
consistent snapshot whose `version` a client resumes from with seatChanges(sinceVersion).
Concurrent identical requests share one execution; every mutation and every seat change made
through this process clears the cache, so a client reads its own writes.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .http_body import read_body
from .schema.build import operation_type

MAX_REQUEST_BYTES = 64_000
MAX_RESPONSE_BYTES = 8_000_000


class QueryCache:
    def __init__(self, ttl_s: float = 0.2, max_entries: int = 256) -> None:
        self.ttl_s = ttl_s
        self._max = max_entries
        self._entries: dict[bytes, tuple[float, int, list[tuple[bytes, bytes]], bytes]] = {}
        self._pending: dict[bytes, asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes] | None]] = {}

    def clear(self, *_: Any) -> None:
        self._entries.clear()

    def fresh(self, key: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] >= self.ttl_s:
            return None
        return entry[1], entry[2], entry[3]

    def store(self, key: bytes, started: float, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = (started, status, headers, body)


class QueryCacheMiddleware:
    def __init__(self, app: ASGIApp, cache: QueryCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] != "/graphql" or scope["method"] != "POST"
                or self.cache.ttl_s <= 0):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        body, replay = await read_body(receive)
        assert body is not None  # no limit asked: always the body
        kind = _operation_kind(body)
        if kind != "query" or b"authorization" in headers or b"cookie" in headers:
            await self.app(scope, replay, send)
            if kind != "query":  # a mutation (or anything unknown) may have changed what reads see
                self.cache.clear()
            return
        key = hashlib.sha256(body).digest()
        hit = self.cache.fresh(key)
        if hit is None and key in self.cache._pending:
            hit = await asyncio.shield(self.cache._pending[key])
        if hit is not None:
            await _send(send, *hit)
            return
        future: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes] | None] = (
            asyncio.get_running_loop().create_future())
        self.cache._pending[key] = future
        started = time.monotonic()
        captured: dict[str, Any] = {"status": 0, "headers": [], "body": []}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"], captured["headers"] = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        result = None
        try:
            await self.app(scope, replay, capture)
            response = b"".join(captured["body"])
            if captured["status"] == 200 and len(response) <= MAX_RESPONSE_BYTES and b'"errors"' not in response:
                result = (captured["status"], captured["headers"], response)
                self.cache.store(key, started, *result)
        finally:
            del self.cache._pending[key]
            future.set_result(result)  # waiters without a result run the request themselves


def _operation_kind(body: bytes) -> str | None:
    if len(body) > MAX_REQUEST_BYTES:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("query"), str):
        return None
    name = data.get("operationName")
    return operation_type(data["query"], name if isinstance(name, str) else None)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
