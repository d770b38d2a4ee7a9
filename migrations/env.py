"""Alembic environment (async): the URL comes from the config or DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from boxoffice.db import async_url
from boxoffice.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("DATABASE_URL is not set")
    return async_url(url)


def _include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # Per-show version sequences are created at run time, not by migrations.
    return not (type_ == "table" and reflected and compare_to is None and name.startswith("show_v_"))


# One migration run at a time per database: hosts starting `serve` at once on a new database each
# created alembic_version, and all but one failed on the duplicate.
_MIGRATE_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('boxoffice migrate', 0))"


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata,
                      include_object=_include_object, compare_type=True)
    with context.begin_transaction():
        connection.exec_driver_sql(_MIGRATE_LOCK)  # then the versions applied meanwhile are read
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
