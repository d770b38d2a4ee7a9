"""Payments tried as an attacker would (issue 15, items 3 and 7), against real `boxoffice serve` processes.

Two servers on the run's database: `plain` as `boxoffice serve` runs out of the box (simulated Stripe,
no test controls) and `testing` with the simulator's test controls on (BOXOFFICE_STRIPE_SIM_FAULTS=1),
which the dispute tests need to play the bank. Everything goes through HTTP: GraphQL, the mounted
simulator, signed webhooks and the `boxoffice` command.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from booking.fixtures_db import make_show
from boxoffice.app import create_app
from boxoffice.booking.checkout.tickets import revoked_barcodes, verify_barcode, verify_ticket_barcode
from boxoffice.config import Settings
from boxoffice.payments.simulator import sign_payload, simulator_api_key
from live_support import ServerProcess, fan_tokens, free_port, gql

HOLD = ("mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename ... on Hold { id } "
        "... on Rejected { code } } }")
ORDER = "mutation($i: CreateOrderInput!) { createOrder(input: $i) { __typename ... on Order { id status } } }"
PAY = "mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) { __typename ... on Order { status } } }"
ORDER_Q = "query($id: ID!) { order(id: $id) { status tickets { id barcode status } payment { status } } }"


@pytest.fixture(scope="module")
def servers(database_url: str, secret: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProcess]]:
    started = {"plain": ServerProcess(database_url, None, secret, tmp_path_factory.mktemp("plain")),
               "testing": ServerProcess(database_url, None, secret, tmp_path_factory.mktemp("testing"),
                                        extra_env={"BOXOFFICE_STRIPE_SIM_FAULTS": "1"})}
    try:
        for server in started.values():
            server.start()
        yield started
    finally:
        for server in started.values():
            server.stop()


def _key(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {simulator_api_key(secret)}"}


async def _until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 60.0,
                 why: Callable[[], Awaitable[str]] | None = None) -> Any:
    """What a webhook does, awaited as long as Stripe keeps retrying a failed delivery five times
    (after 1, 2, 4, 8 and 16 s). `why`: what the failure message adds (where those webhooks are)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"never happened: {what}" + (f"\n{await why()}" if why else ""))
        await asyncio.sleep(0.05)


async def _webhooks_and_logs(engine: Any, servers: dict[str, ServerProcess]) -> str:
    """The simulator's deliveries not delivered at the first try, and the tail of each server's log."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT e.type, d.url, d.status, d.attempts, d.last_status, d.last_error, "
            "round(extract(epoch FROM d.next_attempt_at - now())) AS due_in_s "
            "FROM stripe_sim.webhook_deliveries d JOIN stripe_sim.events e ON e.id = d.event_id "
            "WHERE d.status <> 'delivered' OR d.attempts > 1 ORDER BY d.seq DESC LIMIT 20"))).all()
    logs = [f"{name}'s log:\n" + "\n".join(server.log_path.read_text(errors="replace").splitlines()[-20:])
            for name, server in servers.items()]
    return "\n".join(["webhooks delivered late or not yet:", *map(str, rows), *logs])


async def _pending_order(server: ServerProcess, engine: Any, secret: str,
                         seats: int = 2) -> tuple[str, str, Any, list[str]]:
    show, seat_ids, _ = await make_show(engine, seats=4, ga=1)
    token = (await fan_tokens(engine, secret, 1))[0]
    hold = (await gql(server.url, HOLD, {"i": {"showId": str(show.id), "seatIds": seat_ids[:seats],
                                               "idempotencyKey": uuid.uuid4().hex}}, token))["holdSeats"]
    assert hold["__typename"] == "Hold", hold
    order = (await gql(server.url, ORDER, {"i": {"holdId": hold["id"], "idempotencyKey": uuid.uuid4().hex}},
                       token))["createOrder"]
    assert order["status"] == "PENDING_PAYMENT", order
    return token, order["id"], show, seat_ids[:seats]


async def _paid_order(server: ServerProcess, engine: Any, secret: str) -> tuple[str, str, Any, list[str]]:
    token, order_id, show, seats = await _pending_order(server, engine, secret)
    paid = (await gql(server.url, PAY, {"i": {"orderId": order_id, "paymentMethod": "pm_card_visa",
                                              "idempotencyKey": uuid.uuid4().hex}}, token))["confirmPayment"]
    assert paid["status"] == "CONFIRMED", paid
    return token, order_id, show, seats


async def _order(server: ServerProcess, token: str, order_id: str) -> dict[str, Any]:
    return (await gql(server.url, ORDER_Q, {"id": order_id}, token))["order"]  # type: ignore[no-any-return]


async def _payment(engine: Any, order_id: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT p.intent_id, p.status, p.dispute_id, p.dispute_status, o.status AS "
                                        "order_status FROM payments p JOIN orders o ON o.id = p.order_id "
                                        "WHERE p.order_id = :o"), {"o": order_id})).one()


async def _seat_states(engine: Any, seats: list[str]) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(text("SELECT status FROM show_seats WHERE id = ANY(CAST(:s AS bigint[]))"),
                                       {"s": [int(s) for s in seats]})).scalars().all())


async def _event_handled(engine: Any, intent_id: str, event_type: str) -> bool:
    """The simulator's event of that type about the intent was recorded by boxoffice as handled."""
    async with engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT 1 FROM stripe_sim.events e JOIN webhook_events w ON w.id = e.id WHERE e.type = :t "
            "AND (e.object_id = :i OR e.payload::jsonb -> 'data' -> 'object' ->> 'payment_intent' = :i)"),
            {"t": event_type, "i": intent_id})).first() is not None


def _signed_post(server: ServerProcess, secret: str, event: dict[str, Any]) -> httpx.Response:
    payload = json.dumps(event)
    signature = sign_payload(payload, "whsec_cluster_" + secret[:8])  # ServerProcess's STRIPE_WEBHOOK_SECRET
    return httpx.post(f"{server.url}/webhooks/stripe", content=payload.encode(), timeout=30,
                      headers={"Stripe-Signature": signature, "Content-Type": "application/json"})


# -- the simulator only when asked for, and only for boxoffice ---------------------------------


def test_production_without_a_stripe_key_refuses_to_start(database_url: str, secret: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "BOXOFFICE_SECRET": secret, "BOXOFFICE_ENV": "production",
           "BOXOFFICE_DATA_DIR": str(tmp_path / "data")}
    env.pop("STRIPE_API_KEY", None)
    result = subprocess.run([sys.executable, "-m", "boxoffice.cli", "serve", "--port", str(free_port()),
                             "--no-migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "STRIPE_API_KEY" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    # An app factory run by another ASGI server refuses the same way.
    with pytest.raises(SystemExit, match="STRIPE_API_KEY"):
        create_app(Settings(database_url=database_url, secret=secret, production=True))


def test_development_says_payments_are_simulated(servers: dict[str, ServerProcess]) -> None:
    log = servers["plain"].log_path.read_text()
    assert "payments are SIMULATED" in log and len([line for line in log.splitlines() if "SIMULATED" in line]) == 1


async def test_the_simulator_refuses_calls_without_its_key(servers: dict[str, ServerProcess], secret: str) -> None:
    form = {"amount": "1", "currency": "eur", "payment_method": "pm_card_visa", "confirm": "true"}
    async with httpx.AsyncClient(base_url=servers["plain"].url) as client:
        for headers in ({}, {"Authorization": "Bearer sk_test_simulator"}, {"Authorization": "Bearer sk_test_x"},
                        {"Authorization": f"Bearer {simulator_api_key(secret + '-other')}"}):
            refused = await client.post("/stripe-sim/v1/payment_intents", data=form, headers=headers)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["type"] == "invalid_request_error"
            assert (await client.get("/stripe-sim/v1/payment_intents/pi_x", headers=headers)).status_code == 401
        allowed = await client.post("/stripe-sim/v1/payment_intents", data={"amount": "100", "currency": "eur"},
                                    headers=_key(secret))
        assert allowed.status_code == 200, allowed.text


async def test_fault_controls_exist_only_in_test_mode_and_only_with_the_key(
        servers: dict[str, ServerProcess], secret: str) -> None:
    async with httpx.AsyncClient() as client:
        plain, testing = servers["plain"].url, servers["testing"].url
        for path in ("/stripe-sim/_faults", "/stripe-sim/_disputes"):
            assert (await client.post(plain + path, json={"timeout_next": 5}, headers=_key(secret))).status_code == 404
            assert (await client.post(testing + path, json={"timeout_next": 5})).status_code == 401
        assert (await client.get(testing + "/stripe-sim/_faults", headers={"Authorization": "Bearer sk_test_x"})
                ).status_code == 401
        armed = await client.get(testing + "/stripe-sim/_faults", headers=_key(secret))
        assert armed.status_code == 200 and armed.json()["timeout_next"] == 0  # nothing was switched on


async def test_refunding_another_fans_payment_needs_the_key(servers: dict[str, ServerProcess], engine: Any,
                                                            secret: str) -> None:
    server = servers["plain"]
    token, order_id, _, _ = await _paid_order(server, engine, secret)
    intent_id = (await _payment(engine, order_id)).intent_id  # intent ids show up in access logs
    async with httpx.AsyncClient(base_url=server.url) as client:
        for headers in ({}, {"Authorization": "Bearer sk_test_simulator"}):
            refused = await client.post("/stripe-sim/v1/refunds", data={"payment_intent": intent_id}, headers=headers)
            assert refused.status_code == 401
    async with engine.connect() as conn:
        refunded = (await conn.execute(text("SELECT amount_refunded FROM stripe_sim.payment_intents WHERE id = :i"),
                                       {"i": intent_id})).scalar_one()
    assert refunded == 0
    order = await _order(server, token, order_id)
    assert order["status"] == "CONFIRMED" and len(order["tickets"]) == 2


# -- settlement binds only the intent boxoffice made for the order -------------------------------


@pytest.mark.parametrize("amount", ["1", "full"])
async def test_a_forged_intent_naming_someone_elses_order_binds_nothing(
        servers: dict[str, ServerProcess], engine: Any, secret: str, amount: str) -> None:
    """Even created with the key (another app on the same Stripe account, say): metadata is not a binding."""
    server = servers["plain"]
    token, order_id, show, seats = await _pending_order(server, engine, secret)
    async with engine.connect() as conn:
        total = (await conn.execute(text("SELECT total_cents FROM orders WHERE id = :o"), {"o": order_id})).scalar_one()
    async with httpx.AsyncClient(base_url=server.url) as client:
        forged = await client.post("/stripe-sim/v1/payment_intents", headers=_key(secret), data={
            "amount": "1" if amount == "1" else str(total), "currency": "eur", "metadata[order_id]": order_id,
            "metadata[order_binding]": "0" * 40, "payment_method": "pm_card_visa", "confirm": "true"})
        assert forged.status_code == 200 and forged.json()["status"] == "succeeded"
    forged_id = forged.json()["id"]
    # Its payment_intent.succeeded webhook reaches the server, signed, and is handled...
    await _until(lambda: _event_handled(engine, forged_id, "payment_intent.succeeded"), "the webhook handled",
                 why=lambda: _webhooks_and_logs(engine, servers))
    # ...and binds nothing: the victim's order waits for its own payment, which still works.
    payment = await _payment(engine, order_id)
    assert (payment.intent_id, payment.status, payment.order_status) == (None, "requires_payment_method",
                                                                         "pending_payment")
    assert await _seat_states(engine, seats) == {"H"}
    paid = (await gql(server.url, PAY, {"i": {"orderId": order_id, "paymentMethod": "pm_card_visa",
                                              "idempotencyKey": uuid.uuid4().hex}}, token))["confirmPayment"]
    assert paid["status"] == "CONFIRMED"
    assert (await _payment(engine, order_id)).intent_id != forged_id


# -- webhooks: acknowledged when there is nothing to do, never trusted beyond the id ---------------


async def test_a_signed_webhook_for_an_unknown_intent_is_acknowledged(servers: dict[str, ServerProcess],
                                                                      engine: Any, secret: str) -> None:
    event_id = "evt_" + uuid.uuid4().hex
    answer = _signed_post(servers["plain"], secret, {
        "id": event_id, "object": "event", "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_" + uuid.uuid4().hex, "object": "payment_intent", "status": "succeeded"}}})
    assert answer.status_code == 200, answer.text  # a 503 would have Stripe retry it for days
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT 1 FROM webhook_events WHERE id = :i"), {"i": event_id})).first()


@pytest.mark.parametrize("shape", [
    {"data": "x"}, {"data": {"object": "pi_x"}}, {"id": "evt_a\u0000"}, {"type": 5},
    {"data": {"object": {"id": "pi_" + "x" * 300}}}, {"data": {"object": {"id": "pi_\u0000"}}}, {"id": ""},
], ids=["data-a-string", "object-a-string", "nul-in-event-id", "numeric-type", "object-id-too-long",
        "nul-in-object-id", "empty-event-id"])
async def test_a_signed_event_not_shaped_as_stripes_is_a_400_that_says_why(
        servers: dict[str, ServerProcess], engine: Any, secret: str, shape: dict[str, Any]) -> None:
    """Signed, yet no event Stripe sends: a 400 naming the field (Stripe's dashboard shows it), never a
    500 or a 503 that Stripe would retry for days, and nothing recorded."""
    event = {"id": "evt_" + uuid.uuid4().hex, "object": "event", "type": "payment_intent.succeeded",
             "data": {"object": {"id": "pi_" + uuid.uuid4().hex, "object": "payment_intent"}}, **shape}
    answer = _signed_post(servers["plain"], secret, event)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith("the event's "), answer.text
    async with engine.connect() as conn:
        assert not (await conn.execute(text("SELECT 1 FROM webhook_events WHERE id = :i"),
                                       {"i": str(event["id"]).replace("\x00", "")})).first()


async def test_charge_refunded_is_taken_from_stripe_not_from_the_event_body(
        servers: dict[str, ServerProcess], engine: Any, secret: str) -> None:
    server = servers["plain"]
    token, order_id, show, seats = await _paid_order(server, engine, secret)
    intent_id = (await _payment(engine, order_id)).intent_id
    async with engine.connect() as conn:
        charge_id = (await conn.execute(text("SELECT latest_charge FROM stripe_sim.payment_intents WHERE id = :i"),
                                        {"i": intent_id})).scalar_one()
    # Signed (a leaked webhook secret, or a replayed body edited before signing) but untrue: Stripe says not refunded.
    lie = _signed_post(server, secret, {
        "id": "evt_" + uuid.uuid4().hex, "object": "event", "type": "charge.refunded",
        "data": {"object": {"id": charge_id, "object": "charge", "payment_intent": intent_id, "refunded": True,
                            "amount_refunded": 2000, "amount": 2000}}})
    assert lie.status_code == 200
    order = await _order(server, token, order_id)
    assert order["status"] == "CONFIRMED" and len(order["tickets"]) == 2
    assert await _seat_states(engine, seats) == {"S"}

    # A real refund (from Stripe's side): the order is refunded, its seats back on sale, its barcodes revoked.
    barcodes = [t["barcode"] for t in order["tickets"]]
    async with httpx.AsyncClient(base_url=server.url) as client:
        refund = await client.post("/stripe-sim/v1/refunds", data={"payment_intent": intent_id}, headers=_key(secret))
        assert refund.status_code == 200, refund.text
    await _until(lambda: _is(server, token, order_id, "REFUNDED"), "the order refunded",
                 why=lambda: _webhooks_and_logs(engine, servers))
    assert await _seat_states(engine, seats) == {"A"}
    for barcode in barcodes:
        assert verify_barcode(secret, barcode) is not None  # the signature alone still verifies...
        assert await verify_ticket_barcode(engine, secret, barcode) is None  # ...the door's check does not
    assert set(barcodes) <= set(await revoked_barcodes(engine, show.id))


async def _is(server: ServerProcess, token: str, order_id: str, status: str) -> bool:
    return (await _order(server, token, order_id))["status"] == status


# -- disputes: a chargeback keeps no tickets ---------------------------------------------------


def _audit_show(server: ServerProcess, show_id: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": server.database_url, "BOXOFFICE_SECRET": server.secret,
           "BOXOFFICE_DATA_DIR": str(server.data_dir)}
    return subprocess.run([sys.executable, "-m", "boxoffice.cli", "audit", "--show", str(show_id)], env=env,
                          capture_output=True, text=True, timeout=120)


async def _dispute(server: ServerProcess, secret: str, intent_id: str) -> str:
    async with httpx.AsyncClient(base_url=server.url) as client:
        opened = await client.post("/stripe-sim/_disputes", data={"payment_intent": intent_id}, headers=_key(secret))
        assert opened.status_code == 200, opened.text
    return str(opened.json()["id"])


async def test_a_dispute_voids_the_tickets_and_puts_the_seats_back_on_sale(
        servers: dict[str, ServerProcess], engine: Any, secret: str) -> None:
    server = servers["testing"]
    token, order_id, show, seats = await _paid_order(server, engine, secret)
    barcodes = [t["barcode"] for t in (await _order(server, token, order_id))["tickets"]]
    intent_id = (await _payment(engine, order_id)).intent_id
    dispute_id = await _dispute(server, secret, intent_id)

    await _until(lambda: _is(server, token, order_id, "DISPUTED"), "the order marked disputed",
                 why=lambda: _webhooks_and_logs(engine, servers))
    order = await _order(server, token, order_id)
    assert [t["barcode"] for t in order["tickets"] if t["status"] == "VOID"] == barcodes  # still shown, void
    assert order["payment"]["status"] == "SUCCEEDED"
    payment = await _payment(engine, order_id)
    assert (payment.dispute_id, payment.dispute_status) == (dispute_id, "needs_response")
    assert await _seat_states(engine, seats) == {"A"}  # the show is in 3 days: back on sale
    for barcode in barcodes:
        assert await verify_ticket_barcode(engine, secret, barcode) is None
    audit = _audit_show(server, show.id)
    assert audit.returncode == 0, audit.stdout + audit.stderr

    # Stripe refuses to refund a charge while it is disputed.
    async with httpx.AsyncClient(base_url=server.url) as client:
        refund = await client.post("/stripe-sim/v1/refunds", data={"payment_intent": intent_id}, headers=_key(secret))
        assert refund.status_code == 400 and refund.json()["error"]["code"] == "charge_disputed"
    # Won later: the tickets stay void (their seats may be sold again already), and the money that
    # came back to the box office for them goes back to the fan, who could not use them.
    await _win(servers, engine, secret, dispute_id, order_id)
    await _until(lambda: _is(server, token, order_id, "REFUNDED"), "the fan refunded",
                 why=lambda: _webhooks_and_logs(engine, servers))
    refunded = await _order(server, token, order_id)
    assert {t["status"] for t in refunded["tickets"]} == {"VOID"}
    await _until(lambda: _payment_is(engine, order_id, "refunded"), "the refund made at Stripe",
                 why=lambda: _webhooks_and_logs(engine, servers))
    audit = _audit_show(server, show.id)
    assert audit.returncode == 0, audit.stdout + audit.stderr


async def _payment_is(engine: Any, order_id: str, status: str) -> bool:
    return bool((await _payment(engine, order_id)).status == status)


async def _win(servers: dict[str, ServerProcess], engine: Any, secret: str, dispute_id: str, order_id: str) -> None:
    """The box office wins the dispute; until its webhook is applied."""
    async with httpx.AsyncClient(base_url=servers["testing"].url) as client:
        closed = await client.post(f"/stripe-sim/_disputes/{dispute_id}/close", data={"status": "won"},
                                   headers=_key(secret))
        assert closed.status_code == 200
    await _until(lambda: _dispute_status(engine, order_id, "won"), "the won dispute recorded",
                 why=lambda: _webhooks_and_logs(engine, servers))


async def _dispute_status(engine: Any, order_id: str, status: str) -> bool:
    return bool((await _payment(engine, order_id)).dispute_status == status)


async def test_a_dispute_after_the_show_voids_the_tickets_and_leaves_the_seats(
        servers: dict[str, ServerProcess], engine: Any, secret: str) -> None:
    server = servers["testing"]
    token, order_id, show, seats = await _paid_order(server, engine, secret)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE shows SET starts_at = now() - interval '2 hours' WHERE id = :s"),
                           {"s": show.id})
    dispute_id = await _dispute(server, secret, (await _payment(engine, order_id)).intent_id)
    await _until(lambda: _is(server, token, order_id, "DISPUTED"), "the order marked disputed",
                 why=lambda: _webhooks_and_logs(engine, servers))
    assert {t["status"] for t in (await _order(server, token, order_id))["tickets"]} == {"VOID"}
    assert await _seat_states(engine, seats) == {"S"}  # the show happened: nothing to sell again
    # Won: the fan could have been in (the tickets were good until the show began): no refund.
    await _win(servers, engine, secret, dispute_id, order_id)
    assert (await _payment(engine, order_id)).order_status == "disputed"
    audit = _audit_show(server, show.id)
    assert audit.returncode == 0, audit.stdout + audit.stderr
