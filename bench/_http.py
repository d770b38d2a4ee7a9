"""A bare keep-alive HTTP/1.1 client for POST /graphql, used by the load generators (_loadgen.py, the
_live.py roles and waiting_room.py).

It is an asyncio Protocol on uvloop with no aiohttp/httpx overhead, so that one process drives thousands
of requests per second on a fraction of a core. One request at a time per connection.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson


class _Proto(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._try_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed by server"))

    def _try_complete(self) -> None:
        if self.waiter is None or self.waiter.done():
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        status = int(head[9:12])
        body_start = end + 4
        i = head.find(b"\r\ncontent-length:")
        if i >= 0:
            j = head.find(b"\r\n", i + 2)
            length = int(head[i + 17:j if j >= 0 else None].strip())
            if len(self.buf) < body_start + length:
                return
            body = bytes(self.buf[body_start:body_start + length])
            del self.buf[:body_start + length]
        elif b"transfer-encoding: chunked" in head:
            pos, parts = body_start, []
            while True:
                k = self.buf.find(b"\r\n", pos)
                if k < 0:
                    return
                size = int(bytes(self.buf[pos:k]).split(b";")[0], 16)
                if len(self.buf) < k + 2 + size + 2:
                    return
                parts.append(bytes(self.buf[k + 2:k + 2 + size]))
                pos = k + 2 + size + 2
                if size == 0:
                    break
            body = b"".join(parts)
            del self.buf[:pos]
        else:
            self.waiter.set_exception(ConnectionError("response without length"))
            return
        if b"\r\nconnection: close" in head:
            self.closed = True
        self.waiter.set_result((status, body))


def _head(host: str, port: int, token: str | None) -> bytes:
    """The request head up to the Content-Length value."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\n{auth}Content-Length: ").encode()


class HttpConn:
    """One keep-alive connection, reopened (and counted) after the server or a time-out closed it.

    `token` is the connection's own bearer token (a fan per connection); post_graphql may name another
    per request (a pool of connections shared by many fans)."""

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self.host, self.port = host, port
        self.proto: _Proto | None = None
        self.token = token
        self.head = _head(host, port, token)  # built once: nothing to format per request
        self.reconnects = 0

    async def connect(self, timeout: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        _, self.proto = await asyncio.wait_for(loop.create_connection(_Proto, self.host, self.port), timeout)

    async def post(self, body: bytes, timeout: float, head: bytes | None = None) -> tuple[int, bytes]:
        """(status, body) of one POST /graphql; raises asyncio.TimeoutError or ConnectionError."""
        if self.proto is None or self.proto.closed:
            if self.proto is not None:
                self.reconnects += 1
                if self.proto.transport is not None:
                    self.proto.transport.close()
            await self.connect(timeout)
        proto = self.proto
        assert proto is not None and proto.transport is not None
        proto.waiter = asyncio.get_running_loop().create_future()
        proto.transport.write((head or self.head) + str(len(body)).encode() + b"\r\n\r\n" + body)
        try:
            return await asyncio.wait_for(proto.waiter, timeout)
        except BaseException:
            proto.closed = True  # a late answer must not be taken for the next request's
            if proto.transport is not None:
                proto.transport.close()
            raise

    async def post_graphql(self, query: str, variables: dict[str, Any], token: str | None,
                           timeout_s: float) -> tuple[int, dict[str, Any]]:
        """(status, decoded JSON body) of one GraphQL request on behalf of `token`."""
        body = orjson.dumps({"query": query, "variables": variables})
        head = None if token == self.token else _head(self.host, self.port, token)
        status, raw = await self.post(body, timeout_s, head)
        return status, orjson.loads(raw) if raw else {}

    def close(self) -> None:
        if self.proto is not None and self.proto.transport is not None:
            self.proto.transport.close()
