"""Concurrent callers for one key share one run of a load."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """The run is a task of its own, so a caller that gives up (a client went away) does not
    cancel it for the others; they all see its result or its exception."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Task[V]] = {}

    def start(self, key: K, run: Callable[[], Awaitable[V]]) -> asyncio.Task[V]:
        """The running task for `key`, or a new one; callers may await it or not."""
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(run())
            self._running[key] = task
            task.add_done_callback(partial(self._done, key))
        return task

    async def run(self, key: K, run: Callable[[], Awaitable[V]]) -> V:
        return await asyncio.shield(self.start(key, run))

    def running(self, key: K) -> asyncio.Task[V] | None:
        return self._running.get(key)

    def _done(self, key: K, task: asyncio.Task[V]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved: awaiting callers re-raise it; unawaited runs stay quiet

    async def aclose(self) -> None:
        """Cancels what is still running (shutdown)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
