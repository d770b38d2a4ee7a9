"""boxoffice behind PgBouncer in transaction mode (BOXOFFICE_DATABASE_POOLED=1), where consecutive
transactions of one client connection run on whichever server connection is free: nothing may
depend on session state. Checked two ways: the code uses no session-scoped feature, and the
engine's every kind of statement works with many clients multiplexed over few server connections."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

from sqlalchemy import text

from boxoffice.booking.pg_calls import driver
from boxoffice.db import create_engine, is_pooled, reading
from scale.conftest import Deployment

PACKAGE = Path(__file__).resolve().parents[2] / "boxoffice"

# What would outlive a transaction on its server connection, and so leak to another client or be
# missing on the next transaction: session advisory locks, session SET/RESET, LISTEN, named
# prepared statements, WITH HOLD cursors, temporary tables, set_config(..., false).
SESSION_SCOPED = [
    re.compile(r"pg_(try_)?advisory_lock(_shared)?\s*\(", re.I),
    # SQL is written in capitals here; a statement's own SET (UPDATE ... SET) follows its table name.
    re.compile(r"""(text\(|execute\(|fetch\w*\()\s*f?["'](SET|RESET)\s+(?!LOCAL\b|TRANSACTION\b|CONSTRAINTS\b)"""),
    re.compile(r"""["']\s*(UN)?LISTEN\s"""),
    re.compile(r"\.prepare\(|\bPREPARE\s+\w+\s+AS\b"),
    re.compile(r"WITH\s+HOLD\b"),
    re.compile(r"CREATE\s+TEMP(ORARY)?\s+TABLE"),
    re.compile(r"set_config\([^)]*,\s*false\s*\)", re.I),
]


def test_no_session_scoped_feature_in_the_code() -> None:
    found = []
    for path in PACKAGE.rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if any(p.search(line) for p in SESSION_SCOPED):
                found.append(f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}")
    assert not found, "session-scoped under PgBouncer's transaction mode:\n" + "\n".join(found)


def test_the_check_would_see_each_kind() -> None:
    samples = ['text("SELECT pg_advisory_lock(1)")', 'text("SET statement_timeout = 0")', '"LISTEN seats"',
               "await db.prepare(sql)", "DECLARE c CURSOR WITH HOLD", "CREATE TEMP TABLE x ()",
               "set_config('a', 'b', false)"]
    assert all(any(p.search(s) for p in SESSION_SCOPED) for s in samples)
    allowed = ['text("SET LOCAL lock_timeout = 1")', "pg_advisory_xact_lock(1)", "set_config('a', 'b', true)"]
    assert not any(p.search(s) for s in allowed for p in SESSION_SCOPED)


async def test_every_kind_of_statement_multiplexed_through_pgbouncer(deployment: Deployment) -> None:
    """30 client connections over PgBouncer's 8 server connections: reads outside transactions (the
    statement unnamed, parsed and executed before one Sync), transactions with advisory and
    set_config locks, raw asyncpg calls; each sees only its own, and nothing leaks across."""
    engine = create_engine(deployment.bouncer.url, pool_size=30, max_overflow=0, pooled=True)
    assert is_pooled(engine)
    try:
        async def one(i: int) -> None:
            for round_ in range(10):
                async with reading(engine) as conn:  # a different statement text each time: no cache
                    assert (await conn.execute(text(f"SELECT :v + {round_}"), {"v": i})).scalar() == i + round_
                async with engine.begin() as conn:
                    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"scale-{i}"})
                    await conn.execute(text("SELECT set_config('application_name', :n, true)"), {"n": f"t{i}"})
                    assert (await conn.execute(text("SHOW application_name"))).scalar() == f"t{i}"
                async with driver(engine) as db:
                    assert await db.fetchval("SELECT $1::text || $2::text", str(i), str(round_)) == f"{i}{round_}"
                    row = await db.fetchrow("SELECT current_setting('application_name') AS name")
                    assert row["name"] == "boxoffice"  # the transaction-scoped name did not leak
                    assert await db.fetchval("SELECT current_setting('statement_timeout')") == "15s"

        await asyncio.gather(*(one(i) for i in range(30)))
        assert deployment.bouncer.server_connections() <= 8
    finally:
        await engine.dispose()


async def test_a_session_setting_would_leak_through_pgbouncer(deployment: Deployment) -> None:
    """Why the rule above matters: a session SET made by one client is seen by another, whose
    transaction PgBouncer runs on the same server connection. (Through a pool of one server
    connection, so that it is the same one every time, whatever else the deployment runs.)"""
    engine = create_engine(deployment.bouncer.one_server_url, pool_size=2, max_overflow=0, pooled=True)
    marker = f"leak-{uuid.uuid4().hex[:8]}"
    try:
        async with engine.connect() as first, engine.connect() as second:
            await first.execution_options(isolation_level="AUTOCOMMIT")
            await second.execution_options(isolation_level="AUTOCOMMIT")
            # (Not application_name: PgBouncer tracks that one per client and sets it back.)
            await first.execute(text(f"SET boxoffice.leak_demo = '{marker}'"))
            seen = (await second.execute(text("SELECT current_setting('boxoffice.leak_demo', true)"))).scalar()
            assert seen == marker
    finally:
        await engine.dispose()
