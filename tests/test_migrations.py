"""Migrations reach head on a fresh database and match the models (`alembic check` is clean)."""

from alembic import command

from boxoffice.migrate import alembic_config, upgrade_to_head


def test_alembic_check_is_clean(database_url) -> None:
    command.check(alembic_config(database_url))  # raises if the models and migrations differ


def test_migrating_twice_changes_nothing(database_url) -> None:
    upgrade_to_head(database_url)
    command.check(alembic_config(database_url))
