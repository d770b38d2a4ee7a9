"""The scheduling that hold_batch.py and release_batch.py share: group commit without a timer.

A call goes at once when fewer than `concurrency` batches are in PostgreSQL (on the next loop turn,
with whatever arrived in the same turn), else it waits for the next batch, which takes everything
that arrived meanwhile, up to `max_batch`. A quiet server adds no wait; under load batches grow by
themselves. Subclasses say what is waiting, how the next batch is taken and what its one statement is;
`_send` runs it and answers each caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from asyncpg.exceptions import TransactionRollbackError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..pg_calls import driver

# Each call in a batch locks its own rows in key order, but a batch takes its calls one after the
# other, so two batches (of two processes, or the two a process runs at once) can wait on each
# other, and PostgreSQL then ends one to break the deadlock. A batch is one statement outside any
# transaction: ended, it changed nothing, and it is sent again, at most this many times in all.
BATCH_ATTEMPTS = 3


class GroupCommit:
    def __init__(self, engine: AsyncEngine, *, max_batch: int, concurrency: int,
                 on_batch: Callable[[int], object] | None) -> None:
        self.engine = engine
        self.max_batch = max(1, max_batch)
        self.concurrency = max(1, concurrency)
        self.on_batch = on_batch  # told each batch's size (a metric)
        self._running: set[asyncio.Task[None]] = set()
        self._scheduled = False
        self.batches = 0  # batches sent and the calls in them, for tests and benchmarks
        self.calls = 0

    async def _send(self, futures: list[asyncio.Future[Mapping[str, Any]]], statement: str, *args: Any) -> None:
        """A batch's one statement on raw asyncpg, one row per call, in order, each to its caller's
        future. On pg_calls.driver, so a connection that died mid-call leaves the pool. A statement
        that fails as a whole fails every caller in it with the same error; one that PostgreSQL
        rolled back to break a deadlock (or a serialization failure) is sent again first."""
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            try:
                async with driver(self.engine) as db:
                    rows = await db.fetch(statement, *args)
                break
            except Exception as err:
                if isinstance(err, TransactionRollbackError) and attempt < BATCH_ATTEMPTS:
                    continue
                for future in futures:
                    if not future.done():
                        future.set_exception(err)
                return
        self.batches += 1
        self.calls += len(futures)
        if self.on_batch is not None:
            self.on_batch(len(futures))
        for future, row in zip(futures, rows, strict=True):
            if not future.done():  # a cancelled caller is not answered
                future.set_result(row)

    def _waiting(self) -> bool:
        raise NotImplementedError

    def _next_batch(self) -> Coroutine[Any, Any, None] | None:
        """The next batch's run, taken off the waiting calls; None if they were all cancelled."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Waits for the batches in PostgreSQL (nothing new starts once callers stop coming)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _kick(self) -> None:
        if self._scheduled or len(self._running) >= self.concurrency or not self._waiting():
            return
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._start)  # gather what arrives in this loop turn

    def _start(self) -> None:
        self._scheduled = False
        while len(self._running) < self.concurrency and self._waiting():
            batch = self._next_batch()
            if batch is None:
                continue
            task = asyncio.get_running_loop().create_task(batch)
            self._running.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._kick()
