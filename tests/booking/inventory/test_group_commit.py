"""The scheduling hold and release batches share (booking/inventory/group_commit.py): a batch that
PostgreSQL ended to break a deadlock is sent again, and only a lasting failure reaches its callers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any

import pytest
from asyncpg.exceptions import DeadlockDetectedError
from sqlalchemy import text

from boxoffice.booking.inventory.group_commit import BATCH_ATTEMPTS, GroupCommit
from boxoffice.db import create_engine


@pytest.fixture
async def engine(database_url):
    engine = create_engine(database_url, pool_size=2, max_overflow=0)
    yield engine
    await engine.dispose()


class _Batches(GroupCommit):
    """Every waiting call in one batch of `statement`, whose arguments are the calls' values."""

    def __init__(self, engine: Any, statement: str) -> None:
        super().__init__(engine, max_batch=10, concurrency=1, on_batch=None)
        self.statement = statement
        self.waiting: list[tuple[int, asyncio.Future[Any]]] = []

    async def call(self, value: int) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting.append((value, future))
        self._kick()
        return await future

    def _waiting(self) -> bool:
        return bool(self.waiting)

    def _next_batch(self) -> Coroutine[Any, Any, None] | None:
        batch, self.waiting = self.waiting, []
        return self._send([f for _, f in batch], self.statement, [v for v, _ in batch])


@pytest.fixture
async def made(engine):
    """The names _deadlocking made, dropped after the test: the suite's database stays the schema's."""
    names: list[str] = []
    yield names
    async with engine.begin() as conn:
        for name in names:
            for statement in (f"DROP FUNCTION {name}(int[])", f"DROP TABLE {name}_written",
                              f"DROP SEQUENCE {name}_tries"):
                await conn.execute(text(statement))


async def _deadlocking(engine: Any, made: list[str], times: int) -> str:
    """A function whose first `times` calls end as a deadlock's victim does, having written a row that
    the rollback takes back; the calls after answer their values doubled."""
    name = f"batch_{uuid.uuid4().hex[:8]}"
    made.append(name)
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE SEQUENCE {name}_tries"))
        await conn.execute(text(f"CREATE TABLE {name}_written (v int)"))
        await conn.execute(text(f"""
            CREATE FUNCTION {name}(p int[]) RETURNS TABLE (v int) LANGUAGE plpgsql AS $$
            BEGIN
              INSERT INTO {name}_written SELECT unnest(p);
              IF nextval('{name}_tries') <= {times} THEN
                RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected';
              END IF;
              RETURN QUERY SELECT x * 2 FROM unnest(p) x;
            END $$"""))
    return name


async def _written(engine: Any, name: str) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {name}_written"))).scalar_one()


async def test_a_batch_ended_by_a_deadlock_is_sent_again(engine, made) -> None:
    name = await _deadlocking(engine, made, BATCH_ATTEMPTS - 1)
    batches = _Batches(engine, f"SELECT * FROM {name}($1)")
    rows = await asyncio.gather(*(batches.call(v) for v in (1, 2, 3)))
    assert [row["v"] for row in rows] == [2, 4, 6]
    assert batches.batches == 1 and await _written(engine, name) == 3  # the ended attempts wrote nothing


async def test_a_lasting_deadlock_fails_each_caller_and_other_errors_fail_at_once(engine, made) -> None:
    name = await _deadlocking(engine, made, BATCH_ATTEMPTS)
    batches = _Batches(engine, f"SELECT * FROM {name}($1)")
    outcomes = await asyncio.gather(batches.call(1), batches.call(2), return_exceptions=True)
    assert all(isinstance(o, DeadlockDetectedError) for o in outcomes)
    assert await _written(engine, name) == 0
    broken = _Batches(engine, "SELECT 1 / (x - x) AS v FROM unnest($1::int[]) x")
    with pytest.raises(Exception, match="division by zero"):
        await broken.call(1)
