"""Server CPU per GraphQL request in-process: strawberry, the general fast path, the holdSeats one.

    .venv/bin/python bench/fast_path.py [--requests 1500] [--concurrency 16] [--rounds 2] [--keep]
                                        [--paths strawberry,general,hold] [--no-database | --stubbed-hold]

The app (create_app) is driven straight through ASGI in this process (no sockets, no uvicorn:
their cost is the same for every path), and the process's CPU seconds are divided by the
requests answered. PostgreSQL's CPU is not counted: every path sends it the same statements.
Paths (settings of create_app):
  strawberry  BOXOFFICE_FAST_PATH=0 BOXOFFICE_HOLD_FAST_PATH=0: strawberry's view answers everything
  general     BOXOFFICE_FAST_PATH=1 BOXOFFICE_HOLD_FAST_PATH=0: boxoffice/fast_path.py
  hold        both on: holdSeats through resolvers/hold_fast_path.py, the rest through the general path
Workloads: a signed-in query (the frontend's Show screen document, availability included),
holdSeats of 1..4 fresh seats (fans in rotation), releaseHold of those holds. --stubbed-hold: only
holdSeats, one fan, its domain call (`place_hold`) replaced by one that answers a fixed hold at once,
so a row is the GraphQL path's own cost for that document (HTTP body to JSON answer).
Paths alternate for --rounds rounds, so outside load falls on all of them alike. Indicative on a
shared box: compare rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import random
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import HOLD_MUTATION, RELEASE_MUTATION, install_uvloop, log, table  # noqa: E402
from _db import BenchDatabase, dispose_scratch, wait_pg_slots  # noqa: E402
from _server import server_env  # noqa: E402
from _stadium import build_stadium, create_fans, fresh_groups  # noqa: E402

SHOW_QUERY = (
    "query Show($id: ID!) { show(id: $id) { id startsAt onSaleAt currency holdTtlSeconds maxTicketsPerUser "
    "event { id name venue { id name city } } priceTiers { name priceCents sectionIds } "
    "availability { version sections { sectionId name generalAdmission capacity available } } } }")
PATHS = {"strawberry": (False, False), "general": (True, False), "hold": (True, True)}


class Client:
    """One ASGI request at a time against the app, with the lifespan's state."""

    def __init__(self, app: Any, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def post(self, body: bytes, token: str) -> tuple[int, bytes]:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/graphql", "raw_path": b"/graphql", "query_string": b"",
                 "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
                 "headers": [(b"host", b"bench"), (b"content-type", b"application/json"),
                             (b"content-length", str(len(body)).encode()),
                             (b"authorization", f"Bearer {token}".encode())],
                 "state": dict(self.state)}
        sent = False
        out: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # a client that stays: never a disconnect
            return {}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
            elif message["type"] == "http.response.body":
                out["body"] += message.get("body", b"")

        await self.app(scope, receive, send)
        return out["status"], out["body"]


async def run_path(name: str, db_url: str, secret: str, workdir: str, show_id: str, tokens: list[str],
                   groups: list[list[int]], args: argparse.Namespace) -> dict[str, tuple[float, float, int]]:
    from boxoffice.app import create_app
    from boxoffice.config import Settings

    fast, hold = PATHS[name]
    settings = Settings(database_url=db_url, secret=secret, data_dir=Path(workdir), query_cache_ms=0,
                        fast_path=fast, hold_fast_path=hold, max_in_flight=0,
                        stripe_webhook_secret="whsec_bench_" + secret[:16])
    app = create_app(settings)
    results: dict[str, tuple[float, float, int]] = {}
    async with app.router.lifespan_context(app) as state:
        client = Client(app, state)

        async def loop(make: Any, n: int) -> tuple[float, float, int, list[tuple[int, bytes]]]:
            answers: list[tuple[int, bytes]] = []
            todo = iter(range(n))

            async def worker() -> None:
                for i in todo:
                    body, token = make(i)
                    status, answer = await client.post(body, token)
                    assert status == 200, answer
                    answers.append((i, answer))
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            return time.process_time() - cpu0, time.perf_counter() - wall0, n, answers

        def query(i: int) -> tuple[bytes, str]:
            return orjson.dumps({"query": SHOW_QUERY, "variables": {"id": show_id}}), tokens[i % len(tokens)]

        def hold_seats(i: int) -> tuple[bytes, str]:
            return orjson.dumps({"query": HOLD_MUTATION, "variables": {"input": {
                "showId": show_id, "seatIds": [str(s) for s in groups[i]],
                "idempotencyKey": uuid.uuid4().hex}}}), tokens[i % len(tokens)]

        def server_time(i: int) -> tuple[bytes, str]:
            return b'{"query":"query ServerTime { serverTime }"}', tokens[i % len(tokens)]

        if args.stubbed_hold:
            body = orjson.dumps({"query": HOLD_MUTATION, "variables": {"input": {
                "showId": show_id, "seatIds": ["1", "2"], "idempotencyKey": "k"}}})
            await loop(lambda i: (body, tokens[0]), 300)  # warm
            cpu, wall, n, answers = await loop(lambda i: (body, tokens[0]), args.requests)
            assert all(b'"Hold"' in a for _, a in answers), answers[0]
            results["holdSeats (place_hold stubbed)"] = (cpu, wall, n)
            return results
        await loop(server_time, 50)  # warm: documents prepared, sessions cached
        cpu, wall, n, _ = await loop(server_time, args.requests)
        results["serverTime (no database)"] = (cpu, wall, n)
        if args.no_database:
            return results
        await loop(query, 50)
        cpu, wall, n, _ = await loop(query, args.requests)
        results["signed-in query"] = (cpu, wall, n)
        cpu, wall, n, answers = await loop(hold_seats, len(groups))
        results["holdSeats"] = (cpu, wall, n)
        held = [(orjson.loads(a)["data"]["holdSeats"]["id"], tokens[i % len(tokens)]) for i, a in answers
                if b'"Hold"' in a]
        if len(held) < n:
            log(f"{name}: {n - len(held)} holds were not placed: {answers[0][1][:200]!r}")

        def release(i: int) -> tuple[bytes, str]:
            hold_id, token = held[i]
            return orjson.dumps({"query": RELEASE_MUTATION, "variables": {"id": hold_id}}), token
        cpu, wall, n, answers = await loop(release, len(held))
        bad = sum(b'"RELEASED"' not in a for _, a in answers)
        if bad:
            log(f"{name}: {bad} releases did not answer RELEASED: {answers[0][1][:200]!r}")
        results["releaseHold"] = (cpu, wall, n)
    return results


def stub_place_hold() -> None:
    """`place_hold` (rate limit, admission, the domain hold, the publish) answers a fixed hold at
    once, on both paths that call it (the schema's resolver and the compiler)."""
    import boxoffice.resolvers.hold_fast_path as compiled
    import boxoffice.resolvers.holds as resolvers
    from boxoffice.booking.records import HoldRecord

    now = datetime.datetime.now(datetime.timezone.utc)
    record = HoldRecord(id=uuid.uuid4(), user_id=uuid.uuid4(), show_id=uuid.uuid4(), status="active",
                        expires_at=now, seat_ids=(1, 2), general_admission=(), ticket_count=2, total_cents=5000,
                        currency="USD", created_at=now)

    async def place_hold(*_: Any, **__: Any) -> HoldRecord:
        return record

    resolvers.place_hold = place_hold  # type: ignore[assignment]
    compiled.place_hold = place_hold  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=1500, help="per workload, path and round")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--paths", default="strawberry,general,hold")
    p.add_argument("--no-database", action="store_true", help="only the request that reads no table")
    p.add_argument("--stubbed-hold", action="store_true", help="only holdSeats, its domain call stubbed")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    paths = args.paths.split(",")
    if not set(paths) <= set(PATHS) or not 1 <= args.requests <= 5000 or not 1 <= args.rounds <= 5:
        p.error(f"paths of {sorted(PATHS)}, requests 1..5000, rounds 1..5")
    install_uvloop()
    if args.stubbed_hold:
        stub_place_hold()
    db = BenchDatabase()
    workdir = tempfile.mkdtemp(prefix="bo_bench_")
    secret = secrets.token_urlsafe(32)
    rows = []
    try:
        asyncio.run(db.create())
        db.migrate(server_env(db.url, secret, workdir, False))
        show = asyncio.run(build_stadium(db.url, shows=1)).shows[0]
        one = args.no_database or args.stubbed_hold
        fans = [t for _, t in asyncio.run(create_fans(db.url, 1 if one else args.requests, secret))]
        groups = fresh_groups(show, random.Random(1))
        for round_no in range(args.rounds):
            for name in paths:
                batch, groups = groups[:args.requests], groups[args.requests:]
                log(f"round {round_no + 1}: {name}")
                wait_pg_slots(args.concurrency + 6, 300)  # the app's pools: the box's other users may hold most slots
                results = asyncio.run(run_path(name, db.url, secret, workdir, str(show.show_id), fans, batch, args))
                for workload, (cpu, wall, n) in results.items():
                    rows.append((workload, name, round_no + 1, n / wall, 1e6 * cpu / n))
    finally:
        dispose_scratch(db, workdir, args.keep)
    rows.sort(key=lambda r: (r[0], r[2], list(PATHS).index(r[1])))
    print(table(["workload", "path", "round", "req/s (in-process)", "server CPU µs/req"], rows,
                title=f"In-process ASGI, {args.concurrency} in flight, {args.requests} requests per row"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
