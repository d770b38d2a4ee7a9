"""Database engine and URL handling: one pool per process, asyncpg underneath."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def async_url(url: str) -> str:
    """postgresql://… (the contract's form) → SQLAlchemy's asyncpg URL."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 20, max_overflow: int = 10, pool_timeout_s: float = 3) -> AsyncEngine:
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
        # Short transactions only: a stuck statement must not pin seat rows.
        connect_args={"server_settings": {"statement_timeout": "15000",
                                          "idle_in_transaction_session_timeout": "15000",
                                          "application_name": "boxoffice"}},
    )


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection for reads outside any transaction: one round trip per query,
    without the BEGIN and ROLLBACK a transaction would add. Each statement sees committed data."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


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
