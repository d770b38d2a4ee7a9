"""SIGKILL a server in the middle of a flash sale: nothing oversold, no money lost, nothing stranded."""

from __future__ import annotations

import asyncio
import random
import signal
import uuid

import httpx
from sqlalchemy import text

from booking.fixtures_db import make_show
from boxoffice.db import create_engine
from boxoffice.payments.simulator import simulator_api_key
from live_support import ServerProcess, fan_tokens

HOLD = """mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename ... on Hold { id } } }"""
ORDER = "mutation($i: CreateOrderInput!) { createOrder(input: $i) { __typename ... on Order { id } } }"
PAY = "mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) { __typename ... on Order { status } } }"
CARDS = ["pm_card_visa", "pm_card_visa", "pm_card_visa_chargeDeclined", "pm_card_authenticationRequired"]


async def _shopper(url: str, token: str, show_id: str, seats: list[str], rng: random.Random,
                   stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        async def call(query, variables):
            r = await client.post(f"{url}/graphql", json={"query": query, "variables": variables},
                                  headers={"Authorization": f"Bearer {token}"})
            return r.json()["data"]
        while not stop.is_set():
            try:
                hold = (await call(HOLD, {"i": {"showId": show_id, "seatIds": rng.sample(seats, rng.randint(1, 2)),
                                                "idempotencyKey": uuid.uuid4().hex}}))["holdSeats"]
                if hold["__typename"] != "Hold" or rng.random() < 0.2:
                    continue  # some holds are simply left to expire
                order = (await call(ORDER, {"i": {"holdId": hold["id"], "idempotencyKey": uuid.uuid4().hex}}))
                await call(PAY, {"i": {"orderId": order["createOrder"]["id"], "paymentMethod": rng.choice(CARDS),
                                       "idempotencyKey": uuid.uuid4().hex}})
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                await asyncio.sleep(0.05)  # the server is gone: keep trying until told to stop


async def test_sigkill_mid_sale_then_restart_audit_and_reconcile(private_database_url, secret, tmp_path) -> None:
    # A database of its own: `boxoffice reconcile` asks about every payment in it, and the run's shared
    # one holds other tests' payments of intents no simulator ever made.
    engine = create_engine(private_database_url, pool_size=4, max_overflow=2)
    server = ServerProcess(private_database_url, "redis://127.0.0.1:6379/1", secret, tmp_path / "victim",
                           extra_env={"BOXOFFICE_STRIPE_SIM_FAULTS": "1"})
    sim_auth = {"Authorization": f"Bearer {simulator_api_key(secret)}"}
    server.start(fresh_redis=True)
    show, seats, _ = await make_show(engine, seats=30, ga=1, max_tickets=50)
    fans = await fan_tokens(engine, secret, 16)
    # Stripe misbehaves too: slow, failing now and then, webhooks duplicated and reordered.
    async with httpx.AsyncClient() as client:
        faults = await client.post(f"{server.url}/stripe-sim/_faults", json={
            "latency_ms": 30, "fail_next": 3, "duplicate_webhooks": True, "reorder_webhooks": True,
            "reorder_window_ms": 300}, headers=sim_auth)
        assert faults.status_code == 200
    stop = asyncio.Event()
    shoppers = [asyncio.create_task(_shopper(server.url, t, str(show.id), seats, random.Random(i), stop))
                for i, t in enumerate(fans)]
    try:
        await asyncio.sleep(2.5)
        server.stop(signal.SIGKILL)  # mid-flight: holds, orders and Stripe calls cut off
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*shoppers)
        server.start()  # same port: the simulator's pending webhooks are delivered again
        async with engine.connect() as conn:
            counts = dict((await conn.execute(text("SELECT status, count(*) FROM orders WHERE show_id = :s "
                                                   "GROUP BY status"), {"s": show.id})).all())
        assert sum(counts.values()) > 5, counts  # the sale was really under way
        # Time passes: every hold's TTL runs out (and with it every unpaid order).
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE holds SET expires_at = now() WHERE show_id = :s AND status = 'active'"),
                               {"s": show.id})
            await conn.execute(text("UPDATE orders SET expires_at = now() WHERE show_id = :s "
                                    "AND status = 'pending_payment'"), {"s": show.id})
            await conn.execute(text("UPDATE show_seats SET hold_expires_at = now() WHERE show_id = :s "
                                    "AND status = 'H'"), {"s": show.id})
        for _ in range(50):  # the restarted server's sweeper ends them
            async with engine.connect() as conn:
                active = (await conn.execute(text("SELECT count(*) FROM holds WHERE show_id = :s AND status = 'active'"),
                                             {"s": show.id})).scalar()
            if not active:
                break
            await asyncio.sleep(0.2)
        assert active == 0
        async with httpx.AsyncClient() as client:  # Stripe well again: reconcile settles everything
            assert (await client.post(f"{server.url}/stripe-sim/_faults", json={}, headers=sim_auth)).status_code == 200
        for _ in range(2):  # reconcile is safe to run repeatedly
            result = server.cli("reconcile")
            assert result.returncode == 0, result.stdout + result.stderr
        audit = server.cli("audit")
        assert audit.returncode == 0, audit.stdout
        async with engine.connect() as conn:
            # Every seat is either sold to a confirmed order or back on sale.
            stranded = (await conn.execute(text("SELECT count(*) FROM show_seats WHERE show_id = :s AND status = 'H'"),
                                           {"s": show.id})).scalar()
            # No captured payment without a confirmed order or a refund.
            orphans = (await conn.execute(text(
                "SELECT pi.id FROM stripe_sim.payment_intents pi JOIN orders o ON o.id::text = pi.metadata->>'order_id' "
                "JOIN payments p ON p.order_id = o.id WHERE o.show_id = :s AND pi.status = 'succeeded' "
                "AND o.status <> 'confirmed' AND p.status <> 'refunded'"), {"s": show.id})).all()
            unpaid_confirmed = (await conn.execute(text(
                "SELECT o.id FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.show_id = :s "
                "AND o.status = 'confirmed' AND p.status <> 'succeeded'"), {"s": show.id})).all()
            # No order was charged twice: one intent and at most one refund per order.
            # (this show's orders: the run's other tests share the database and its simulator schema)
            doubled = (await conn.execute(text(
                "SELECT pi.metadata->>'order_id' FROM stripe_sim.payment_intents pi "
                "JOIN orders o ON o.id::text = pi.metadata->>'order_id' WHERE o.show_id = :s "
                "GROUP BY 1 HAVING count(*) > 1"), {"s": show.id})).all()
        assert stranded == 0 and orphans == [] and unpaid_confirmed == [] and doubled == []
    finally:
        stop.set()
        async with httpx.AsyncClient() as client:
            try:
                await client.post(f"{server.url}/stripe-sim/_faults", json={}, headers=sim_auth)
            except httpx.HTTPError:
                pass
        server.stop()
        await engine.dispose()
