"""Calls asked for in one event-loop turn, sent to Redis as one call.

redis-py spends a fraction of a millisecond of CPU on every command (pool checkout, retry and
timeout wrappers, packing, parsing); at thousands of requests a second that was as much as the
requests' own work. One call per loop turn pays it once for everyone waiting: the rate limits'
checks (accounts/rate_limits.py) and the waiting room's entries and ticket reads
(waiting_room/redis_queue_store.py) each have a script that takes a list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class TurnBatches(Generic[Item, Answer]):
    """`run` answers a list of items in order, one answer each; it fails or is cancelled as a whole."""

    def __init__(self, run: Callable[[list[Item]], Awaitable[list[Answer]]], max_batch: int = 256) -> None:
        self._run = run
        self._max_batch = max_batch
        self._pending: list[tuple[Item, asyncio.Future[Answer]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    def submit(self, item: Item) -> asyncio.Future[Answer]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Answer] = loop.create_future()
        self._pending.append((item, answer))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return answer

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), self._max_batch):
            task = asyncio.ensure_future(self._send(pending[start:start + self._max_batch]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[Item, asyncio.Future[Answer]]]) -> None:
        try:
            answers = await self._run([item for item, _ in batch])
        except Exception as err:  # each caller decides what a failure means (fail open, fail closed)
            for _, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(err)
            return
        except BaseException:
            for _, waiter in batch:
                waiter.cancel()
            raise
        for (_, waiter), answer in zip(batch, answers, strict=True):
            if not waiter.done():  # a caller that gave up (its timeout) is not answered
                waiter.set_result(answer)
