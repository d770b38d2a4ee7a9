"""Apply Alembic migrations programmatically (used by `boxoffice migrate`, `serve` and tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

# migrations/ sits beside the package at the repository root.
ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_to_head(url: str) -> None:
    """Idempotent: a database already at head is left as it is."""
    command.upgrade(alembic_config(url), "head")


def newest_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("postgresql://unused/")).get_current_head()
    assert head is not None
    return head


async def schema_behind(conn: Any) -> str | None:
    """Why this database cannot serve this boxoffice (on an asyncpg connection), or None when it is at
    the newest migration: `serve --no-migrate` on an empty database answered every query with an
    error behind a healthy /healthz."""
    at = None
    if await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
        at = await conn.fetchval("SELECT version_num FROM alembic_version LIMIT 1")
    head = newest_revision()
    if at == head:
        return None
    return (f"the database is at migration {at or 'none'}, this boxoffice needs {head}: "
            "run `boxoffice migrate` (or serve without --no-migrate)")
