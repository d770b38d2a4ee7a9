"""Database engine and URL handling: one pool per process, asyncpg underneath."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn


def async_url(url: str) -> str:
    """postgresql://… (the contract's form) → SQLAlchemy's asyncpg URL."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


# Sent at connection start when PostgreSQL is reached directly. PgBouncer 1.18 refuses startup
# parameters it does not know, so behind it the database role carries them (docs/SCALE.md).
SESSION_SETTINGS = {"statement_timeout": "15000", "idle_in_transaction_session_timeout": "15000"}


def create_engine(url: str, *, pool_size: int = 20, max_overflow: int = 10, pool_timeout_s: float = 3,
                  pooled: bool = False) -> AsyncEngine:
    """pooled: `url` is PgBouncer in transaction mode, where consecutive transactions of one client
    connection may run on different server connections. Nothing session-scoped may then outlive a
    transaction: no named prepared statements (asyncpg's and SQLAlchemy's caches off, so statements
    are unnamed, parsed and executed before the Sync that lets PgBouncer hand the server connection
    on) and no session settings (only transaction-scoped advisory locks and set_config(..., true)
    are used anywhere: tests/scale/test_pgbouncer.py checks it)."""
    # Short transactions only: a stuck statement must not pin seat rows.
    server_settings = {"application_name": "boxoffice", **({} if pooled else SESSION_SETTINGS)}
    connect_args: dict[str, object] = {"server_settings": server_settings}
    if pooled:
        connect_args.update(statement_cache_size=0, prepared_statement_cache_size=0)
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No pre-ping: on asyncpg it costs three round trips per checkout (a third of a hold's).
        # A connection broken by a database restart fails one statement, after which SQLAlchemy
        # recognises the disconnect and replaces every pooled connection; recycling bounds age.
        pool_pre_ping=False,
        pool_recycle=300,
        # Waiting long for a connection only piles up requests whose clients have given up.
        pool_timeout=pool_timeout_s,
        connect_args=connect_args,
        execution_options={"boxoffice_pooled": pooled},
    )


def is_pooled(engine: AsyncEngine) -> bool:
    """Whether the engine talks to PostgreSQL through PgBouncer in transaction mode."""
    return bool(engine.get_execution_options().get("boxoffice_pooled"))


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection for reads outside any transaction: one round trip per query,
    without the BEGIN and ROLLBACK a transaction would add. Each statement sees committed data."""
    async with connected(engine) as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


@asynccontextmanager
async def pool_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """The asyncpg connection of a pooled connection, taken from the pool and given back to it
    directly: half the CPU of `engine.connect()` (measured: ~38 against ~78 µs a checkout), which
    builds a Connection with its events and gives it back through a task of its own. For
    statements made on asyncpg only, which never begin a transaction SQLAlchemy knows of, so
    giving the connection back sends nothing and cannot be cut short by a cancellation. One the
    server ended (`database_unavailable`), or left inside a transaction of asyncpg's, is closed
    instead of going back to the pool."""
    pooled = await engine.raw_connection()
    db = pooled.driver_connection
    broken = False
    try:
        yield db
    except Exception as err:
        broken = database_unavailable(err)
        raise
    finally:
        if broken or db is None or db.is_in_transaction():
            await asyncio.shield(_discard(pooled))
        else:
            await greenlet_spawn(pooled.close)


async def _discard(pooled: Any) -> None:
    try:
        await greenlet_spawn(pooled.invalidate)
    except (DBAPIError, OSError):
        pass


@asynccontextmanager
async def connected(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """engine.connect(); but an engine made by boxoffice/replica.py for a read replica carries the
    primary as a fallback: its connection is tried first (one `SELECT 1`), and if the replica does
    not answer, the connection is the primary's and the replica is reported down, so a replica
    stopping costs no request. (A replica's connection comes out of autocommit, no transaction open.)"""
    options = engine.get_execution_options()
    fallback: AsyncEngine | None = options.get("boxoffice_fallback")
    if fallback is None:
        async with engine.connect() as conn:
            try:
                yield conn
            except Exception as err:
                if database_unavailable(err):
                    await _invalidate_quietly(conn)
                raise
        return
    conn = engine.connect()
    failure: BaseException | None = None
    try:
        await conn.start()
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("SELECT 1")
        await conn.commit()  # ends SQLAlchemy's autobegun (and, in autocommit, empty) transaction
    except (DBAPIError, OSError) as err:
        failure = err
    except BaseException:  # cancelled meanwhile: give the connection back all the same
        await _close_quietly(conn)
        raise
    if failure is not None:
        await _close_quietly(conn)
        options["boxoffice_on_failure"](failure)
        async with connected(fallback) as primary_conn:
            yield primary_conn
        return
    try:
        yield conn
    except Exception as err:  # died under this read: the next ones go to the primary until it is back
        if database_unavailable(err):
            await _invalidate_quietly(conn)
            options["boxoffice_on_failure"](err)
        raise
    finally:
        await _close_quietly(conn)


async def _invalidate_quietly(conn: AsyncConnection) -> None:
    """Keeps a connection the server ended out of the pool. SQLAlchemy does this itself for errors
    of its own statements; not for those made on the asyncpg connection beneath (pg_calls.driver)."""
    try:
        await conn.invalidate()
    except (DBAPIError, OSError):
        pass


async def _close_quietly(conn: AsyncConnection) -> None:
    if conn.sync_connection is None:  # never got a connection: nothing to give back
        return
    try:
        await conn.close()
    except (DBAPIError, OSError):
        pass


async def database_warnings(engine: AsyncEngine) -> list[str]:
    """Settings of the database that hurt a long on-sale, said once at start-up."""
    async with reading(engine) as conn:
        autovacuum = (await conn.execute(text("SHOW autovacuum"))).scalar()
    if autovacuum == "off":
        # Every hold, expiry and sale leaves a dead seat row (the status columns are indexed, so no
        # update is HOT): unvacuumed, five minutes of a flash sale left three dead rows per live one.
        return ["PostgreSQL has autovacuum off: dead seat rows pile up during a sale unless show_seats, "
                "holds and outbox are vacuumed regularly (docs/OPERATIONS.md)"]
    return []


# SQLSTATEs of a database that is away or changing hands: connection exceptions (class 08, which
# PgBouncer also uses for its own refusals), shutdowns, recovery, and a primary demoted to read-only.
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "25006")


def database_unavailable(err: BaseException) -> bool:
    """Whether `err` says PostgreSQL (or PgBouncer before it) could not be reached or cut the
    connection, rather than that a statement was wrong: a failover, a pooler restart. What was in
    flight either committed or not, and the same call with the same idempotency key settles which."""
    seen: BaseException | None = err
    for _ in range(6):  # SQLAlchemy's wrapper, the adapter's, the driver's own
        if seen is None:
            return False
        # No host accepted (target_session_attrs=read-write mid-failover); no pooled connection in time.
        if isinstance(seen, (OSError, PoolTimeout)) or type(seen).__name__ in (
                "ConnectionDoesNotExistError", "TargetServerAttributeNotMatched"):
            return True
        if type(seen).__name__ == "InterfaceError" and "connection is closed" in str(seen):
            return True
        # asyncpg's protocol left in its error-consume (2) or failed state by a server that ended the
        # connection (a shutdown's FATAL) while it was pooled: the next statement on it says so.
        if type(seen).__name__ == "InternalClientError" and (
                "another operation (2)" in str(seen) or '"failed" state' in str(seen)):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_UNAVAILABLE_STATES):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False
