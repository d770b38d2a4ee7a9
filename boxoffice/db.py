"""Database engine and URL handling: one pool per process, asyncpg underneath."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(url: str) -> str:
    """postgresql://… (the contract's form) → SQLAlchemy's asyncpg URL."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def plain_url(url: str) -> str:
    """The libpq form (for asyncpg.connect and tools like psql)."""
    u = make_url(url).set(drivername="postgresql")
    return u.render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 20, max_overflow: int = 10) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_timeout=10,
        # Short transactions only: a stuck statement must not pin seat rows.
        connect_args={"server_settings": {"statement_timeout": "15000",
                                          "idle_in_transaction_session_timeout": "15000",
                                          "application_name": "boxoffice"}},
    )
