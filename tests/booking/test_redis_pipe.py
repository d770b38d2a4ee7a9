"""The pipelined Redis connection: replies matched to callers, failures raised, reconnection."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from boxoffice.booking.redis_pipe import RedisPipe, RedisPipeError, ReplyError, pipe_for


@pytest.fixture
async def pipe(redis_url: str) -> AsyncIterator[RedisPipe]:
    p = RedisPipe(redis_url)
    yield p
    p.close()


async def test_concurrent_callers_each_get_their_own_reply(pipe: RedisPipe, redis_client: aioredis.Redis) -> None:
    key = f"test-pipe-{uuid.uuid4().hex}"
    try:
        replies = await asyncio.gather(*(pipe.call("INCR", key) for _ in range(300)))
        assert sorted(replies) == list(range(1, 301))  # type: ignore[type-var]
        assert replies == sorted(replies)  # answered in the order they were sent
    finally:
        await redis_client.delete(key)


async def test_commands_of_one_loop_turn_go_in_one_write(pipe: RedisPipe) -> None:
    assert await pipe.call("PING") == b"PONG"
    protocol = pipe._protocol
    assert protocol is not None and protocol.transport is not None
    writes: list[bytes] = []

    class Counting:
        def __init__(self, inner: asyncio.Transport) -> None:
            self.inner = inner

        def write(self, data: bytes) -> None:
            writes.append(data)
            self.inner.write(data)

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

    protocol.transport = Counting(protocol.transport)  # type: ignore[assignment]
    replies = await asyncio.gather(*(pipe.call("ECHO", str(i)) for i in range(50)))
    assert replies == [str(i).encode() for i in range(50)]
    assert len(writes) == 1 and writes[0].count(b"ECHO") == 50


async def test_reply_types(pipe: RedisPipe, redis_client: aioredis.Redis) -> None:
    key = f"test-pipe-{uuid.uuid4().hex}"
    try:
        assert await pipe.call("SET", key, "va\r\nlue") == b"OK"
        assert await pipe.call("GET", key) == b"va\r\nlue"
        assert await pipe.call("GET", key + "-missing") is None
        assert await pipe.call("MGET", key, key + "-missing") == [b"va\r\nlue", None]
        assert await pipe.call("EVAL", "return {1, 'x', {2}}", 0) == [1, b"x", [2]]
        error = await pipe.call("NO-SUCH-COMMAND")
        assert isinstance(error, ReplyError) and "unknown command" in str(error).lower()
        assert await pipe.call("PING") == b"PONG"  # the connection is still in step after an error
    finally:
        await redis_client.delete(key)


async def test_selects_the_database_of_the_url(redis_url: str) -> None:
    base = redis_url.rsplit("/", 1)[0]
    pipe = RedisPipe(f"{base}/13")
    other = aioredis.Redis.from_url(f"{base}/13")
    key = f"test-pipe-{uuid.uuid4().hex}"
    try:
        await pipe.call("SET", key, "1")
        assert await other.get(key) == b"1"
    finally:
        pipe.close()
        await other.delete(key)
        await other.aclose()


async def fake_redis(handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
                     ) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"redis://127.0.0.1:{port}/0"


async def test_a_reply_split_across_reads_is_put_together() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"PING\r\n")
        for byte in b"*2\r\n:1\r\n$5\r\nhello\r\n":
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.001)
        await reader.read()

    server, url = await fake_redis(handle)
    pipe = RedisPipe(url)
    try:
        assert await pipe.call("PING") == [1, b"hello"]
    finally:
        pipe.close()
        server.close()


async def test_a_lost_connection_fails_the_waiting_callers_and_the_next_call_reconnects() -> None:
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"PING\r\n")
        if connections == 1:
            writer.close()  # dies mid-request
            return
        writer.write(b"+PONG\r\n")
        await writer.drain()
        await reader.read()

    server, url = await fake_redis(handle)
    pipe = RedisPipe(url)
    try:
        with pytest.raises(RedisPipeError):
            await pipe.call("PING")
        assert await pipe.call("PING") == b"PONG"
        assert connections == 2
    finally:
        pipe.close()
        server.close()


async def test_a_silent_redis_times_out() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers

    server, url = await fake_redis(handle)
    pipe = RedisPipe(url, timeout_s=0.1)
    try:
        started = time.monotonic()
        with pytest.raises(RedisPipeError):
            await pipe.call("PING")
        assert time.monotonic() - started < 1
    finally:
        pipe.close()
        server.close()


async def test_nothing_listening_fails_at_once() -> None:
    server, url = await fake_redis(lambda r, w: asyncio.sleep(0))
    server.close()
    await server.wait_closed()
    pipe = RedisPipe(url)
    with pytest.raises(RedisPipeError):
        await pipe.call("PING")


def test_only_plain_redis_urls_get_a_pipe() -> None:
    assert pipe_for("redis://127.0.0.1:6379/0") is not None
    assert pipe_for("rediss://example.com:6380/0") is None
    assert pipe_for("unix:///var/run/redis.sock") is None
