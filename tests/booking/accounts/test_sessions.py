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
        sessions = Sessions(engine, TokenIssuer("s" * 32, 60), bus, cache_s=5, remembered=1000, clock=clock)
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


async def test_a_full_cache_forgets_its_oldest_fans_not_all_of_them(engine) -> None:
    users = await bulk_users(engine, 4)
    async with EventBus(None) as bus:
        sessions = Sessions(engine, TokenIssuer("s" * 32, 60), bus, cache_s=60, remembered=3, clock=Clock())
        try:
            with _user_reads(engine) as reads:
                for user in users:  # one read each: the fourth pushes the first out
                    await sessions.current(user.user_id)
                assert len(reads) == 4
                for user in users[1:]:
                    await sessions.current(user.user_id)
                assert len(reads) == 4  # the three newest are still known
                await sessions.current(users[0].user_id)
                assert len(reads) == 5  # the oldest was forgotten, and is read again
                await sessions.current(users[2].user_id)
                assert len(reads) == 5  # which forgot users[1] only
                await sessions.current(users[1].user_id)
                assert len(reads) == 6
        finally:
            await sessions.aclose()


class CountingIssuer(TokenIssuer):
    """Counts the tokens whose signature it really checks (PyJWT's decode), not the remembered ones."""

    decodes = 0

    def _verify(self, token: str) -> Any:
        self.decodes += 1
        return super()._verify(token)


def test_a_full_token_cache_forgets_its_oldest_token_not_all_of_them() -> None:
    issuer = CountingIssuer("s" * 32, 60, cache_size=2)
    first, second, third = (issuer.issue(UserRecord(uuid.uuid4(), "x@example.test", "X", "fan")) for _ in range(3))
    for token in (first, second, third, second, third):
        assert issuer.verify(token) is not None
    assert issuer.decodes == 3  # the second and third were remembered
    assert issuer.verify(first) is not None and issuer.decodes == 4  # the first was forgotten
    head, signature = first.rsplit(".", 1)
    other = "B" if signature[0] == "A" else "A"  # the first character carries six bits of the signature
    assert issuer.verify(f"{head}.{other}{signature[1:]}") is None  # a changed token is checked, and refused


def test_an_issuer_without_a_cache_checks_every_time() -> None:
    issuer = CountingIssuer("s" * 32, 60)
    token = issuer.issue(UserRecord(uuid.uuid4(), "x@example.test", "X", "fan"))
    assert issuer.verify(token) is not None and issuer.verify(token) is not None
    assert issuer.decodes == 2


async def test_a_token_of_an_older_version_is_refused_at_once(engine) -> None:
    (user,) = await bulk_users(engine, 1, "organizer")
    tokens = TokenIssuer("s" * 32, 60)
    record = UserRecord(user.user_id, "x@example.test", "X", "organizer")
    token = tokens.issue(record)
    async with EventBus(None) as bus:
        sessions = Sessions(engine, tokens, bus, cache_s=3600, remembered=1000)
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


async def test_a_token_newer_than_what_is_remembered_is_read_again_not_refused(engine) -> None:
    """A role or password changed by the CLI without Redis: nobody tells this process, and the user's
    next log-in (a token of the new version) was refused until the cache aged out."""
    (user,) = await bulk_users(engine, 1, "organizer")
    tokens = TokenIssuer("s" * 32, 60)
    old = tokens.issue(UserRecord(user.user_id, "x@example.test", "X", "organizer"))
    async with EventBus(None) as bus:
        sessions = Sessions(engine, tokens, bus, cache_s=3600, remembered=1000)
        try:
            assert await sessions.of_token(old) is not None
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE users SET role = 'fan', token_version = 1 WHERE id = :u"),
                                   {"u": user.user_id})
            fresh = await sessions.of_token(tokens.issue(UserRecord(user.user_id, "x", "X", "organizer", 1)))
            assert fresh is not None and fresh.viewer.role == "fan"
            assert await sessions.of_token(old) is None  # and the old one is refused from then on
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
            sessions = Sessions(engine, TokenIssuer("s" * 32, 60), bus, cache_s=5, remembered=1000, clock=clock)
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
