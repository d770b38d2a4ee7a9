"""Idempotency keys and injected faults: a retry must never charge twice."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from boxoffice.payments.gateway import (
    PaymentProviderUnavailable,
    PaymentRequestRejected,
    StripeGateway,
)
from boxoffice.payments.simulator import SimulatorStore

from .sim_harness import API_KEY, AUTH, OTHER_ACCOUNT_KEY, WEBHOOK_SECRET, SimulatorServer


def key() -> str:
    return uuid.uuid4().hex


def order() -> dict[str, str]:
    return {"order_id": "ord_" + uuid.uuid4().hex[:12]}


def auth(api_key: str = API_KEY, idempotency_key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {api_key}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return headers


async def test_same_key_replays_the_stored_response_verbatim(http: httpx.AsyncClient) -> None:
    idem = key()
    form = {"amount": "1500", "currency": "eur", "metadata[order_id]": "o-replay",
            "payment_method": "pm_card_visa_chargeDeclined", "confirm": "true"}
    first = await http.post("/stripe-sim/v1/payment_intents", data=form, headers=auth(
        idempotency_key=idem))
    second = await http.post("/stripe-sim/v1/payment_intents", data=form, headers=auth(
        idempotency_key=idem))
    # A decline is an executed request: Stripe stores and replays it too.
    assert first.status_code == second.status_code == 402
    assert first.content == second.content
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json()["error"]["payment_intent"]["id"].startswith("pi_")


async def test_same_key_with_other_params_is_an_idempotency_error(
        gateway: StripeGateway, http: httpx.AsyncClient) -> None:
    idem = key()
    await gateway.create_intent(1000, "eur", order(), idem)
    with pytest.raises(PaymentRequestRejected) as rejected:
        await gateway.create_intent(1001, "eur", order(), idem)
    assert (rejected.value.http_status, rejected.value.code) == (400, "idempotency_error")
    raw = await http.post("/stripe-sim/v1/payment_intents", headers=auth(idempotency_key=idem),
                          data={"amount": "5", "currency": "eur"})
    assert raw.status_code == 400 and raw.json()["error"]["type"] == "idempotency_error"


async def test_keys_are_scoped_per_api_key(http: httpx.AsyncClient) -> None:
    idem, form = key(), {"amount": "800", "currency": "eur"}
    a = await http.post("/stripe-sim/v1/payment_intents", data=form,
                        headers=auth(idempotency_key=idem))
    b = await http.post("/stripe-sim/v1/payment_intents", data=form,
                        headers=auth(OTHER_ACCOUNT_KEY, idem))
    assert a.status_code == b.status_code == 200
    assert a.json()["id"] != b.json()["id"] and "idempotent-replayed" not in b.headers


async def test_validation_errors_are_not_stored(http: httpx.AsyncClient) -> None:
    """As on Stripe: a request that never started executing can be retried."""
    idem = key()
    bad = await http.post("/stripe-sim/v1/payment_intents", headers=auth(idempotency_key=idem),
                          data={"currency": "eur"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "parameter_missing"
    good = await http.post("/stripe-sim/v1/payment_intents", headers=auth(idempotency_key=idem),
                           data={"currency": "eur", "amount": "100"})
    assert good.status_code == 200


async def test_concurrent_creates_with_one_key_make_one_intent(
        gateway: StripeGateway, sim_store: SimulatorStore) -> None:
    idem, meta = key(), order()
    intents = await asyncio.gather(*(
        gateway.create_intent(2000, "eur", meta, idem, payment_method="pm_card_visa",
                              confirm=True) for _ in range(12)))
    assert len({i.id for i in intents}) == 1
    assert all(i.status == "succeeded" for i in intents)
    assert await sim_store.count_intents(metadata=meta) == 1


async def test_concurrent_same_key_requests_wait_and_replay(http: httpx.AsyncClient) -> None:
    """Without client retries: the losers block on the key's row, then replay."""
    idem, form = key(), {"amount": "990", "currency": "eur", "payment_method": "pm_card_visa",
                         "confirm": "true"}
    responses = await asyncio.gather(*(
        http.post("/stripe-sim/v1/payment_intents", data=form,
                  headers=auth(idempotency_key=idem)) for _ in range(8)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert sum("idempotent-replayed" in r.headers for r in responses) == 7


async def test_fail_next_is_retried_with_the_same_key(
        gateway: StripeGateway, sim_store: SimulatorStore) -> None:
    await sim_store.set_faults(fail_next=2)
    meta = order()
    intent = await gateway.create_intent(2500, "eur", meta, key(),
                                         payment_method="pm_card_visa", confirm=True)
    assert intent.status == "succeeded"
    assert await sim_store.count_intents(metadata=meta) == 1
    assert (await sim_store.get_faults()).fail_next == 0


async def test_provider_unavailable_after_bounded_attempts(
        gateway: StripeGateway, sim_store: SimulatorStore) -> None:
    await sim_store.set_faults(fail_next=10)
    meta = order()
    with pytest.raises(PaymentProviderUnavailable):
        await gateway.create_intent(2500, "eur", meta, key())
    assert await sim_store.count_intents(metadata=meta) == 0
    assert (await sim_store.get_faults()).fail_next == 6  # exactly max_attempts were made


async def test_lost_response_is_recovered_by_replay(
        gateway: StripeGateway, sim_store: SimulatorStore,
        sim_server: SimulatorServer) -> None:
    """fail_after_next: charged, but the client saw a 500. The retry replays."""
    await sim_store.set_faults(fail_after_next=1)
    meta = order()
    intent = await gateway.create_intent(2500, "eur", meta, key(),
                                         payment_method="pm_card_visa", confirm=True)
    assert intent.status == "succeeded"
    assert await sim_store.count_intents(metadata=meta) == 1
    await asyncio.sleep(0.3)
    assert [d.event["type"] for d in sim_server.receiver.deliveries(intent.id)] == [
        "payment_intent.succeeded"]


async def test_timeout_is_retried_with_the_same_key(
        sim_server: SimulatorServer, sim_store: SimulatorStore) -> None:
    await sim_store.set_faults(timeout_next=1, hang_ms=4000)
    impatient = StripeGateway(API_KEY, f"{sim_server.base_url}/stripe-sim", WEBHOOK_SECRET,
                              timeout_s=0.8, max_attempts=3, backoff_s=0.05)
    meta, idem = order(), key()
    try:
        started = time.monotonic()
        intent = await impatient.create_intent(4100, "eur", meta, idem,
                                               payment_method="pm_card_visa", confirm=True)
        elapsed = time.monotonic() - started
        assert 0.8 <= elapsed < 3.0  # one timed-out attempt, then the replay
        assert intent.status == "succeeded"
        assert await sim_store.count_intents(metadata=meta) == 1
        again = await impatient.retrieve_intent(intent.id)
        assert again.latest_charge == intent.latest_charge
    finally:
        await impatient.aclose()


async def test_latency_delays_every_response(gateway: StripeGateway,
                                             sim_store: SimulatorStore) -> None:
    await sim_store.set_faults(latency_ms=300)
    started = time.monotonic()
    await gateway.create_intent(100, "eur", order(), key())
    assert time.monotonic() - started >= 0.3


async def test_fault_endpoint(http: httpx.AsyncClient) -> None:
    set_ = await http.post("/stripe-sim/_faults", json={"fail_next": 1, "latency_ms": 5}, headers=AUTH)
    assert set_.status_code == 200 and set_.json()["fail_next"] == 1
    assert (await http.get("/stripe-sim/_faults", headers=AUTH)).json()["latency_ms"] == 5
    assert (await http.post("/stripe-sim/_faults", json={"nonsense": 1}, headers=AUTH)).status_code == 400
    assert (await http.post("/stripe-sim/_faults", json={"fail_next": "x"}, headers=AUTH)).status_code == 400
    reset = await http.post("/stripe-sim/_faults", json={}, headers=AUTH)
    assert reset.json()["fail_next"] == 0 and reset.json()["latency_ms"] == 0


async def test_two_services_share_state(sim_server: SimulatorServer,
                                        gateway: StripeGateway, http: httpx.AsyncClient) -> None:
    """Two SimulatorService instances on one database behave like one Stripe."""
    other = StripeGateway(API_KEY, f"{sim_server.base_url}/b/stripe-sim", WEBHOOK_SECRET,
                          timeout_s=2.0, backoff_s=0.05)
    try:
        idem, meta = key(), order()
        created = await gateway.create_intent(3300, "eur", meta, idem)
        assert (await other.retrieve_intent(created.id)) == created
        # The same key through the other process is a replay, not a second intent.
        assert (await other.create_intent(3300, "eur", meta, idem)).id == created.id
        pending = await other.confirm_intent(created.id, "pm_card_authenticationRequired",
                                             None, key())
        assert pending.next_action_url == (
            f"{sim_server.base_url}/b/stripe-sim/3ds/{created.client_secret}")
        assert (await http.post(f"{pending.next_action_url}/complete")).status_code == 200
        assert (await gateway.retrieve_intent(created.id)).status == "succeeded"

        # Fault switches set through one process apply to the other.
        await http.post("/b/stripe-sim/_faults", json={"fail_next": 1}, headers=AUTH)
        failed = await http.get(f"/stripe-sim/v1/payment_intents/{created.id}", headers=auth())
        assert failed.status_code == 500 and failed.json()["error"]["type"] == "api_error"
    finally:
        await other.aclose()
