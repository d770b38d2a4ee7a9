"""Each step of a fan's journey is one database round trip (issue 16): releaseHold, createOrder,
the payment's settlement and the order read, counted at the asyncpg client (tests/booking/round_trips.py
says what counts). Warm, as in a serving process: each step runs once before it is counted."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from boxoffice.booking.audit import audit
from boxoffice.booking.errors import BookingError
from boxoffice.booking.inventory.hold_release import release_expired_holds, release_hold
from boxoffice.booking.inventory.holds import HoldRequest, hold_seats
from boxoffice.booking.checkout.order_view import order_view
from boxoffice.booking.checkout.orders import create_order
from boxoffice.booking.checkout.intent_creation import intent_metadata
from boxoffice.booking.checkout.payments import PaymentContext, apply_intent
from boxoffice.booking.records import OrderRecord, Viewer
from boxoffice.db import create_engine
from boxoffice.payments.gateway import IntentView, StripeGateway

from ..fixtures_db import bulk_users, make_show
from ..round_trips import counting

SECRET = "round-trips-secret"


@pytest.fixture
async def one_connection(database_url):
    """One pooled connection, so the warm-up runs on the connection that is then counted."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


@pytest.fixture
async def payments_ctx():
    # Called only to refund a payment that came too late: nothing listens there, so the refund is
    # left to reconciliation, as when Stripe is down.
    gateway = StripeGateway("sk_test_unused", "http://127.0.0.1:9", "whsec_unused", max_attempts=1)
    yield PaymentContext(gateway=gateway, secret=SECRET, return_url="http://127.0.0.1:9/back")
    await gateway.aclose()


def _paid(order: OrderRecord, intent_id: str) -> IntentView:
    """Stripe's word that the order's intent succeeded, its metadata signed as boxoffice creates it."""
    return IntentView(id=intent_id, status="succeeded", amount=order.total_cents, currency=order.currency.lower(),
                      metadata=intent_metadata(SECRET, order.id), amount_received=order.total_cents)


async def _orders(engine, fan: Viewer, show_id: uuid.UUID, seats: list[str], ga: str, n: int) -> list[OrderRecord]:
    made = []
    for i in range(n):
        hold, _ = await hold_seats(engine, fan, HoldRequest(show_id, seats[2 * i:2 * i + 2], [(ga, 1)],
                                                            uuid.uuid4().hex))
        made.append(await create_order(engine, fan, hold.id, uuid.uuid4().hex))
    return made


async def test_release_hold_is_one_round_trip(one_connection) -> None:
    engine = one_connection
    show, seats, _ = await make_show(engine, seats=8, ga=1)
    fan, = await bulk_users(engine, 1)
    holds = [(await hold_seats(engine, fan, HoldRequest(show.id, seats[2 * i:2 * i + 2], [], uuid.uuid4().hex)))[0]
             for i in range(3)]
    await release_hold(engine, fan, holds[0].id)
    await create_order(engine, fan, holds[2].id, uuid.uuid4().hex)
    with counting() as trips:
        released, changes = await release_hold(engine, fan, holds[1].id)
    assert released.status == "released" and len(changes.by_show[show.id]) == 2
    assert trips.count == 1, trips.sent
    with counting() as trips:  # with a pending order, which it cancels
        released, changes = await release_hold(engine, fan, holds[2].id)
    assert released.status == "released" and len(changes.orders) == 1
    assert trips.count == 1, trips.sent
    with counting() as trips:  # again: nothing changes, still one
        again, changes = await release_hold(engine, fan, holds[1].id)
    assert again.status == "released" and not changes.by_show and trips.count == 1, trips.sent


async def test_create_order_is_one_round_trip(one_connection) -> None:
    engine = one_connection
    show, seats, ga = await make_show(engine, seats=8, ga=4, max_tickets=20)
    fan, = await bulk_users(engine, 1)
    holds = [(await hold_seats(engine, fan, HoldRequest(show.id, seats[2 * i:2 * i + 2], [(ga, 1)],
                                                         uuid.uuid4().hex)))[0] for i in range(2)]
    await create_order(engine, fan, holds[0].id, uuid.uuid4().hex)
    key = uuid.uuid4().hex
    with counting() as trips:
        order = await create_order(engine, fan, holds[1].id, key)
    assert order.status == "pending_payment" and order.total_cents == holds[1].total_cents
    assert trips.count == 1, trips.sent
    with counting() as trips:  # the same key again: the same order, one round trip
        assert (await create_order(engine, fan, holds[1].id, key)).id == order.id
    assert trips.count == 1, trips.sent


async def test_settling_a_payment_is_one_round_trip(one_connection, payments_ctx) -> None:
    engine = one_connection
    show, seats, ga = await make_show(engine, seats=8, ga=4, max_tickets=20)
    fan, = await bulk_users(engine, 1)
    warm, order, webhook_first = await _orders(engine, fan, show.id, seats, ga, 3)
    await apply_intent(engine, payments_ctx, _paid(warm, "pi_warm"), expected=(show.id, warm.ticket_count))
    with counting() as trips:  # as confirmPayment settles: it knows the order's show and ticket count
        changes = await apply_intent(engine, payments_ctx, _paid(order, "pi_sync"),
                                     expected=(show.id, order.ticket_count))
    assert changes.orders == {order.id} and {c.status for c in changes.by_show[show.id]} == {"S"}
    assert trips.count == 1, trips.sent
    with counting() as trips:  # the webhook for the same intent, later: nothing to do, one round trip
        assert not (await apply_intent(engine, payments_ctx, _paid(order, "pi_sync"))).orders
    assert trips.count == 1, trips.sent
    with counting() as trips:  # a webhook before the answer: the first call says which tickets to sign
        assert (await apply_intent(engine, payments_ctx, _paid(webhook_first, "pi_hook"))).orders == {webhook_first.id}
    assert trips.count == 2, trips.sent
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT o.status, p.status AS paid, (SELECT count(*) FROM tickets t WHERE t.order_id = o.id) AS tickets, "
            "(SELECT count(*) FROM outbox x WHERE x.payload->>'orderId' = o.id::text "
            "  AND x.payload->>'kind' = 'ORDER_CONFIRMED') AS told FROM orders o JOIN payments p ON p.order_id = o.id "
            "WHERE o.id = ANY(:o)"), {"o": [order.id, webhook_first.id]})).all()
    assert [tuple(r) for r in rows] == [("confirmed", "succeeded", 3, 1)] * 2
    assert (await audit(engine, show.id)).clean


async def test_reading_an_order_with_its_items_payment_and_tickets_is_one_round_trip(one_connection,
                                                                                     payments_ctx) -> None:
    engine = one_connection
    show, seats, ga = await make_show(engine, seats=8, ga=4, max_tickets=20)
    fan, = await bulk_users(engine, 1)
    order, = await _orders(engine, fan, show.id, seats, ga, 1)
    await apply_intent(engine, payments_ctx, _paid(order, "pi_read"), expected=(show.id, order.ticket_count))
    await order_view(engine, order.id)
    with counting() as trips:
        view = await order_view(engine, order.id)
    assert trips.count == 1, trips.sent
    assert view is not None and view.order.status == "confirmed" and view.payment is not None
    assert view.payment.status == "succeeded" and len(view.tickets) == 3
    assert [s.id for s in view.seats.values()] == [int(s) for s in seats[:2]]
    assert len(view.general_admission) == 1


@pytest.fixture
async def few_connections(database_url):
    engine = create_engine(database_url, pool_size=8, max_overflow=0, pool_timeout_s=30)
    yield engine
    await engine.dispose()


async def test_a_churn_of_holds_orders_payments_releases_and_sweeps_leaves_the_audit_clean(
        few_connections, payments_ctx) -> None:
    """Many fans at once over few seats: holds, orders, releases racing settlements (webhook-first
    and answer-first) and the sweeper. Nothing deadlocks, and the audit stays clean."""
    engine = few_connections
    show, seats, ga = await make_show(engine, seats=120, ga=6, max_tickets=8)
    fans = await bulk_users(engine, 24)

    async def lapse(hold_id: uuid.UUID) -> None:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = :h"),
                               {"h": hold_id})
            await conn.execute(text("UPDATE orders SET expires_at = now() - interval '1 second' WHERE hold_id = :h"),
                               {"h": hold_id})
            await conn.execute(text("UPDATE show_seats SET hold_expires_at = now() - interval '1 second' "
                                    "WHERE hold_id = :h"), {"h": hold_id})

    async def journey(i: int, fan: Viewer) -> None:
        for round_ in range(4):
            pick = [seats[(4 * i + 3 * round_ + k) % len(seats)] for k in range(2)]  # neighbours overlap
            try:
                hold, _ = await hold_seats(engine, fan, HoldRequest(show.id, pick, [(ga, 1)] if i % 3 == 0 else [],
                                                                    uuid.uuid4().hex))
                order = await create_order(engine, fan, hold.id, uuid.uuid4().hex)
            except BookingError:
                continue
            if round_ % 3 == 2:  # paid too late: the sweeper and the settlement race, the payment is refunded
                await lapse(hold.id)
            paid = _paid(order, f"pi_{order.id.hex}")
            steps = [apply_intent(engine, payments_ctx, paid,
                                  expected=(show.id, order.ticket_count) if i % 2 else None)]
            if round_ % 2:
                steps.append(release_hold(engine, fan, hold.id))
            results = await asyncio.gather(*steps, release_expired_holds(engine), return_exceptions=True)
            unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, BookingError)]
            assert unexpected == [], unexpected

    await asyncio.wait_for(asyncio.gather(*(journey(i, f) for i, f in enumerate(fans))), 120)
    while (await release_expired_holds(engine))[0]:  # what the sweeper left for a later pass
        pass
    report = await audit(engine, show.id)
    assert report.clean, report
    async with engine.connect() as conn:
        ended = dict((await conn.execute(text("SELECT status, count(*) FROM orders WHERE show_id = :s GROUP BY 1"),
                                         {"s": show.id})).all())
    assert ended.get("confirmed") and ended.get("cancelled"), ended  # both ways of ending were raced
