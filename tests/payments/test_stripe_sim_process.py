"""`boxoffice stripe-sim` as its own process, and `boxoffice serve` using it exactly as it would use Stripe."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from booking.fixtures_db import make_show
from boxoffice.booking.audit import audit
from boxoffice.db import create_engine
from boxoffice.payments.simulator import simulator_api_key
from live_support import ServerProcess, fan_tokens, free_port, stop_process, wait_healthy

SECRET = "stripe-sim-process-" + uuid.uuid4().hex
WEBHOOK_SECRET = "whsec_process_" + uuid.uuid4().hex  # one for every simulator of the module: any may deliver
LATENCY_MS = 300

HOLD = "mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename ... on Hold { id } } }"
ORDER = "mutation($i: CreateOrderInput!) { createOrder(input: $i) { __typename ... on Order { id status } } }"
ORDER_FIELDS = ("__typename ... on Order { id status tickets { id barcode } payment { status } } "
                "... on Rejected { code message }")
PAY = f"mutation($i: ConfirmPaymentInput!) {{ confirmPayment(input: $i) {{ {ORDER_FIELDS} }} }}"


@dataclass
class StripeSim:
    """`boxoffice stripe-sim` as an operator runs it."""

    database_url: str
    webhook_url: str
    data_dir: Path
    latency_ms: int = 0
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}-stripe-sim.log"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "boxoffice.cli", "stripe-sim", "--port", str(self.port),
                "--webhook-url", self.webhook_url, "--webhook-secret", WEBHOOK_SECRET,
                "--latency-ms", str(self.latency_ms), "--log-level", "warning", *self.args]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "BOXOFFICE_"))}
        return {**env, "DATABASE_URL": self.database_url, "BOXOFFICE_SECRET": SECRET,
                "BOXOFFICE_DATA_DIR": str(self.data_dir)}

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(self.command(), env=self.env(), stdout=log_file, stderr=log_file)
        wait_healthy(self.proc, self.url, self.log_path, "stripe-sim")

    def server_env(self) -> dict[str, str]:
        """What the operator gives `serve`: the derived key the simulator printed, its address, the secret."""
        return {"STRIPE_API_KEY": simulator_api_key(SECRET), "STRIPE_API_BASE": self.url,
                "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}

    def stop(self) -> None:
        stop_process(self.proc)


@dataclass
class Deployment:
    simulator: StripeSim
    server: ServerProcess


@pytest.fixture(scope="module")
def sim_db_url() -> Iterator[str]:
    """The module's own database: no other test's simulator worker may deliver these webhooks."""
    from conftest import fresh_database

    yield from fresh_database()


@pytest.fixture(scope="module")
async def sim_engine(sim_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sim_db_url, pool_size=5, max_overflow=5)
    yield engine
    await engine.dispose()


@contextlib.contextmanager
def _deployment(db_url: str, root: Path, latency_ms: int = 0) -> Iterator[Deployment]:
    """A simulator process and a server using it, stopped on the way out. One at a time: each
    takes about 30 of PostgreSQL's 100 connections, which the whole suite shares."""
    server = ServerProcess(db_url, None, SECRET, root / "server")
    simulator = StripeSim(db_url, f"{server.url}/webhooks/stripe", root / "sim", latency_ms)
    simulator.start()
    try:
        server.extra_env.update(simulator.server_env())
        server.extra_env["BOXOFFICE_DB_POOL_SIZE"] = "10"
        server.start()
        try:
            yield Deployment(simulator, server)
        finally:
            server.stop()
    finally:
        simulator.stop()


@pytest.fixture
def deployment(sim_db_url: str, tmp_path: Path) -> Iterator[Deployment]:
    with _deployment(sim_db_url, tmp_path / "plain") as d:
        yield d


async def _call(client: httpx.AsyncClient, url: str, token: str, query: str, variables: dict) -> dict:
    response = await client.post(f"{url}/graphql", json={"query": query, "variables": variables},
                                 headers={"Authorization": f"Bearer {token}"})
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    return body["data"]  # type: ignore[no-any-return]


async def _ordered(client: httpx.AsyncClient, url: str, token: str, show_id: str, seat: str) -> str:
    hold = (await _call(client, url, token, HOLD, {"i": {"showId": show_id, "seatIds": [seat],
                                                         "idempotencyKey": uuid.uuid4().hex}}))["holdSeats"]
    assert hold["__typename"] == "Hold", hold
    order = (await _call(client, url, token, ORDER, {"i": {"holdId": hold["id"],
                                                           "idempotencyKey": uuid.uuid4().hex}}))["createOrder"]
    assert order["__typename"] == "Order" and order["status"] == "PENDING_PAYMENT", order
    return str(order["id"])


async def _pay(client: httpx.AsyncClient, url: str, token: str, order_id: str) -> dict:
    return (await _call(client, url, token, PAY, {"i": {"orderId": order_id, "paymentMethod": "pm_card_visa",
                                                        "idempotencyKey": uuid.uuid4().hex}}))["confirmPayment"]


async def _wait_for(check, what: str, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


async def test_a_purchase_pays_through_the_simulator_process_and_its_webhook_arrives(
        deployment: Deployment, sim_engine: AsyncEngine) -> None:
    show, seats, _ = await make_show(sim_engine, seats=4, ga=1)
    (fan,) = await fan_tokens(sim_engine, SECRET, 1)
    url = deployment.server.url
    async with httpx.AsyncClient(timeout=30) as client:
        order_id = await _ordered(client, url, fan, str(show.id), seats[0])
        paid = await _pay(client, url, fan, order_id)
    assert paid["__typename"] == "Order" and paid["status"] == "CONFIRMED", paid
    assert len(paid["tickets"]) == 1 and paid["tickets"][0]["barcode"]
    async with sim_engine.connect() as conn:
        intent_id = (await conn.execute(text("SELECT intent_id FROM payments WHERE order_id = :o"),
                                        {"o": order_id})).scalar_one()
        # The intent lives where the simulator process put it: the same database's stripe_sim schema.
        assert (await conn.execute(text("SELECT status FROM stripe_sim.payment_intents WHERE id = :i"),
                                   {"i": intent_id})).scalar_one() == "succeeded"

    async def delivered() -> str | None:
        async with sim_engine.connect() as conn:
            return (await conn.execute(text(
                "SELECT e.id FROM stripe_sim.events e JOIN stripe_sim.webhook_deliveries d ON d.event_id = e.id "
                "JOIN webhook_events w ON w.id = e.id WHERE e.object_id = :i AND e.type = 'payment_intent.succeeded' "
                "AND d.status = 'delivered' AND d.url = :url"),
                {"i": intent_id, "url": f"{url}/webhooks/stripe"})).scalar()

    # Delivered by the simulator's process to the server, which verified and recorded it.
    await _wait_for(delivered, "the payment_intent.succeeded webhook accepted by the server")
    assert (await audit(sim_engine, show.id)).clean


async def test_serve_with_a_key_mounts_no_simulator(deployment: Deployment) -> None:
    key = simulator_api_key(SECRET)
    async with httpx.AsyncClient(timeout=10) as client:
        on_server = await client.post(f"{deployment.server.url}/stripe-sim/v1/payment_intents",
                                      data={"amount": 100, "currency": "eur"}, headers={"Authorization": f"Bearer {key}"})
        assert on_server.status_code in (404, 405), on_server.text
        assert "payment_intent" not in on_server.text
        on_simulator = await client.post(f"{deployment.simulator.url}/v1/payment_intents",
                                         data={"amount": 100, "currency": "eur"},
                                         headers={"Authorization": f"Bearer {key}"})
        assert on_simulator.status_code == 200 and on_simulator.json()["object"] == "payment_intent"


async def test_the_simulator_process_answers_only_its_key(deployment: Deployment) -> None:
    async with httpx.AsyncClient(base_url=deployment.simulator.url, timeout=10) as client:
        for headers in ({}, {"Authorization": "Bearer sk_test_somebody_else"},
                        {"Authorization": f"Bearer {simulator_api_key('another-deployment')}"}):
            refused = await client.post("/v1/payment_intents", data={"amount": 100, "currency": "eur"},
                                        headers=headers)
            assert refused.status_code == 401 and refused.json()["error"]["type"] == "invalid_request_error"
        # Test controls exist only with BOXOFFICE_STRIPE_SIM_FAULTS=1.
        faults = await client.post("/_faults", json={"fail_next": 1},
                                   headers={"Authorization": f"Bearer {simulator_api_key(SECRET)}"})
        assert faults.status_code == 404


def test_the_simulator_process_refuses_a_key_that_is_not_a_test_key(sim_db_url: str, tmp_path: Path) -> None:
    sim = StripeSim(sim_db_url, "http://127.0.0.1:9/webhooks/stripe", tmp_path / "sim",
                    args=["--api-key", "sk_live_" + "x" * 24])
    done = subprocess.run(sim.command(), env=sim.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "sk_test_" in done.stderr and "Traceback" not in done.stderr
    production = subprocess.run(sim.command()[:-2], env={**sim.env(), "BOXOFFICE_ENV": "production"},
                                capture_output=True, text=True, timeout=60)
    assert production.returncode == 2 and "production" in production.stderr


async def _concurrent_payments(deployment: Deployment, engine: AsyncEngine, fans_n: int) -> tuple[float, list[float]]:
    """fans_n fans pay at once: (wall time of the lot, each one's time)."""
    show, seats, _ = await make_show(engine, seats=fans_n, ga=1)
    fans = await fan_tokens(engine, SECRET, fans_n)
    url = deployment.server.url
    async with httpx.AsyncClient(timeout=60) as client:
        orders = [await _ordered(client, url, fan, str(show.id), seat) for fan, seat in zip(fans, seats)]

        async def timed(fan: str, order_id: str) -> float:
            started = time.monotonic()
            paid = await _pay(client, url, fan, order_id)
            assert paid["status"] == "CONFIRMED", paid
            return time.monotonic() - started

        started = time.monotonic()
        each = await asyncio.gather(*(timed(fan, o) for fan, o in zip(fans, orders)))
        wall = time.monotonic() - started
    assert (await audit(engine, show.id)).clean
    return wall, list(each)


async def test_a_slow_psp_costs_fans_latency_not_throughput(sim_db_url: str, sim_engine: AsyncEngine,
                                                            tmp_path: Path) -> None:
    fans_n = 10
    with _deployment(sim_db_url, tmp_path / "quick") as quick:
        quick_wall, _ = await _concurrent_payments(quick, sim_engine, fans_n)
    with _deployment(sim_db_url, tmp_path / "slow", LATENCY_MS) as slow:
        slow_wall, each = await _concurrent_payments(slow, sim_engine, fans_n)
    # Each payment is one call to the PSP (the intent created and confirmed at once): each fan waits for it...
    per_payment = LATENCY_MS / 1000
    assert min(each) >= per_payment, each
    # ...but side by side: the lot takes about one payment's latency longer than with a PSP that answers
    # at once (measured beside it on this machine), where one fan after another would add fans_n of them.
    assert slow_wall - quick_wall < fans_n * per_payment / 2, (slow_wall, quick_wall, each)
