"""Helpers for the event bus and seat hub tests (real Redis only, no fakes of Redis)."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from redis import asyncio as aioredis

from boxoffice.subscriptions.bus import RedisBusSettings

T = TypeVar("T")

# Fast reconnection so outage tests stay short.
FAST = RedisBusSettings(
    publish_timeout=0.3,
    connect_timeout=0.5,
    op_timeout=0.5,
    confirm_timeout=1.0,
    poll_interval=0.1,
    ping_interval=2.0,
    ping_timeout=1.0,
    backoff_initial=0.05,
    backoff_max=0.3,
)


def unique(prefix: str) -> str:
    """Channel / show ids unique per test: the shared Redis may be used concurrently."""
    return f"{prefix}-{uuid.uuid4()}"


async def next_within(iterator: AsyncIterator[T], timeout: float = 3.0) -> T:
    return await asyncio.wait_for(anext(iterator), timeout)


async def eventually(predicate: Callable[[], object], timeout: float = 3.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class RedisProcess:
    """A throw-away redis-server on a fixed free port that can be killed and restarted."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts TCP connections but nothing answers."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


async def numsub(client: aioredis.Redis, channel: str) -> int:
    result = await client.pubsub_numsub(channel)
    return int(result[0][1])


class LatencyProxy:
    """TCP proxy that delays client-to-server bytes, widening subscribe/publish races."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port, self.delay = target_port, delay
        self.url = ""
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"redis://127.0.0.1:{port}/0"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, delay: float) -> None:
            try:
                while data := await src.read(65536):
                    if delay:
                        await asyncio.sleep(delay)
                    dst.write(data)
                    await dst.drain()
            finally:
                dst.close()

        for coro in (pipe(reader, up_writer, self.delay), pipe(up_reader, writer, 0)):
            task = asyncio.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
