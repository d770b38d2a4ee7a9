"""BodyLimit (boxoffice/http_body.py) behind the real HTTP protocol (http_protocol.py): a body that
arrived with its headers is read with no deadline, one still coming is read within the deadline or
refused with 408, and the layers behind BodyLimit get the body it read without reading it again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from boxoffice.http_body import ARRIVED, BODY_COMPLETE, BodyLimit, body_of, read_body
from boxoffice.http_protocol import HeaderDeadlineProtocol
from live_support import free_port, serving

BODY = b'{"query":"{ __typename }"}'


@dataclass
class Recorded:
    """What the application behind BodyLimit saw of each request."""
    started: asyncio.Event = field(default_factory=asyncio.Event)
    complete_at_start: list[bool] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


class Behind:
    """A layer behind BodyLimit, as the lanes and fast paths are: it takes the body, hands on `receive`."""

    def __init__(self, recorded: Recorded) -> None:
        self.recorded = recorded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope[ARRIVED] is not None  # BodyLimit left what it read
        body, receive = await body_of(scope, receive)
        assert body == scope[ARRIVED]
        await self.app(scope, receive, send)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, _ = await read_body(receive)  # the end of the chain still receives the body
        assert body is not None
        self.recorded.bodies.append(body)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class Marked:
    """Records, as the request reaches BodyLimit, whether the protocol said its body was all here."""

    def __init__(self, app: Any, recorded: Recorded) -> None:
        self.app, self.recorded = app, recorded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.recorded.complete_at_start.append(bool(scope.get(BODY_COMPLETE)))
            self.recorded.started.set()
        await self.app(scope, receive, send)


@pytest.fixture
async def served() -> AsyncIterator[tuple[int, Recorded]]:
    port, recorded = free_port(), Recorded()
    app = Marked(BodyLimit(Behind(recorded), timeout_s=0.5), recorded)
    async with serving(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                      http=HeaderDeadlineProtocol)):
        yield port, recorded


def head(length: int) -> bytes:
    return (f"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            f"content-length: {length}\r\n\r\n").encode()


async def answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status = int((await reader.readuntil(b"\r\n")).split()[1])
    headers = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
    length = int(headers.split("content-length: ")[1].split("\r\n")[0])
    return status, await reader.readexactly(length)


async def test_a_body_sent_with_its_headers_is_read_at_once(served: tuple[int, Recorded]) -> None:
    port, recorded = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head(len(BODY)) + BODY)
    assert await answer(reader) == (200, BODY)
    assert recorded.complete_at_start == [True] and recorded.bodies == [BODY]
    writer.close()


async def test_a_body_that_follows_its_headers_is_waited_for_within_the_deadline(
        served: tuple[int, Recorded]) -> None:
    port, recorded = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head(len(BODY)) + BODY[:5])
    await writer.drain()
    await recorded.started.wait()  # the request is in the application, its body not all here
    writer.write(BODY[5:])
    assert await answer(reader) == (200, BODY)
    assert recorded.complete_at_start == [False] and recorded.bodies == [BODY]
    writer.close()


async def test_a_body_that_stops_coming_is_refused_with_408(served: tuple[int, Recorded]) -> None:
    port, recorded = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head(len(BODY)) + BODY[:5])
    status, body = await answer(reader)
    assert status == 408 and b"did not arrive" in body
    assert recorded.complete_at_start == [False] and recorded.bodies == []
    assert await reader.read() == b""  # and the connection is closed
    writer.close()
