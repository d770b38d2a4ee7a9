"""Start-up checks of the database a server runs on (real PostgreSQL)."""

from sqlalchemy import text

from boxoffice.db import database_warnings, reading


async def test_serve_warns_when_the_database_has_autovacuum_off(engine) -> None:
    """This machine's PostgreSQL runs with autovacuum off (its CI configuration); the embedded one
    keeps the default, on (tests/test_embedded_run.py)."""
    async with reading(engine) as conn:
        autovacuum = (await conn.execute(text("SHOW autovacuum"))).scalar()
    warnings = await database_warnings(engine)
    assert bool(warnings) == (autovacuum == "off")
    assert all("autovacuum off" in w and "docs/OPERATIONS.md" in w for w in warnings)
