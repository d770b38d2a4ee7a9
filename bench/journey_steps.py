"""Round trips, latency and CPU of each journey step, one at a time on one pooled connection (issue 16).

    .venv/bin/python bench/journey_steps.py [--rounds 200]

Steps: releaseHold, createOrder, the payment's settlement (as confirmPayment settles: it knows the
order's show and ticket count) and the order read (order + payment + items + tickets and their
seats), in the domain layer, without HTTP or GraphQL. For each: the requests sent to PostgreSQL
(tests/booking/round_trips.py says what counts), mean wall time, and CPU per step of this process
and of the PostgreSQL backend serving its one connection. To measure an older tree, put its
`boxoffice` package first on PYTHONPATH: where it lacks booking/checkout/order_view.py, the order read is
what the resolvers did before (the order, its hold, show, seats, payment, tickets, and each
ticket's seat). Indicative only on a shared box.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "booking"))

from _db import BenchDatabase  # noqa: E402
from fixtures_db import bulk_users, make_show  # noqa: E402
from round_trips import counting  # noqa: E402
from sqlalchemy import text  # noqa: E402

from boxoffice.booking.checkout import payments  # noqa: E402
try:
    from boxoffice.booking.checkout.intent_creation import intent_metadata
except ImportError:  # an older tree (before migration 0016)
    intent_metadata = payments.intent_metadata  # type: ignore[attr-defined]
from boxoffice.booking.inventory.hold_release import release_hold  # noqa: E402
from boxoffice.booking.inventory.holds import HoldRequest, hold_seats  # noqa: E402
from boxoffice.booking.catalog.venue_layout import MAX_SEATS_PER_ROW  # noqa: E402
from boxoffice.booking.checkout.orders import create_order  # noqa: E402
from boxoffice.booking.records import Viewer  # noqa: E402
from boxoffice.db import create_engine  # noqa: E402
from boxoffice.migrate import upgrade_to_head  # noqa: E402
from boxoffice.payments.gateway import IntentView, StripeGateway  # noqa: E402

SECRET = "journey-steps-secret"
TICK = os.sysconf("SC_CLK_TCK")
MAX_ROUNDS = MAX_SEATS_PER_ROW // 4 - 1  # the tests' show is one row (fixtures_db.make_show)


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK




async def _setup(engine: Any, seats: int) -> tuple[Any, list[str], str, list[Viewer]]:
    """The tests' show (one row of `seats` seats and as many general-admission places) and its fans."""
    show, seat_ids, floor = await make_show(engine, seats=seats, ga=seats)
    return show, seat_ids, floor, await bulk_users(engine, seats)


async def _old_order_read(engine: Any, order_id: uuid.UUID) -> None:
    """What the `order` query's resolvers read before booking/checkout/order_view.py, field by field."""
    from boxoffice.booking.catalog import browse as catalog
    from boxoffice.booking.checkout import history
    from boxoffice.booking.inventory import holds
    from boxoffice.booking.inventory import seatmap
    from boxoffice.booking.checkout import tickets
    order = (await history.get_orders(engine, [order_id]))[order_id]
    hold = (await holds.get_holds(engine, [order.hold_id]))[order.hold_id]
    show = (await catalog.get_shows(engine, [order.show_id]))[order.show_id]
    geometry = _old_order_read.geometry  # type: ignore[attr-defined]
    await seatmap.seats_by_id(engine, geometry, show, set(hold.seat_ids))
    await history.payment_of_order(engine, order_id)
    for t in await tickets.tickets_of_order(engine, order_id):
        if t.seat_id is not None:
            await seatmap.seats_by_id(engine, geometry, show, {t.seat_id})


async def _order_read(engine: Any, order_id: uuid.UUID) -> None:
    try:
        from boxoffice.booking.checkout.order_view import order_view
    except ImportError:
        await _old_order_read(engine, order_id)
        return
    await order_view(engine, order_id)


async def run(rounds: int) -> None:
    database = BenchDatabase("bench_steps")
    await database.create()
    url = database.url
    await asyncio.to_thread(upgrade_to_head, url)  # alembic runs its own event loop
    engine = create_engine(url, pool_size=1, max_overflow=0)
    gateway = StripeGateway("sk_test_unused", "http://127.0.0.1:9", "whsec_unused", max_attempts=1)
    ctx = payments.PaymentContext(gateway=gateway, secret=SECRET, return_url="http://127.0.0.1:9/back")
    try:
        from boxoffice.booking.inventory.seatmap import GeometryCache
        _old_order_read.geometry = GeometryCache()  # type: ignore[attr-defined]
        n = rounds + 1
        show, seats, floor, fans = await _setup(engine, 4 * n)
        async with engine.connect() as conn:
            backend = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        totals: dict[str, list[float]] = {}

        async def step(label: str, warm: bool, call: Any) -> Any:
            cpu0, pg0, t0 = time.process_time(), _cpu_of(backend), time.perf_counter()
            with counting() as trips:
                result = await call
            if warm:
                row = totals.setdefault(label, [0, 0.0, 0.0, 0.0])
                row[0] += trips.count
                row[1] += time.perf_counter() - t0
                row[2] += time.process_time() - cpu0
                row[3] += _cpu_of(backend) - pg0
            return result

        for i in range(n):
            warm = i > 0
            fan = fans[i]
            pick = seats[4 * i:4 * i + 4]
            first, _ = await hold_seats(engine, fan, HoldRequest(show.id, pick[:2], [], uuid.uuid4().hex))
            await step("releaseHold", warm, release_hold(engine, fan, first.id))
            hold, _ = await hold_seats(engine, fan, HoldRequest(show.id, pick[2:], [(floor, 1)], uuid.uuid4().hex))
            order = await step("createOrder", warm, create_order(engine, fan, hold.id, uuid.uuid4().hex))
            intent = IntentView(id=f"pi_{order.id.hex}", status="succeeded", amount=order.total_cents,
                                currency=order.currency.lower(), metadata=intent_metadata(SECRET, order.id),
                                amount_received=order.total_cents)
            try:
                settle = payments.apply_intent(engine, ctx, intent, expected=(show.id, order.ticket_count))
            except TypeError:  # an older tree: no `expected`
                settle = payments.apply_intent(engine, ctx, intent)
            await step("settlement", warm, settle)
            await step("order read", warm, _order_read(engine, order.id))
        print(f"{'step':<14}{'round trips':>12}{'wall ms':>10}{'client CPU ms':>15}{'PG CPU ms':>11}")
        for label, (trips, wall, cpu, pg) in totals.items():
            print(f"{label:<14}{trips / rounds:>12.1f}{1000 * wall / rounds:>10.2f}{1000 * cpu / rounds:>15.2f}"
                  f"{1000 * pg / rounds:>11.2f}")
    finally:
        await gateway.aclose()
        await engine.dispose()
        await database.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    if not 1 <= rounds <= MAX_ROUNDS:
        parser.error(f"--rounds is 1 to {MAX_ROUNDS} (four seats a round, one more round to warm, in one row)")
    asyncio.run(run(rounds))


if __name__ == "__main__":
    main()
