"""CPU per waiting-room entry and per session read, in one process (issue 16: entering the queue must be
the cheapest request the service answers).

    .venv/bin/python bench/entry_cpu.py [--session-fans 5000] [--entry-fans 3000]

0. A token's check alone (booking/accounts/sign_in.py `TokenIssuer.verify`): its first check (PyJWT's
   decode) against a remembered one (BOXOFFICE_SIGNED_IN_CACHE), per token.
1. The session read alone (booking/accounts/sessions.py): `Sessions.current` for fans it has not seen,
   one fan per event-loop turn (the worst case: a read each) and 20 per turn (one read for 20).
2. `enterWaitingRoom` through the real app (uvicorn in this process, Redis, a bare keep-alive client,
   20 connections): each fan's first entry (their session is read), their second (cached), and then
   a poll of their ticket (`waitingRoomTicket`), the request entering is measured against.
   The figure includes the client's share (bench/_http.py, small).

CPU time of this process (time.process_time), not wall time: the box is shared. To measure an older
tree, put its `boxoffice` package first on PYTHONPATH. Indicative only on a shared box: alternate runs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "booking"))

import uvicorn  # noqa: E402
from fixtures_db import bulk_users, make_show  # noqa: E402
from sqlalchemy import text  # noqa: E402

from _db import BenchDatabase  # noqa: E402
from _http import HttpConn  # noqa: E402
from boxoffice.app import create_app  # noqa: E402
from boxoffice.booking.accounts.sessions import Sessions  # noqa: E402
from boxoffice.booking.accounts.sign_in import TokenIssuer  # noqa: E402
from boxoffice.booking.records import UserRecord  # noqa: E402
from boxoffice.config import Settings  # noqa: E402
from boxoffice.db import create_engine  # noqa: E402
from boxoffice.migrate import upgrade_to_head  # noqa: E402
from boxoffice.subscriptions.bus import EventBus  # noqa: E402

ENTER = ("mutation($s: ID!) { enterWaitingRoom(showId: $s) { __typename "
         "... on WaitingRoomTicket { id status position } ... on Rejected { code } } }")
TICKET = "query($id: ID!) { waitingRoomTicket(id: $id) { id status position estimatedWaitSeconds } }"
CONNECTIONS = 20




def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _token_checks(n: int) -> None:
    issuer = TokenIssuer("s" * 32, 3600, cache_size=n)
    tokens = [issuer.issue(UserRecord(uuid.uuid4(), "x@bulk.test", "Bulk", "fan")) for _ in range(n)]
    for label in ("first check (PyJWT's decode)", "remembered"):
        cpu = time.process_time()
        for token in tokens:
            assert issuer.verify(token) is not None
        cpu = time.process_time() - cpu
        print(f"token check, {label}: {1e6 * cpu / n:.2f} µs CPU per token ({n} tokens)")


async def _session_reads(engine, n: int) -> None:  # type: ignore[no-untyped-def]
    users = await bulk_users(engine, n)
    async with EventBus(None) as bus:
        for label, group in (("1 fan per turn", 1), ("20 fans per turn", 20)):
            sessions = Sessions(engine, TokenIssuer("s" * 32, 60), bus, cache_s=60, remembered=len(users))
            for user in users[:50]:  # warm the pool and the statement caches
                await sessions.current(user.user_id)
            rest = users[50:]
            cpu = time.process_time()
            for i in range(0, len(rest), group):
                found = await asyncio.gather(*(sessions.current(u.user_id) for u in rest[i:i + group]))
                assert all(f == ("fan", 0) for f in found), found
            cpu = time.process_time() - cpu
            print(f"session read, {label}: {1e6 * cpu / len(rest):.0f} µs CPU per fan ({len(rest)} fans)")
            await sessions.aclose()


async def _entries(url: str, engine, n: int) -> None:  # type: ignore[no-untyped-def]
    show = (await make_show(engine, seats=10, ga=5))[0]
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE shows SET waiting_room_enabled = true WHERE id = :s"), {"s": show.id})
    fans = await bulk_users(engine, n)
    port = _free_port()
    settings = Settings(database_url=url, redis_url=f"redis://127.0.0.1:6379/{random.randint(3, 13)}",
                        secret="entry-cpu-" + uuid.uuid4().hex, public_url=f"http://127.0.0.1:{port}")
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                           timeout_keep_alive=600))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        issuer = app.state.services.tokens
        tokens = [issuer.issue(UserRecord(f.user_id, "x@bulk.test", "Bulk", "fan")) for f in fans]
        conns = [HttpConn("127.0.0.1", port) for _ in range(CONNECTIONS)]

        tickets: dict[str, str] = {}

        async def enter(conn: HttpConn, token: str) -> None:
            status, body = await conn.post_graphql(ENTER, {"s": str(show.id)}, token, 30)
            assert status == 200 and body["data"]["enterWaitingRoom"]["__typename"] == "WaitingRoomTicket", body
            tickets[token] = body["data"]["enterWaitingRoom"]["id"]

        async def poll(conn: HttpConn, token: str) -> None:
            status, body = await conn.post_graphql(TICKET, {"id": tickets[token]}, token, 30)
            assert status == 200 and body["data"]["waitingRoomTicket"]["id"] == tickets[token], body

        warm, rest = tokens[:2 * CONNECTIONS], tokens[2 * CONNECTIONS:]
        for i, token in enumerate(warm):  # pool, show cache, statement caches
            await enter(conns[i % CONNECTIONS], token)
        for label, call in (("enterWaitingRoom, first entry (session read)", enter),
                            ("enterWaitingRoom, entering again (session cached)", enter),
                            ("waitingRoomTicket, a poll (session cached)", poll)):
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(0, len(rest), CONNECTIONS):
                await asyncio.gather(*(call(conns[j], t) for j, t in enumerate(rest[i:i + CONNECTIONS])))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"{label}: {1e6 * cpu / len(rest):.0f} µs CPU per request "
                  f"(server + client), {len(rest) / wall:.0f}/s wall ({len(rest)} fans)")
        for conn in conns:
            conn.close()
    finally:
        server.should_exit = True
        await task


async def run(session_fans: int, entry_fans: int) -> None:
    database = BenchDatabase("bench_entry")
    await database.create()
    url = database.url
    try:
        await asyncio.to_thread(upgrade_to_head, url)  # alembic runs its own event loop
        engine = create_engine(url, pool_size=4, max_overflow=0)
        try:
            if session_fans > 50:
                _token_checks(session_fans)
                await _session_reads(engine, session_fans)
            if entry_fans > 2 * CONNECTIONS:
                await _entries(url, engine, entry_fans)
        finally:
            await engine.dispose()
    finally:
        await database.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--session-fans", type=int, default=5000)
    parser.add_argument("--entry-fans", type=int, default=3000)
    args = parser.parse_args()
    asyncio.run(run(args.session_fans, args.entry_fans))


if __name__ == "__main__":
    main()
