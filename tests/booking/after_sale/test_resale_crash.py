"""SIGKILL a server while fans pay for resale listings: after restart and reconcile the audit is clean,
every sold listing's seller is refunded exactly its price, and nobody is charged twice."""

from __future__ import annotations

import asyncio
import random
import signal
import uuid

import httpx
from sqlalchemy import text

from booking.fixtures_db import bulk_users, make_show
from boxoffice.booking.accounts.sign_in import TokenIssuer
from boxoffice.booking.records import UserRecord
from boxoffice.db import create_engine
from boxoffice.payments.simulator import simulator_api_key
from live_support import ServerProcess

HOLD = """mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename ... on Hold { id } } }"""
ORDER = """mutation($i: CreateOrderInput!) { createOrder(input: $i) {
  __typename ... on Order { id tickets { id } } } }"""
PAY = """mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) {
  __typename ... on Order { status tickets { id } } } }"""
LIST = "mutation($t: ID!, $p: Int!) { listForResale(ticketId: $t, priceCents: $p) { __typename } }"
LISTINGS = "query($s: ID!) { show(id: $s) { resaleListings(first: 50) { id } } }"
HOLD_LISTING = """mutation($l: ID!, $k: String!) { holdResaleListing(listingId: $l, idempotencyKey: $k) {
  __typename ... on Hold { id } } }"""


async def _call(client: httpx.AsyncClient, url: str, token: str, query: str, variables: dict) -> dict:
    r = await client.post(f"{url}/graphql", json={"query": query, "variables": variables},
                          headers={"Authorization": f"Bearer {token}"})
    return dict(r.json()["data"])


async def _buyer(url: str, token: str, show_id: str, rng: random.Random, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        while not stop.is_set():
            try:
                listings = (await _call(client, url, token, LISTINGS, {"s": show_id}))["show"]["resaleListings"]
                if not listings:
                    await asyncio.sleep(0.05)
                    continue
                hold = (await _call(client, url, token, HOLD_LISTING, {"l": rng.choice(listings)["id"],
                                                                       "k": uuid.uuid4().hex}))["holdResaleListing"]
                if hold["__typename"] != "Hold":
                    continue
                order = (await _call(client, url, token, ORDER, {"i": {"holdId": hold["id"],
                                                                       "idempotencyKey": uuid.uuid4().hex}}))
                await _call(client, url, token, PAY, {"i": {"orderId": order["createOrder"]["id"],
                                                           "paymentMethod": "pm_card_visa",
                                                           "idempotencyKey": uuid.uuid4().hex}})
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                await asyncio.sleep(0.05)  # the server is gone: keep trying until told to stop


async def _fans(engine, secret: str, n: int) -> list[str]:
    """Tokens of n new fans, without an argon2 hash each (they never log in)."""
    issuer = TokenIssuer(secret, 3600)
    return [issuer.issue(UserRecord(v.user_id, f"{v.user_id}@bulk.test", "Bulk", "fan"))
            for v in await bulk_users(engine, n)]


async def test_sigkill_mid_resale_payments_then_restart_reconcile_and_audit(private_database_url, secret,
                                                                           tmp_path) -> None:
    engine = create_engine(private_database_url, pool_size=4, max_overflow=2)
    server = ServerProcess(private_database_url, "redis://127.0.0.1:6379/15", secret, tmp_path / "victim",
                           extra_env={"BOXOFFICE_STRIPE_SIM_FAULTS": "1"})
    sim_auth = {"Authorization": f"Bearer {simulator_api_key(secret)}"}
    server.start(fresh_redis=True)
    stop = asyncio.Event()
    try:
        show, seats, _ = await make_show(engine, seats=8, ga=1, max_tickets=50)
        sellers = await _fans(engine, secret, 8)
        async with httpx.AsyncClient(timeout=20) as client:
            for token, seat in zip(sellers, seats):  # each seller buys one seat and lists it
                hold = (await _call(client, server.url, token, HOLD, {"i": {
                    "showId": str(show.id), "seatIds": [seat], "idempotencyKey": uuid.uuid4().hex}}))["holdSeats"]
                order = (await _call(client, server.url, token, ORDER, {"i": {
                    "holdId": hold["id"], "idempotencyKey": uuid.uuid4().hex}}))["createOrder"]
                paid = (await _call(client, server.url, token, PAY, {"i": {
                    "orderId": order["id"], "paymentMethod": "pm_card_visa",
                    "idempotencyKey": uuid.uuid4().hex}}))["confirmPayment"]
                assert paid["status"] == "CONFIRMED", paid
                listed = await _call(client, server.url, token, LIST, {"t": paid["tickets"][0]["id"], "p": 900})
                assert listed["listForResale"]["__typename"] == "ResaleListing", listed
            # Stripe is slow: payments and refunds are in flight when the server dies.
            faults = await client.post(f"{server.url}/stripe-sim/_faults", json={
                "latency_ms": 40, "duplicate_webhooks": True, "reorder_webhooks": True, "reorder_window_ms": 300},
                headers=sim_auth)
            assert faults.status_code == 200
        buyers = await _fans(engine, secret, 6)
        shoppers = [asyncio.create_task(_buyer(server.url, t, str(show.id), random.Random(i), stop))
                    for i, t in enumerate(buyers)]
        for _ in range(200):  # until some resales were paid (a condition, not a fixed time)
            async with engine.connect() as conn:
                sold = (await conn.execute(text("SELECT count(*) FROM resale_listings WHERE show_id = :s "
                                                "AND status = 'sold'"), {"s": show.id})).scalar()
            if sold >= 2:
                break
            await asyncio.sleep(0.05)
        server.stop(signal.SIGKILL)  # mid-flight: holds, orders, Stripe calls and seller refunds cut off
        stop.set()
        await asyncio.gather(*shoppers)
        server.start()
        async with engine.begin() as conn:  # time passes: every hold and unpaid order runs out
            await conn.execute(text("UPDATE holds SET expires_at = now() WHERE show_id = :s AND status = 'active'"),
                               {"s": show.id})
            await conn.execute(text("UPDATE orders SET expires_at = now() WHERE show_id = :s "
                                    "AND status = 'pending_payment'"), {"s": show.id})
        result = server.cli("reconcile")
        assert result.returncode == 0, result.stderr
        audit = server.cli("audit")
        assert audit.returncode == 0, audit.stdout
        async with engine.connect() as conn:
            listings = (await conn.execute(text(
                "SELECT l.id, l.status, l.refund_status, l.price_cents, p.intent_id FROM resale_listings l "
                "JOIN payments p ON p.order_id = l.seller_order_id WHERE l.show_id = :s"), {"s": show.id})).all()
            refunds = dict((await conn.execute(text(
                "SELECT payment_intent, sum(amount) FROM stripe_sim.refunds GROUP BY 1"))).all())
            doubled = (await conn.execute(text(
                "SELECT metadata->>'order_id' FROM stripe_sim.payment_intents GROUP BY 1 HAVING count(*) > 1"))).all()
        sold = [r for r in listings if r.status == "sold"]
        assert sold, listings
        assert all(r.refund_status == "refunded" and refunds.get(r.intent_id) == r.price_cents for r in sold), \
            (sold, refunds)
        assert all(r.intent_id not in refunds for r in listings if r.status != "sold")
        assert doubled == []
    finally:
        stop.set()
        server.stop()
        await engine.dispose()
