"""One pipelined Redis connection for hot-path commands (the hold rate limit).

redis-py 8 spends about 0.2 ms of CPU on every command (pool checkout, retry and timeout
wrappers, observability hooks), as much as the rest of a hold's Python work. Here every caller
writes its command straight onto one shared connection and waits for its reply: Redis answers
a connection's commands in order, so replies are matched to callers first in, first out, and
concurrent callers pipeline for free. RESP2 only; no pub/sub, no transactions, no TLS.

Failures are the caller's to handle: a refused connection, a lost one (every waiting caller
fails) or a reply slower than `timeout_s` raises RedisPipeError; the next call reconnects.
"""

from __future__ import annotations

import asyncio
from collections import deque
from urllib.parse import unquote, urlsplit


class RedisPipeError(Exception):
    pass


class ReplyError(RedisPipeError):
    """Redis answered with an error (`-ERR …`)."""


Reply = int | bytes | None | list["Reply"] | ReplyError


def encode(args: tuple[bytes | str | int, ...]) -> bytes:
    """A command in RESP (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class _Incomplete(Exception):
    pass


def _parse(buf: bytearray, pos: int) -> tuple[Reply, int]:
    """One reply from buf[pos:], and where the next starts; _Incomplete if it has not all arrived."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind, line = buf[pos], bytes(buf[pos + 1:end])
    pos = end + 2
    if kind == 0x2B:  # + simple string
        return line, pos
    if kind == 0x2D:  # - error
        return ReplyError(line.decode(errors="replace")), pos
    if kind == 0x3A:  # : integer
        return int(line), pos
    if kind == 0x24:  # $ bulk string
        n = int(line)
        if n < 0:
            return None, pos
        if len(buf) < pos + n + 2:
            raise _Incomplete
        return bytes(buf[pos:pos + n]), pos + n + 2
    if kind == 0x2A:  # * array
        n = int(line)
        if n < 0:
            return None, pos
        items: list[Reply] = []
        for _ in range(n):
            item, pos = _parse(buf, pos)
            items.append(item)
        return items, pos
    raise RedisPipeError(f"unexpected reply type {chr(kind)!r}")


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Reply]] = deque()
        self.buf = bytearray()
        self.lost = False
        self.outbox: list[bytes] = []  # commands of this loop turn, written together (one syscall)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        pos = 0
        try:
            while pos < len(self.buf):
                reply, pos_after = _parse(self.buf, pos)
                pos = pos_after
                if not self.waiting:
                    raise RedisPipeError("a reply nobody asked for")
                waiter = self.waiting.popleft()
                if not waiter.done():  # a caller that timed out still gets its reply discarded here
                    waiter.set_result(reply)
        except _Incomplete:
            pass
        except (RedisPipeError, ValueError) as err:
            self._fail(RedisPipeError(f"bad reply from Redis: {err}"))
            if self.transport is not None:
                self.transport.close()
            return
        del self.buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisPipeError(f"connection to Redis lost: {exc}"))

    def flush(self) -> None:
        if self.outbox and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.outbox))
        self.outbox.clear()

    def _fail(self, err: RedisPipeError) -> None:
        self.lost = True
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(err)


class RedisPipe:
    def __init__(self, url: str, *, timeout_s: float = 0.25) -> None:
        parts = urlsplit(url)
        if parts.scheme != "redis":
            raise ValueError("RedisPipe takes redis:// URLs (no TLS)")
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 6379
        self._db = int(parts.path.lstrip("/") or 0)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._timeout_s = timeout_s
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Task[_Protocol] | None = None

    async def call(self, *args: bytes | str | int) -> Reply:
        """The reply to one command; a Redis error reply is returned as ReplyError, not raised."""
        protocol = self._protocol
        if protocol is None or protocol.lost:
            protocol = await self._connect()
        return await self._send(protocol, encode(args))

    async def _send(self, protocol: _Protocol, command: bytes) -> Reply:
        assert protocol.transport is not None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Reply] = loop.create_future()
        protocol.waiting.append(waiter)
        protocol.outbox.append(command)
        if len(protocol.outbox) == 1:
            loop.call_soon(protocol.flush)
        timer = loop.call_later(self._timeout_s, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()

    async def _connect(self) -> _Protocol:
        # One connection attempt at a time; concurrent callers share it.
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        task = self._connecting
        try:
            return await asyncio.shield(task)
        finally:
            if task.done() and self._connecting is task:
                self._connecting = None

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout_s):
                _, protocol = await loop.create_connection(_Protocol, self._host, self._port)
                setup: list[tuple[str | int, ...]] = []
                if self._password is not None:
                    setup.append(("AUTH", self._password) if self._user is None else
                                 ("AUTH", self._user, self._password))
                if self._db:
                    setup.append(("SELECT", self._db))
                for command in setup:
                    reply = await self._send(protocol, encode(command))
                    if isinstance(reply, ReplyError):
                        assert protocol.transport is not None
                        protocol.transport.close()
                        raise reply
        except (OSError, TimeoutError) as err:
            raise RedisPipeError(f"cannot connect to Redis: {err!r}") from None
        self._protocol = protocol
        return protocol

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None


def pipe_for(url: str, *, timeout_s: float = 0.25) -> RedisPipe | None:
    """A pipe for plain redis:// URLs; None for the others (TLS, Unix sockets), which keep redis-py."""
    return RedisPipe(url, timeout_s=timeout_s) if urlsplit(url).scheme == "redis" else None


def _expire(waiter: asyncio.Future[Reply]) -> None:
    if not waiter.done():
        waiter.set_exception(RedisPipeError("Redis did not answer in time"))
