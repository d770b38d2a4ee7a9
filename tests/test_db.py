"""Start-up checks of the database a server runs on, and its pooled connections (real PostgreSQL)."""

import asyncio

import pytest
from asyncpg.exceptions import InternalClientError
from sqlalchemy import text

from boxoffice.booking.pg_calls import driver
from boxoffice.db import create_engine, database_unavailable, database_warnings, reading


async def test_serve_warns_when_the_database_has_autovacuum_off(engine) -> None:
    """This machine's PostgreSQL runs with autovacuum off (its CI configuration); the embedded one
    keeps the default, on (tests/test_embedded_run.py)."""
    async with reading(engine) as conn:
        autovacuum = (await conn.execute(text("SHOW autovacuum"))).scalar()
    warnings = await database_warnings(engine)
    assert bool(warnings) == (autovacuum == "off")
    assert all("autovacuum off" in w and "docs/OPERATIONS.md" in w for w in warnings)


async def test_a_pooled_connection_the_server_ended_fails_once_as_unavailable(database_url: str) -> None:
    """A backend ended while its connection sat in the pool (a failover, a restart): the statement
    made on asyncpg beneath it fails as 'the database is away' (answered RATE_LIMITED, retryable),
    and the connection leaves the pool, so the next statement works."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with driver(engine) as db:
            pid = await db.fetchval("SELECT pg_backend_pid()")
        admin = create_engine(database_url, pool_size=1, max_overflow=0)
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        await admin.dispose()
        with pytest.raises(Exception) as failed:
            async with driver(engine) as db:
                await db.fetchval("SELECT 1")
        assert database_unavailable(failed.value), repr(failed.value)
        async with driver(engine) as db:
            assert await db.fetchval("SELECT pg_backend_pid()") != pid
    finally:
        await engine.dispose()


async def test_the_pool_gets_back_every_connection_but_one_left_inside_a_transaction(database_url: str) -> None:
    """driver() hands out and takes back pooled connections directly: after statements that worked,
    one that failed and a task cancelled mid-statement, nothing stays checked out; a connection left
    inside a transaction of asyncpg's own is closed rather than handed to the next caller."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        with pytest.raises(Exception):
            async with driver(engine) as db:
                await db.fetchval("SELECT 1/0")

        started = asyncio.Event()

        async def slow() -> None:
            async with driver(engine) as db:
                started.set()
                await db.fetchval("SELECT pg_sleep(5)")
        task = asyncio.create_task(slow())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with driver(engine) as db:
            assert not db.is_in_transaction()
            pid = await db.fetchval("SELECT pg_backend_pid()")
            await db.execute("BEGIN")  # left open
        async with driver(engine) as db:
            assert not db.is_in_transaction()
            assert await db.fetchval("SELECT pg_backend_pid()") != pid
        assert engine.sync_engine.pool.checkedout() == 0
    finally:
        await engine.dispose()


def test_an_asyncpg_protocol_left_by_an_ended_connection_counts_as_unavailable() -> None:
    ended = InternalClientError("cannot switch to state 12; another operation (2) is in progress")
    assert database_unavailable(ended)
    assert database_unavailable(InternalClientError('cannot switch to state 11; protocol is in the "failed" state'))
    assert not database_unavailable(InternalClientError("cannot switch to state 12; another operation (11) is in progress"))
