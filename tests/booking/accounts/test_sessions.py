"""The session cache: one read for a crowd of cache misses, and a revocation never outlived."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text

from boxoffice.booking.accounts.sign_in import TokenIssuer
from boxoffice.booking.records import UserRecord
from boxoffice.booking.accounts.sessions import Sessions
from boxoffice.subscriptions.bus import EventBus
from booking.fixtures_db import bulk_users


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def _user_reads(engine) -> Iterator[list[str]]:
    """The statements reading users' token versions while inside (sent straight to asyncpg on pooled
    connections, so asyncpg's query logger sees them, not SQLAlchemy's events)."""
    reads: list[str] = []
    watched: list[Any] = []

    def seen(query: Any) -> None:
        if "token_version FROM users" in query.query:
            reads.append(query.query)

    def checked_out(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        db = record.driver_connection
        if all(db is not w for w in watched):
            db.add_query_logger(seen)
            watched.append(db)

    event.listen(engine.sync_engine.pool, "checkout", checked_out)
    try:
        yield reads
    finally:
        event.remove(engine.sync_engine.pool, "checkout", checked_out)
        for db in watched:
            db.remove_query_logger(seen)


async def test_a_crowd_of_misses_is_one_read_and_hits_are_none(engine) -> None:
    users = await bulk_users(engine, 200)
    clock = Clock()
    async with EventBus(None) as bus:
        sessions = Sessions(engine, TokenIssuer("s" * 32, 60), bus, cache_s=5, clock=clock)
        try:
            with _user_reads(engine) as reads:
                found = await asyncio.gather(*(sessions.current(u.user_id) for u in users))
                assert found == [("fan", 0)] * 200 and len(reads) == 1
                await asyncio.gather(*(sessions.current(u.user_id) for u in users))
                assert len(reads) == 1  # all cached
                clock.now = 5.0
                await sessions.current(users[0].user_id)
                assert len(reads) == 2  # aged out: read again
            assert await sessions.current(uuid.uuid4()) is None
        finally:
            await sessions.aclose()


async def test_a_token_of_an_older_version_is_refused_at_once(engine) -> None:
    (user,) = await bulk_users(engine, 1, "organizer")
    tokens = TokenIssuer("s" * 32, 60)
    record = UserRecord(user.user_id, "x@example.test", "X", "organizer")
    token = tokens.issue(record)
    async with EventBus(None) as bus:
        sessions = Sessions(engine, tokens, bus, cache_s=3600)
        try:
            session = await sessions.of_token(token)
            assert session is not None and session.viewer.role == "organizer"
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE users SET role = 'fan', token_version = 1 WHERE id = :u"),
                                   {"u": user.user_id})
            assert await sessions.of_token(token) is not None  # cached for an hour: nobody said
            await sessions.ended(user.user_id, 1)
            assert await sessions.of_token(token) is None
            fresh = await sessions.of_token(tokens.issue(UserRecord(user.user_id, "x", "X", "organizer", 1)))
            assert fresh is not None and fresh.viewer.role == "fan"  # the database's role, not the claim's
        finally:
            await sessions.aclose()


async def test_a_busy_database_serves_the_last_known_state_or_asks_to_retry(database_url) -> None:
    from boxoffice.booking.errors import RateLimited
    from boxoffice.db import create_engine

    engine = create_engine(database_url, pool_size=1, max_overflow=0, pool_timeout_s=0.2)
    clock = Clock()
    try:
        known, unknown = await bulk_users(engine, 2)
        async with EventBus(None) as bus:
            sessions = Sessions(engine, TokenIssuer("s" * 32, 60), bus, cache_s=5, clock=clock)
            try:
                assert await sessions.current(known.user_id) == ("fan", 0)
                clock.now = 5.0  # aged out: the next look is a read
                async with engine.connect():  # the pool's one connection is busy elsewhere
                    assert await sessions.current(known.user_id) == ("fan", 0)  # the last known state
                    with pytest.raises(RateLimited):
                        await sessions.current(unknown.user_id)  # nothing known: try again shortly
                assert await sessions.current(unknown.user_id) == ("fan", 0)
            finally:
                await sessions.aclose()
    finally:
        await engine.dispose()
