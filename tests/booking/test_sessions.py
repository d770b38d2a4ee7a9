"""The session cache: one read for a crowd of cache misses, and a revocation never outlived."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, text

from boxoffice.booking.accounts import TokenIssuer
from boxoffice.booking.records import UserRecord
from boxoffice.booking.sessions import Sessions
from boxoffice.subscriptions.bus import EventBus
from booking.fixtures_db import bulk_users


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def _user_reads(engine) -> Iterator[list[str]]:
    """The statements reading users' token versions while inside."""
    reads: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if "token_version FROM users" in statement:
            reads.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        yield reads
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)


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
