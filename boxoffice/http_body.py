"""Reading a request body in ASGI middleware, then handing it on as if unread; and BodyLimit, the
outermost reader that bounds every body by size and by time before anything else sees it.

BodyLimit leaves the body it read in the scope (ARRIVED), so the layers behind it (lanes, shared
answers, the fast paths) take it from there (`body_of`) rather than each reading it again through
the one before. And it sets no deadline when the HTTP protocol says the whole body has already
arrived (BODY_COMPLETE, http_protocol.py): then reading it cannot wait on the client, and a timer
per request was a few per cent of a small request's CPU."""

from __future__ import annotations

import asyncio

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1_000_000
ARRIVED = "boxoffice.body"  # scope key: the whole body, as BodyLimit read it
BODY_COMPLETE = "boxoffice.body_complete"  # scope key: the protocol has the whole body (http_protocol.py)


async def read_body(receive: Receive, max_bytes: int | None = None) -> tuple[bytes | None, Receive]:
    """The whole body (None once it passes max_bytes) and a `receive` that replays it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if max_bytes is not None and size > max_bytes:
            return None, receive
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def body_of(scope: Scope, receive: Receive) -> tuple[bytes, Receive]:
    """The request's whole body and a `receive` that still yields it: BodyLimit's reading when it is
    in front (it has bounded the body already), else read here, with no limit."""
    body = scope.get(ARRIVED)
    if body is not None:
        return body, receive
    read, replay = await read_body(receive)
    assert read is not None  # no limit asked
    return read, replay


class BodyLimit:
    """Reads every request body whole, within `max_bytes` and `timeout_s`, before any other
    middleware or the API sees the request.

    Outermost, so that a client who sends headers and then part of a body (or nothing) holds a
    socket and a timer only: no load-shedding slot, no database connection, no shared-answer
    lookup waits on it. Past the deadline it gets 408 and the connection is closed; past the size,
    413 (declared or not: a chunked body is read up to the limit)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, timeout_s: float = 5.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
                break
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _refuse(413, "Request body too large.", scope, receive, send)
            return
        # A body the protocol has whole already cannot wait on the client: no timer is armed for it.
        deadline = None if scope.get(BODY_COMPLETE) or self.timeout_s <= 0 else self.timeout_s
        try:
            async with asyncio.timeout(deadline):
                body, replay = await read_body(receive, self.max_bytes)
        except TimeoutError:
            await _refuse(408, f"The request body did not arrive within {self.timeout_s:g} s.", scope, receive, send)
            return
        if body is None:
            await _refuse(413, "Request body too large.", scope, receive, send)
            return
        scope[ARRIVED] = body
        await self.app(scope, replay, send)


async def _refuse(status: int, message: str, scope: Scope, receive: Receive, send: Send) -> None:
    # A stalled client's connection is closed after the 408. One that sent too much may still be
    # sending: closing under it would reset the connection before it reads the 413.
    await JSONResponse({"errors": [{"message": message, "extensions": {"code": "INVALID_INPUT"}}]}, status,
                       headers={"Connection": "close"} if status == 408 else None)(scope, receive, send)
