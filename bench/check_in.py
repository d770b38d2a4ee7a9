"""checkInTicket at a stadium's gates: check-ins per second from many doors against a 50,000-ticket show.

    .venv/bin/python bench/check_in.py [--doors 32] [--seconds 20] [--workers 2] [--rescan 0.05] [--keep]

A scratch database with the 50,000-seat stadium (bench/_stadium.py), every seat sold and ticketed
(bulk SQL, barcodes signed as checkout signs them), `--doors` door-staff accounts, and `boxoffice
serve`. Each door is a keep-alive connection scanning distinct tickets back to back (a share
`--rescan` of its scans is a ticket scanned before, answered ALREADY_CHECKED_IN, as at a real gate)
for `--seconds`. A stadium's gates admit about 1,000 people a minute (~17/s); the table shows the
rate measured and the margin over that. The load generator runs in this process, on the same box
as the server and PostgreSQL: on a busy 2-core box the figure is a floor, not a ceiling. Then the
organizer reads the sold-out show: Show.salesReport and the whole CSV export, timed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _common import latency_summary, log, table  # noqa: E402
from _db import BenchDatabase, connect_retry, dispose_scratch  # noqa: E402
from _http import HttpConn  # noqa: E402
from _server import Server, print_environment, server_env  # noqa: E402
from _stadium import build_stadium, create_fans  # noqa: E402

GATE_RATE_PER_MIN = 1_000  # a stadium's gates, all together
CHECK_IN = ("mutation CheckIn($s: ID!, $b: String!) { checkInTicket(showId: $s, barcode: $b) { __typename "
            "... on CheckIn { place checkedInAt } ... on Rejected { code message } } }")


async def sell_everything(db_url: str, secret: str, show_id: uuid.UUID) -> list[str]:
    """Every place of the show sold in orders of 10 to one buyer, with its ticket: the barcodes."""
    from boxoffice.booking.checkout.tickets import barcode_for

    conn = await connect_retry(db_url)
    try:
        buyer = (await create_fans(db_url, 1, secret))[0][0]
        places = [r["id"] for r in await conn.fetch(
            "SELECT id FROM show_seats WHERE show_id = $1 ORDER BY id", show_id)]
        sections = {r["id"]: r["section_id"] for r in await conn.fetch(
            "SELECT id, section_id FROM show_seats WHERE show_id = $1", show_id)}
        holds, orders, tickets = [], [], []
        for first in range(0, len(places), 10):
            group = places[first:first + 10]
            hold_id, order_id = uuid.uuid4(), uuid.uuid4()
            holds.append((hold_id, uuid.UUID(buyer), show_id, "converted", f"bench-{hold_id}", "x", group, [],
                          "[]", len(group), 5000 * len(group), "EUR"))
            orders.append((order_id, uuid.UUID(buyer), show_id, hold_id, "confirmed", len(group), 5000 * len(group),
                           "EUR", f"bench-{order_id}"))
            for place in group:
                ticket_id = uuid.uuid4()
                tickets.append((ticket_id, order_id, show_id, place, place, sections[place],
                                barcode_for(secret, ticket_id, show_id)))
        async with conn.transaction():
            await conn.executemany(
                "INSERT INTO holds (id, user_id, show_id, status, expires_at, idempotency_key, request_hash, "
                "seat_ids, unit_ids, ga_lines, ticket_count, total_cents, currency) VALUES ($1, $2, $3, $4, now(), "
                "$5, $6, $7, $8, $9::jsonb, $10, $11, $12)", holds)
            await conn.executemany(
                "INSERT INTO orders (id, user_id, show_id, hold_id, status, ticket_count, total_cents, currency, "
                "idempotency_key, expires_at, confirmed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), "
                "now())", orders)
            await conn.copy_records_to_table("tickets", records=tickets, columns=[
                "id", "order_id", "show_id", "place_id", "seat_id", "section_id", "barcode"])
            await conn.execute("UPDATE show_seats ss SET status = 'S', order_id = t.order_id FROM tickets t "
                               "WHERE ss.show_id = $1 AND t.show_id = $1 AND t.place_id = ss.id", show_id)
        await conn.execute("ANALYZE tickets; ANALYZE revoked_tickets; ANALYZE door_staff")
        return [t[6] for t in tickets]
    finally:
        await conn.close()


async def add_doors(db_url: str, secret: str, show_id: uuid.UUID, organizer_id: uuid.UUID, n: int) -> list[str]:
    fans = await create_fans(db_url, n, secret)
    conn = await connect_retry(db_url)
    try:
        await conn.executemany("INSERT INTO door_staff (show_id, user_id, added_by) VALUES ($1, $2, $3)",
                               [(show_id, uuid.UUID(user), organizer_id) for user, _ in fans])
    finally:
        await conn.close()
    return [token for _, token in fans]


async def gates(port: int, show_id: str, doors: list[str], barcodes: list[str], seconds: float,
                rescan: float) -> dict[str, object]:
    queue = list(reversed(barcodes))
    scanned: list[str] = []
    latencies: list[float] = []
    answers: dict[str, int] = {}
    rng = random.Random(1)
    end = time.monotonic() + seconds

    async def door(token: str) -> None:
        conn = HttpConn("127.0.0.1", port, token)
        try:
            while time.monotonic() < end and queue:
                code = rng.choice(scanned) if scanned and rng.random() < rescan else queue.pop()
                started = time.perf_counter()
                status, body = await conn.post_graphql(CHECK_IN, {"s": show_id, "b": code}, token, 30.0)
                latencies.append(time.perf_counter() - started)
                result = (body.get("data") or {}).get("checkInTicket") or {}
                kind = result.get("__typename") == "CheckIn" and "admitted" or result.get("code") or \
                    f"HTTP {status} {(body.get('errors') or [{}])[0].get('message', '')[:40]}"
                answers[kind] = answers.get(kind, 0) + 1
                if kind == "admitted":
                    scanned.append(code)
        finally:
            conn.close()

    started = time.monotonic()
    await asyncio.gather(*(door(t) for t in doors))
    elapsed = time.monotonic() - started
    return {"elapsed": elapsed, "answers": answers, "latency": latency_summary(sorted(latencies)),
            "scans": len(latencies)}


REPORT_Q = ("query Report($id: ID!) { show(id: $id) { salesReport { sold checkedIn grossCents "
            "bySection { sold checkedIn } timeline(bucketSeconds: 3600) { orders } } } }")


async def organizer_reads(port: int, show_id: str, token: str, times: int = 5) -> dict[str, float]:
    """The organizer's report and CSV export of the sold-out show, after the gates: ms each (median)."""
    conn = HttpConn("127.0.0.1", port, token)
    reports, exports, rows = [], [], 0
    try:
        for _ in range(times):
            started = time.perf_counter()
            status, body = await conn.post_graphql(REPORT_Q, {"id": show_id}, token, 60.0)
            assert status == 200 and body["data"]["show"]["salesReport"]["sold"] > 0, body
            reports.append((time.perf_counter() - started) * 1e3)
    finally:
        conn.close()
    import httpx
    async with httpx.AsyncClient(timeout=120) as client:
        for _ in range(2):
            started = time.perf_counter()
            response = await client.get(f"http://127.0.0.1:{port}/reports/shows/{show_id}/sales.csv",
                                        headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200
            rows = response.text.count("\n") - 1
            exports.append((time.perf_counter() - started) * 1e3)
    return {"report_ms": sorted(reports)[len(reports) // 2], "csv_ms": min(exports), "csv_rows": rows}


def organizer_token(secret: str, organizer_id: uuid.UUID) -> str:
    from boxoffice.booking.accounts.sign_in import TokenIssuer
    from boxoffice.booking.records import UserRecord

    return TokenIssuer(secret, 3600).issue(UserRecord(id=organizer_id, email="bench@bench.test", name="Bench",
                                                      role="organizer"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--doors", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rescan", type=float, default=0.05, help="share of scans of an already admitted ticket")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    print_environment({"doors": args.doors, "seconds": args.seconds, "workers": args.workers})
    workdir = tempfile.mkdtemp(prefix="bo-check-in-")
    db: BenchDatabase | None = BenchDatabase("bo_bench_door")
    server = None
    try:
        asyncio.run(db.create())
        secret = "bench-" + secrets.token_hex(16)
        env = server_env(db.url, secret, workdir, redis=False)
        env["BOXOFFICE_DB_POOL_SIZE"] = "10"
        db.migrate(env)
        log("building the 50,000-seat stadium and selling every seat")
        venue = asyncio.run(build_stadium(db.url))
        show_id = venue.shows[0].show_id
        barcodes = asyncio.run(sell_everything(db.url, secret, show_id))
        doors = asyncio.run(add_doors(db.url, secret, show_id, venue.organizer_id, args.doors))
        random.Random(2).shuffle(barcodes)
        server = Server(env, args.workers)
        server.start()
        log(f"{len(barcodes):,} tickets; {args.doors} doors scanning for {args.seconds:.0f} s")
        m = asyncio.run(gates(server.port, str(show_id), doors, barcodes, args.seconds, args.rescan))
        answers = m["answers"]
        assert isinstance(answers, dict)
        rate = m["scans"] / m["elapsed"]  # type: ignore[operator]
        admitted = answers.get("admitted", 0) / m["elapsed"]  # type: ignore[operator]
        lat = m["latency"]
        assert isinstance(lat, dict)
        gate_rate = GATE_RATE_PER_MIN / 60
        print(table(["doors", "workers", "scans/s", "admitted/s", "admitted/min", "p50 ms", "p99 ms",
                     "margin over 1,000/min"],
                    [[args.doors, args.workers, f"{rate:.0f}", f"{admitted:.0f}", f"{admitted * 60:,.0f}",
                      f"{lat.get('p50', 0):.1f}", f"{lat.get('p99', 0):.1f}", f"{admitted / gate_rate:.0f}x"]],
                    title="Check-in at the gates"))
        print(table(["answer", "count"], sorted(answers.items()), title="Answers"))
        reads = asyncio.run(organizer_reads(server.port, str(show_id), organizer_token(secret, venue.organizer_id)))
        print(table(["read", "ms"], [["Show.salesReport (50,000 places, median of 5)", f"{reads['report_ms']:.0f}"],
                                     [f"sales.csv ({reads['csv_rows']:,.0f} rows, best of 2)", f"{reads['csv_ms']:.0f}"]],
                    title="The organizer's reads of the sold-out show"))
        if server.error_summary():
            print("server errors:", *server.error_summary(), sep="\n  ")
    finally:
        if server is not None:
            server.stop()
        dispose_scratch(db, workdir, args.keep)


if __name__ == "__main__":
    main()
