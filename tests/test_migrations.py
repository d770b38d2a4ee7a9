"""Migrations reach head on a fresh database and match the models (`alembic check` is clean)."""

import os
import uuid

from alembic import command

from boxoffice.migrate import alembic_config, upgrade_to_head


def test_alembic_check_is_clean(database_url) -> None:
    command.check(alembic_config(database_url))  # raises if the models and migrations differ


def test_migrating_twice_changes_nothing(database_url) -> None:
    upgrade_to_head(database_url)
    command.check(alembic_config(database_url))


def _function_source(url: str, name: str) -> str:
    import asyncio

    import asyncpg

    async def read() -> str:
        conn = await asyncpg.connect(url.replace("+asyncpg", ""))
        try:
            return str(await conn.fetchval("SELECT prosrc FROM pg_proc WHERE proname = $1", name))
        finally:
            await conn.close()

    return asyncio.run(read())


def test_the_active_holds_index_migration_goes_down_and_up_again(private_database_url) -> None:
    """0005 rewrites the fan's ticket sum of the two hold functions; going back restores them as
    0003 and 0004 wrote them, and coming forward again leaves the models and database equal."""
    cfg = alembic_config(private_database_url)
    command.downgrade(cfg, "0004")
    assert "AND status = 'active' AND expires_at > now()), 0)" in _function_source(private_database_url,
                                                                                   "hold_reserved_seats")
    command.upgrade(cfg, "head")
    for name in ("hold_reserved_seats", "hold_reserved_seats_batch"):
        assert "sum(CASE WHEN expires_at > now() THEN ticket_count END)" in _function_source(private_database_url, name)
    command.check(cfg)


def test_the_one_settlement_migration_goes_down_and_up_again(private_database_url) -> None:
    """0015 folds the primary and the resale settlement into settle_intent(); going back restores
    the two functions 0008 and 0013 wrote (and settle_intent choosing between them), and coming
    forward again drops them."""
    cfg = alembic_config(private_database_url)
    command.downgrade(cfg, "0014_waitlist")
    assert "settle_resale_intent(" in _function_source(private_database_url, "settle_intent")
    assert "INSERT INTO tickets" in _function_source(private_database_url, "settle_paid_intent")
    command.upgrade(cfg, "head")
    assert "bind_paid_order(" in _function_source(private_database_url, "settle_intent")
    assert _function_source(private_database_url, "settle_paid_intent") == "None"  # gone
    command.check(cfg)


def test_migrations_started_at_once_on_a_new_database_all_succeed() -> None:
    """Hosts starting `serve` (which migrates first) together on a new database: all but one failed
    with a traceback (each created alembic_version)."""
    import asyncio
    import subprocess
    import sys

    from conftest import ADMIN_URL, _admin

    name = f"boxoffice_test_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        env = {**os.environ, "DATABASE_URL": ADMIN_URL.rsplit("/", 1)[0] + "/" + name}
        runs = [subprocess.Popen([sys.executable, "-m", "boxoffice.cli", "migrate"], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
        outcomes = [(run.wait(timeout=300), run.stderr.read() if run.stderr else "") for run in runs]
        assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
