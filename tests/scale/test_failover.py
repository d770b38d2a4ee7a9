"""The primary promoted away under load: servers given a multi-host URL with
target_session_attrs=read-write find the new primary by themselves; what was in flight either
committed or was refused with a typed Problem (and the same call again settles which); `boxoffice
audit` is clean afterwards.

Its own primary and replica: promoting one ends the topology the other scale tests share. Straight to
PostgreSQL, not through PgBouncer, whose 1.18 has one host per database (a pooler in front of a
failing-over pair would need its configuration rewritten and reloaded by the failover tool)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import uuid

from booking.fixtures_db import make_show
from boxoffice.db import create_engine
from live_support import ServerProcess, fan_tokens, free_port, gql
from scale.conftest import ScaleServer, prepare_primary, start_all, wait_streaming
from scale.infra import Postgres, Redis, scratch_root
from scale.load import HOLD, ORDER, PAY, Load
from support import wait_until


async def test_primary_promoted_away_under_load(tmp_path) -> None:
    root = scratch_root()
    old = Postgres.primary(root, "old-primary")
    new: Postgres | None = None
    redis = Redis()
    servers: list[ServerProcess] = []
    try:
        old.start()
        await asyncio.to_thread(prepare_primary, old)
        new = old.replica(root, "new-primary")
        new.start()
        await asyncio.to_thread(wait_streaming, old)
        redis.start()
        both = (f"postgresql://postgres@/postgres?host={old.dir},{new.dir}&port=5432,5432"
                "&target_session_attrs=read-write")
        engine = create_engine(old.url, pool_size=2)
        show, seats, _ = await make_show(engine, seats=80, ga=1, max_tickets=100)
        secret = "failover-" + uuid.uuid4().hex
        tokens = await fan_tokens(engine, secret, 4)
        await engine.dispose()
        servers = [ScaleServer(both, redis.url, secret, tmp_path / f"host{i}", port=free_port(),
                                 extra_env={"BOXOFFICE_DB_POOL_SIZE": "4"}) for i in range(2)]
        start_all(servers)
        load = Load([s.url for s in servers], str(show.id), seats, tokens)
        load.start(shoppers=4, browsers=1)
        try:
            await load.more(20)
            await asyncio.to_thread(old.stop)  # a planned switchover: every commit has reached the replica
            await asyncio.to_thread(new.promote)
            await load.more(30, timeout=60)
        finally:
            await load.stop()
        assert not load.server_errors(), load.server_errors()[:3]
        assert not load.unexpected(), (load.unexpected()[:3], [s.log_path.read_text()[-3000:] for s in servers])

        async def sells(url: str) -> bool:  # each server, by itself, on the new primary
            held = await gql(url, HOLD, {"i": {"showId": str(show.id), "seatIds": [seats.pop()],
                                               "idempotencyKey": uuid.uuid4().hex}}, tokens[0])
            return held["holdSeats"]["__typename"] in ("Hold", "SeatsUnavailable")

        for server in servers:
            await wait_until(lambda: sells(server.url), "sales to resume on the new primary", every=0.2)

        # Each refused call, made again with the same idempotency key, now has its definite answer.
        async with __import__("httpx").AsyncClient(timeout=20) as client:
            for refused in load.refused_as_unavailable():
                again = await load.call(client, servers[0].url, refused.query, refused.variables, refused.token)
                assert again.status == 200 and again.body and not again.body.get("errors"), again.text
                assert "briefly unavailable" not in again.text, again.text
        orders = [a for a in load.answers if a.query in (ORDER, PAY) and '"Order"' in a.text]
        assert orders, "no order went through"

        env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": new.url, "BOXOFFICE_SECRET": secret,
               "BOXOFFICE_DATA_DIR": str(tmp_path / "audit")}
        result = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "boxoffice.cli", "audit"], env=env,
                                         capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        for server in servers:
            server.stop()
        redis.stop()
        for pg in (new, old):
            if pg is not None:
                pg.destroy()
        shutil.rmtree(root, ignore_errors=True)
