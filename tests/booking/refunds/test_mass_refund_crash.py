"""cancelShow of a show with 5,000 paid orders, the server SIGKILLed in the middle of refunding them:
after a restart every order is refunded exactly once at Stripe, and `boxoffice audit` is clean."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.booking.accounts.sign_in import TokenIssuer, create_user
from boxoffice.booking.catalog import organize
from boxoffice.booking.catalog.venue_layout import RowSpec, SectionSpec
from boxoffice.booking.records import Viewer
from boxoffice.booking.refunds.cancel_show import cancellation_progress
from boxoffice.db import create_engine
from boxoffice.payments.simulator import simulator_api_key
from booking.fixtures_db import bulk_users
from live_support import ServerProcess

ORDERS = 5000
KILL_AFTER = ORDERS // 16  # refunds made at Stripe before the SIGKILL
CANCEL = ("mutation($s: ID!, $r: String!) { cancelShow(showId: $s, reason: $r) { __typename "
          "... on Show { status } ... on Rejected { code message } } }")

# One statement per table, every order a paid, ticketed seat as settle_intent() leaves it, and
# its PaymentIntent as the simulator would hold it (succeeded, captured).
_BULK = [
    """CREATE TEMP TABLE bulk AS
       SELECT gen_random_uuid() AS order_id, gen_random_uuid() AS hold_id, gen_random_uuid() AS ticket_id,
              (CAST(:users AS uuid[]))[1 + (n % cardinality(CAST(:users AS uuid[])))] AS user_id,
              ss.id AS seat_id, ss.section_id, ss.price_cents, 'pi_bulk_' || md5(random()::text) AS intent_id
       FROM (SELECT id, section_id, price_cents, row_number() OVER (ORDER BY id) AS n FROM show_seats
             WHERE show_id = :s AND position IS NOT NULL) ss (id, section_id, price_cents, n)""",
    """INSERT INTO holds (id, user_id, show_id, status, expires_at, idempotency_key, request_hash, seat_ids, unit_ids,
                          ga_lines, ticket_count, total_cents, currency, ended_at)
       SELECT hold_id, user_id, :s, 'converted', now(), hold_id::text, 'bulk', ARRAY[seat_id], '{}', '[]', 1,
              price_cents, 'EUR', now() FROM bulk""",
    """INSERT INTO orders (id, user_id, show_id, hold_id, status, ticket_count, total_cents, currency, idempotency_key,
                           expires_at, confirmed_at)
       SELECT order_id, user_id, :s, hold_id, 'confirmed', 1, price_cents, 'EUR', order_id::text, now(), now()
       FROM bulk""",
    """INSERT INTO payments (order_id, intent_id, status, amount_cents, currency)
       SELECT order_id, intent_id, 'succeeded', price_cents, 'EUR' FROM bulk""",
    """INSERT INTO stripe_sim.payment_intents (id, amount, currency, status, client_secret, created, metadata,
                                               latest_charge, amount_received, succeeded_at)
       SELECT intent_id, price_cents, 'eur', 'succeeded', intent_id || '_secret', 0,
              jsonb_build_object('order_id', order_id::text), 'ch_' || substr(intent_id, 9), price_cents, 0
       FROM bulk""",
    """UPDATE show_seats ss SET status = 'S', order_id = b.order_id,
              version = nextval(CAST(sh.version_sequence AS regclass))
       FROM bulk b, shows sh WHERE sh.id = :s AND ss.show_id = :s AND ss.id = b.seat_id""",
    """INSERT INTO tickets (id, order_id, show_id, place_id, seat_id, section_id, barcode)
       SELECT ticket_id, order_id, :s, seat_id, seat_id, section_id, 'BULK-' || ticket_id::text FROM bulk""",
]


async def _stadium_sold_out(engine: AsyncEngine, organizer: Viewer) -> uuid.UUID:
    venue = await organize.create_venue(engine, organizer, name="Arena", city="Lisbon", sections=[
        SectionSpec(name="Bowl", rows=[RowSpec(label=f"R{i}", seat_count=100) for i in range(ORDERS // 100)])])
    event = await organize.create_event(engine, organizer, name="Storm", performer="P", category="c",
                                        description=None, venue_id=venue.id)
    show = await organize.create_show(engine, organizer, organize.ShowSpec(
        event_id=event.id, starts_at=datetime.now(timezone.utc) + timedelta(days=3), on_sale_at=None,
        currency="EUR", hold_ttl_seconds=600, max_tickets_per_user=8,
        price_tiers=[organize.TierSpec("All", 4500, ["Bowl"])]))
    await organize.publish_event(engine, organizer, event.id)
    fans = await bulk_users(engine, 500)
    async with engine.begin() as conn:
        for statement in _BULK:
            await conn.execute(text(statement), {"s": show.id, "users": [f.user_id for f in fans]})
    return show.id


async def _count(engine: AsyncEngine, sql: str, show_id: uuid.UUID) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), {"s": show_id})).scalar() or 0)


_REFUNDS_AT_STRIPE = ("SELECT count(*) FROM stripe_sim.refunds r JOIN payments p ON p.intent_id = r.payment_intent "
                      "JOIN orders o ON o.id = p.order_id WHERE o.show_id = :s")


async def _wait(engine: AsyncEngine, sql: str, show_id: uuid.UUID, at_least: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while (value := await _count(engine, sql, show_id)) < at_least and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return value


async def test_sigkill_mid_mass_refund_then_every_order_refunded_once(private_database_url, tmp_path) -> None:
    secret = "refund-crash-" + uuid.uuid4().hex
    engine = create_engine(private_database_url, pool_size=3, max_overflow=0)
    # A short claim: the refunds the killed process had in flight are retried soon after the restart.
    server = ServerProcess(private_database_url, None, secret, tmp_path / "victim",
                           extra_env={"BOXOFFICE_STRIPE_SIM_FAULTS": "1", "BOXOFFICE_REFUND_CLAIM_S": "2",
                                      "BOXOFFICE_DB_POOL_SIZE": "10"})
    sim_auth = {"Authorization": f"Bearer {simulator_api_key(secret)}"}
    try:
        server.start()  # creates the simulator's schema
        organizer = await create_user(engine, email=f"org-{uuid.uuid4().hex[:8]}@example.test",
                                      password="organizer-password", name="Org", role="organizer")
        show_id = await _stadium_sold_out(engine, Viewer(organizer.id, "organizer"))
        token = TokenIssuer(secret, 3600).issue(organizer)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            # Stripe slowed down (as a remote PSP is), so the kill finds the job part-way.
            assert (await client.post("/stripe-sim/_faults", json={"latency_ms": 15}, headers=sim_auth)).is_success
            cancelled = (await client.post("/graphql", json={"query": CANCEL, "variables": {
                "s": str(show_id), "r": "Storm"}}, headers={"Authorization": f"Bearer {token}"})).json()
            assert cancelled["data"]["cancelShow"] == {"__typename": "Show", "status": "CANCELLED"}, cancelled
        made = await _wait(engine, _REFUNDS_AT_STRIPE, show_id, KILL_AFTER, timeout=300)
        server.stop(signal.SIGKILL)
        assert KILL_AFTER <= made < ORDERS, made  # really part-way
        before = await _count(engine, _REFUNDS_AT_STRIPE, show_id)
        assert before < ORDERS

        server.start()  # the job resumes: no one calls cancelShow again
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            assert (await client.post("/stripe-sim/_faults", json={}, headers=sim_auth)).is_success
        done = await _wait(engine, "SELECT count(*) FROM show_cancellations WHERE show_id = :s AND status = 'done'",
                           show_id, 1, timeout=1200)  # minutes on a busy machine: 3 HTTP calls per refund
        assert done == 1, await cancellation_progress(engine, show_id)
        # Exactly once: one refund per intent at Stripe, of the whole amount; every order and payment refunded.
        assert await _count(engine, _REFUNDS_AT_STRIPE, show_id) == ORDERS
        assert await _count(engine, "SELECT count(DISTINCT r.payment_intent) FROM stripe_sim.refunds r "
                                    "JOIN payments p ON p.intent_id = r.payment_intent "
                                    "JOIN orders o ON o.id = p.order_id "
                                    "WHERE o.show_id = :s AND r.amount = p.amount_cents", show_id) == ORDERS
        assert await _count(engine, "SELECT count(*) FROM orders o JOIN payments p ON p.order_id = o.id "
                                    "WHERE o.show_id = :s AND o.status = 'refunded' AND p.status = 'refunded'",
                            show_id) == ORDERS
        assert await _count(engine, "SELECT count(*) FROM tickets WHERE show_id = :s", show_id) == 0
        assert await _count(engine, "SELECT count(*) FROM outbox WHERE (payload->>'showId')::uuid = :s "
                                    "AND payload->>'kind' = 'SHOW_CANCELLED'", show_id) == ORDERS
        audit = _cli(["audit"], server, private_database_url)
        assert audit.returncode == 0, audit.stdout + audit.stderr
    finally:
        server.stop()
        await engine.dispose()


def _cli(args: list[str], server: ServerProcess, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "BOXOFFICE_SECRET": server.secret,
           "BOXOFFICE_DATA_DIR": str(server.data_dir)}
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "boxoffice.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)
