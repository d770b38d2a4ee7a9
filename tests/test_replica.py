"""Browse-read routing (boxoffice/replica.py) and what counts as the database being away (db.py).
The routing with a real streaming replica is in tests/scale/; these need only the suite's PostgreSQL."""

from __future__ import annotations

import asyncpg
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import text

from boxoffice.db import create_engine, database_unavailable, reading
from boxoffice.replica import ReplicaReads, read_replayed, wal_position


class _Coded(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def test_what_counts_as_the_database_being_away() -> None:
    assert database_unavailable(ConnectionRefusedError())
    assert database_unavailable(asyncpg.exceptions.ConnectionDoesNotExistError("gone"))
    assert database_unavailable(asyncpg.exceptions.TargetServerAttributeNotMatched("no read-write host"))
    for state in ("08006", "08P01", "57P01", "57P03", "25006"):
        wrapped = RuntimeError("wrapper")
        wrapped.__cause__ = _Coded(state)
        assert database_unavailable(wrapped), state
    # A wrong statement or a bug is not an outage: it stays a masked fault.
    assert not database_unavailable(_Coded("23505"))
    assert not database_unavailable(_Coded("42P01"))
    assert not database_unavailable(RuntimeError("database on fire"))


async def test_a_primary_given_as_replica_is_not_used(database_url: str) -> None:
    """Not in recovery (e.g. promoted): nobody's replica, so browse reads stay on the primary."""
    primary = create_engine(database_url, pool_size=1, max_overflow=0)
    registry = CollectorRegistry()
    reads = ReplicaReads(primary, create_engine(database_url, pool_size=1, max_overflow=0), max_lag_s=1,
                         check_s=1, registry=registry)
    try:
        await reads.check()
        assert not reads.fresh and reads.engine is primary
        assert b"boxoffice_replica_in_use 0.0" in generate_latest(registry)
        assert b"boxoffice_replica_lag_seconds -1.0" in generate_latest(registry)
    finally:
        await reads.aclose()
        await primary.dispose()


async def test_an_unreachable_replica_falls_back_to_the_primary(database_url: str) -> None:
    primary = create_engine(database_url, pool_size=1, max_overflow=0)
    # A port nobody listens on (the discard port): connecting is refused at once.
    dead = create_engine("postgresql://postgres@127.0.0.1:9/postgres", pool_size=1, max_overflow=0)
    reads = ReplicaReads(primary, dead, max_lag_s=1, check_s=1)
    reads.fresh = True  # as if the last check had found it fresh: the read itself must notice
    try:
        async with reading(reads.engine) as conn:
            assert (await conn.execute(text("SELECT 41 + 1"))).scalar() == 42
        assert not reads.fresh and reads.engine is primary
        await reads.check()
        assert reads.lag_s is None and not reads.fresh
    finally:
        await reads.aclose()
        await primary.dispose()


def test_without_a_replica_browse_reads_use_the_primary() -> None:
    primary = create_engine("postgresql://postgres@127.0.0.1:5432/postgres", pool_size=1)
    assert ReplicaReads(primary, None, max_lag_s=1, check_s=1).engine is primary


async def test_reads_behind_a_wal_position_on_the_primary(database_url: str) -> None:
    """Without a replica the primary answers (it has every commit): rows in the statement's order,
    an empty answer empty, follow-up statements on the same connection."""
    primary = create_engine(database_url, pool_size=1, max_overflow=0)
    reads = ReplicaReads(primary, None, max_lag_s=1, check_s=1)
    position = await wal_position(primary)

    async def then(conn, rows):  # type: ignore[no-untyped-def]
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1  # the connection is still ours
        return [r.n for r in rows]

    try:
        numbers = await read_replayed(primary, reads, position, "SELECT n FROM generate_series(3, 1, -1) AS n",
                                      {}, then)
        assert numbers == [3, 2, 1]
        nothing = await read_replayed(primary, reads, position, "SELECT n FROM generate_series(1, 0) AS n "
                                      "WHERE n > :m", {"m": 0}, then)
        assert nothing == []
        counted = await read_replayed(primary, None, position, "SELECT count(*) AS n FROM pg_class WHERE false",
                                      {}, then)
        assert counted == [0]
    finally:
        await primary.dispose()
