"""Charges and disputes in the simulator: what boxoffice re-reads before acting on an event, and the
bank's side of a chargeback (a test-mode control)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from boxoffice.payments.gateway import PaymentRequestRejected, StripeGateway

from .sim_harness import AUTH, SimulatorServer


async def _paid(gateway: StripeGateway) -> str:
    intent = await gateway.create_intent(2500, "eur", {"order_id": uuid.uuid4().hex}, uuid.uuid4().hex,
                                         payment_method="pm_card_visa", confirm=True)
    return intent.id


async def test_a_charge_reads_as_stripe_has_it(gateway: StripeGateway) -> None:
    intent = await gateway.retrieve_intent(await _paid(gateway))
    assert intent.latest_charge
    charge = await gateway.retrieve_charge(intent.latest_charge)
    assert (charge.payment_intent, charge.amount, charge.refunded, charge.disputed) == (intent.id, 2500, False, False)
    await gateway.refund(intent.id, uuid.uuid4().hex)
    assert (await gateway.retrieve_charge(intent.latest_charge)).refunded
    with pytest.raises(PaymentRequestRejected) as missing:
        await gateway.retrieve_charge("ch_nobody")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


async def test_a_dispute_opens_and_closes_with_its_webhooks(gateway: StripeGateway, sim_server: SimulatorServer,
                                                            http: httpx.AsyncClient) -> None:
    intent_id = await _paid(gateway)
    assert (await http.post("/stripe-sim/_disputes", data={"payment_intent": intent_id})).status_code == 401
    opened = await http.post("/stripe-sim/_disputes", data={"payment_intent": intent_id}, headers=AUTH)
    assert opened.status_code == 200, opened.text
    dispute = await gateway.retrieve_dispute(opened.json()["id"])
    assert (dispute.payment_intent, dispute.status, dispute.amount) == (intent_id, "needs_response", 2500)
    assert not dispute.settled_for_merchant
    intent = await gateway.retrieve_intent(intent_id)
    assert (await gateway.retrieve_charge(intent.latest_charge or "")).disputed
    again = await http.post("/stripe-sim/_disputes", data={"payment_intent": intent_id}, headers=AUTH)
    assert again.status_code == 400
    with pytest.raises(PaymentRequestRejected) as refused:  # a charged-back payment cannot be refunded too
        await gateway.refund(intent_id, uuid.uuid4().hex)
    assert refused.value.code == "charge_disputed"

    closed = await http.post(f"/stripe-sim/_disputes/{dispute.id}/close", data={"status": "lost"}, headers=AUTH)
    assert closed.status_code == 200 and closed.json()["status"] == "lost"
    deliveries = await sim_server.receiver.wait_for(intent_id, lambda ds: len(ds) >= 3)
    assert [d.event["type"] for d in deliveries] == ["payment_intent.succeeded", "charge.dispute.created",
                                                    "charge.dispute.closed"]
    assert (await gateway.retrieve_dispute(dispute.id)).status == "lost"


async def test_only_a_successful_charge_can_be_disputed(gateway: StripeGateway, http: httpx.AsyncClient) -> None:
    unpaid = await gateway.create_intent(900, "eur", {}, uuid.uuid4().hex)
    refused = await http.post("/stripe-sim/_disputes", data={"payment_intent": unpaid.id}, headers=AUTH)
    assert refused.status_code == 400
    missing = await http.post("/stripe-sim/_disputes", data={"payment_intent": "pi_nobody"}, headers=AUTH)
    assert missing.status_code == 404
