"""Payment flows through the real stripe SDK, via StripeGateway, against the simulator."""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from boxoffice.payments.gateway import (
    PaymentDeclined,
    PaymentRequestRejected,
    StripeGateway,
)
from boxoffice.payments.simulator import SimulatorStore

from .sim_harness import API_KEY, SimulatorServer



def key() -> str:
    return uuid.uuid4().hex


def order() -> dict[str, str]:
    return {"order_id": "ord_" + uuid.uuid4().hex[:12]}


async def test_card_payment_succeeds_and_webhook_arrives(
        gateway: StripeGateway, sim_server: SimulatorServer) -> None:
    meta = order()
    intent = await gateway.create_intent(2500, "eur", meta, key(),
                                         payment_method="pm_card_visa", confirm=True)
    assert intent.status == "succeeded"
    assert intent.amount == 2500 and intent.currency == "eur" and intent.metadata == meta
    assert intent.id.startswith("pi_") and (intent.latest_charge or "").startswith("ch_")
    assert intent.client_secret and intent.client_secret.startswith(intent.id + "_secret_")
    assert (await gateway.retrieve_intent(intent.id)) == intent

    [delivery] = await sim_server.receiver.wait_for(intent.id, lambda ds: len(ds) >= 1)
    event = gateway.verify_webhook(delivery.body, delivery.signature)
    assert event["type"] == "payment_intent.succeeded"
    assert event["object"] == "event" and event["id"].startswith("evt_")
    assert event["livemode"] is False and event["api_version"]
    assert event["data"]["object"]["metadata"] == meta



async def test_decline_then_retry_with_another_card(
        gateway: StripeGateway, sim_server: SimulatorServer) -> None:
    intent = await gateway.create_intent(1800, "usd", order(), key())
    assert intent.status == "requires_payment_method"

    with pytest.raises(PaymentDeclined) as declined:
        await gateway.confirm_intent(intent.id, "pm_card_visa_chargeDeclined", None, key())
    failed = declined.value.intent
    assert failed.id == intent.id and failed.status == "requires_payment_method"
    assert failed.failure_code == "card_declined" and failed.decline_code == "generic_decline"
    assert declined.value.decline_code == "generic_decline"
    assert "declined" in declined.value.message

    paid = await gateway.confirm_intent(intent.id, "pm_card_visa", None, key())
    assert paid.status == "succeeded" and paid.failure_code is None
    assert paid.amount_received == 1800

    deliveries = await sim_server.receiver.wait_for(intent.id, lambda ds: len(ds) >= 2)
    assert [d.event["type"] for d in deliveries] == [
        "payment_intent.payment_failed", "payment_intent.succeeded"]
    failed_obj = deliveries[0].event["data"]["object"]
    assert failed_obj["last_payment_error"]["decline_code"] == "generic_decline"


async def test_decline_on_create_and_confirm_reports_intent(gateway: StripeGateway) -> None:
    with pytest.raises(PaymentDeclined) as declined:
        await gateway.create_intent(900, "usd", order(), key(),
                                    payment_method="pm_card_chargeDeclinedInsufficientFunds",
                                    confirm=True)
    assert declined.value.intent.decline_code == "insufficient_funds"
    assert declined.value.intent.status == "requires_payment_method"


async def test_three_d_secure_complete(gateway: StripeGateway, sim_server: SimulatorServer,
                                       http: httpx.AsyncClient) -> None:
    intent = await gateway.create_intent(4000, "eur", order(), key())
    return_url = "https://shop.example/checkout/done?basket=7"
    pending = await gateway.confirm_intent(intent.id, "pm_card_authenticationRequired",
                                           return_url, key())
    assert pending.status == "requires_action"
    # Addressed by the client secret, as Stripe's hosted page is: only the buyer has it.
    assert pending.next_action_url == f"{sim_server.base_url}/stripe-sim/3ds/{intent.client_secret}"

    page = await http.get(pending.next_action_url)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert f'action="{intent.client_secret}/complete"' in page.text
    assert f'action="{intent.client_secret}/fail"' in page.text

    # The browser resolves the form's relative action against the page URL.
    answer = await http.post(str(page.url.join(f"{intent.client_secret}/complete")))
    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    query = parse_qs(target.query)
    assert (target.netloc, target.path) == ("shop.example", "/checkout/done")
    assert query["basket"] == ["7"] and query["payment_intent"] == [intent.id]
    assert query["redirect_status"] == ["succeeded"]

    done = await gateway.retrieve_intent(intent.id)
    assert done.status == "succeeded" and done.next_action_url is None
    await sim_server.receiver.wait_for(
        intent.id, lambda ds: [d.event["type"] for d in ds] == ["payment_intent.succeeded"])

    again = await http.post(str(page.url.join(f"{intent.client_secret}/complete")))
    assert again.status_code == 400  # nothing left to authenticate


async def test_three_d_secure_needs_the_client_secret_not_the_intent_id(
        gateway: StripeGateway, sim_server: SimulatorServer, http: httpx.AsyncClient) -> None:
    """Intent ids show up in logs: knowing one must not show, complete or fail the buyer's challenge."""
    intent = await gateway.create_intent(4000, "eur", order(), key(),
                                         payment_method="pm_card_authenticationRequired", confirm=True)
    assert intent.client_secret and intent.next_action_url
    base = f"{sim_server.base_url}/stripe-sim/3ds"
    for guess in (intent.id, f"{intent.id}_secret_guess", intent.client_secret[:-1]):
        assert (await http.get(f"{base}/{guess}")).status_code == 404
        assert (await http.post(f"{base}/{guess}/complete")).status_code == 404
        assert (await http.post(f"{base}/{guess}/fail")).status_code == 404
    assert (await gateway.retrieve_intent(intent.id)).status == "requires_action"
    # No API key needed by the buyer's browser, only the link boxoffice gave them.
    assert (await http.get(intent.next_action_url)).status_code == 200


async def test_three_d_secure_fail_without_return_url(
        gateway: StripeGateway, sim_server: SimulatorServer, http: httpx.AsyncClient) -> None:
    intent = await gateway.create_intent(4000, "eur", order(), key(),
                                         payment_method="pm_card_authenticationRequired",
                                         confirm=True)
    assert intent.status == "requires_action" and intent.next_action_url
    answer = await http.post(f"{intent.next_action_url}/fail")
    assert answer.status_code == 200 and "failed" in answer.text

    failed = await gateway.retrieve_intent(intent.id)
    assert failed.status == "requires_payment_method"
    assert failed.failure_code == "payment_intent_authentication_failure"
    await sim_server.receiver.wait_for(
        intent.id, lambda ds: [d.event["type"] for d in ds] == ["payment_intent.payment_failed"])

    # The customer can try again with another card.
    paid = await gateway.confirm_intent(intent.id, "pm_card_visa", None, key())
    assert paid.status == "succeeded"


async def test_refunds_and_charge_refunded_webhooks(
        gateway: StripeGateway, sim_server: SimulatorServer) -> None:
    intent = await gateway.create_intent(3000, "eur", order(), key(),
                                         payment_method="pm_card_visa", confirm=True)
    partial = await gateway.refund(intent.id, key(), amount_cents=1000)
    assert partial.id.startswith("re_") and partial.status == "succeeded"
    assert (partial.amount, partial.payment_intent, partial.charge) == (
        1000, intent.id, intent.latest_charge)
    assert await gateway.retrieve_refund(partial.id) == partial

    with pytest.raises(PaymentRequestRejected) as too_much:
        await gateway.refund(intent.id, key(), amount_cents=2001)
    assert too_much.value.code == "amount_too_large" and too_much.value.http_status == 400

    rest = await gateway.refund(intent.id, key())
    assert rest.amount == 2000
    with pytest.raises(PaymentRequestRejected) as twice:
        await gateway.refund(intent.id, key())
    assert twice.value.code == "charge_already_refunded"

    deliveries = await sim_server.receiver.wait_for(
        intent.id, lambda ds: sum(d.event["type"] == "charge.refunded" for d in ds) >= 2)
    # Stripe does not promise webhooks in order (the simulator's delivery worker may retry one
    # while sending the next): each charge.refunded says how much of the charge was refunded by then.
    charges = sorted((d.event["data"]["object"] for d in deliveries if d.event["type"] == "charge.refunded"),
                     key=lambda c: c["amount_refunded"])
    assert [(c["amount_refunded"], c["refunded"]) for c in charges] == [(1000, False),
                                                                       (3000, True)]
    assert charges[0]["id"] == intent.latest_charge and charges[0]["payment_intent"] == intent.id


async def test_refund_of_unpaid_intent_is_rejected(gateway: StripeGateway) -> None:
    intent = await gateway.create_intent(3000, "eur", order(), key())
    with pytest.raises(PaymentRequestRejected) as rejected:
        await gateway.refund(intent.id, key())
    assert rejected.value.http_status == 400


async def test_cancel(gateway: StripeGateway, sim_server: SimulatorServer) -> None:
    intent = await gateway.create_intent(1200, "eur", order(), key())
    canceled = await gateway.cancel_intent(intent.id, key())
    assert canceled.status == "canceled"
    with pytest.raises(PaymentRequestRejected) as again:
        await gateway.cancel_intent(intent.id, key())
    assert again.value.code == "payment_intent_unexpected_state"
    with pytest.raises(PaymentRequestRejected):
        await gateway.confirm_intent(intent.id, "pm_card_visa", None, key())
    await sim_server.receiver.wait_for(
        intent.id, lambda ds: [d.event["type"] for d in ds] == ["payment_intent.canceled"])


async def test_update_metadata(gateway: StripeGateway) -> None:
    intent = await gateway.create_intent(1200, "eur", {"order_id": "o1", "seat": "A1"}, key())
    updated = await gateway.update_intent_metadata(intent.id, {"seat": "", "hold": "h9"}, key())
    assert updated.metadata == {"order_id": "o1", "hold": "h9"}


async def test_stripe_like_errors(gateway: StripeGateway, sim_server: SimulatorServer,
                                  http: httpx.AsyncClient) -> None:
    paid = await gateway.create_intent(500, "eur", order(), key(),
                                       payment_method="pm_card_visa", confirm=True)
    with pytest.raises(PaymentRequestRejected) as unexpected:
        await gateway.confirm_intent(paid.id, "pm_card_visa", None, key())
    assert unexpected.value.code == "payment_intent_unexpected_state"

    with pytest.raises(PaymentRequestRejected) as unknown_pm:
        await gateway.confirm_intent(paid.id.replace("pi_", "pi_x"), "pm_card_visa", None, key())
    assert (unknown_pm.value.http_status, unknown_pm.value.code) == (404, "resource_missing")

    fresh = await gateway.create_intent(500, "eur", order(), key())
    with pytest.raises(PaymentRequestRejected) as bad_pm:
        await gateway.confirm_intent(fresh.id, "pm_card_nonsense", None, key())
    assert (bad_pm.value.http_status, bad_pm.value.code) == (400, "resource_missing")
    assert (await gateway.retrieve_intent(fresh.id)).status == "requires_payment_method"

    with pytest.raises(PaymentRequestRejected) as missing:
        await gateway.create_intent(0, "eur", order(), key())
    assert missing.value.http_status == 400

    live = StripeGateway("sk_live_nope", f"{sim_server.base_url}/stripe-sim", "whsec_x")
    try:
        with pytest.raises(PaymentRequestRejected) as unauthorized:
            await live.retrieve_intent(paid.id)
        assert unauthorized.value.http_status == 401
    finally:
        await live.aclose()

    no_auth = await http.get(f"/stripe-sim/v1/payment_intents/{paid.id}")
    assert no_auth.status_code == 401 and no_auth.json()["error"]["type"] == "invalid_request_error"
    unknown_route = await http.get("/stripe-sim/v1/customers",
                                   headers={"Authorization": f"Bearer {API_KEY}"})
    assert unknown_route.status_code == 404


async def test_nested_form_params_reach_the_intent(http: httpx.AsyncClient,
                                                   sim_store: SimulatorStore) -> None:
    """The SDK's encoding (`metadata[order_id]=…`) decoded into nested metadata."""
    ref = "ord_" + uuid.uuid4().hex[:8]
    response = await http.post(
        "/stripe-sim/v1/payment_intents", headers={"Authorization": f"Bearer {API_KEY}"},
        content=f"amount=700&currency=EUR&metadata[order_id]={ref}&metadata[note]=a%20b"
                "&payment_method_types[0]=card",
        )
    body = response.json()
    assert response.status_code == 200, body
    assert body["metadata"] == {"order_id": ref, "note": "a b"} and body["currency"] == "eur"
    assert body["object"] == "payment_intent" and body["livemode"] is False
    assert await sim_store.count_intents(metadata={"order_id": ref}) == 1


async def test_unexpected_errors_answer_as_stripe_api_errors(
        sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """And the client's connection stays open: its next request on it is answered (uvicorn closed
    it after an error that reached the server, failing a request already reusing it)."""
    from boxoffice.payments.simulator.operations import PaymentOperations

    async def broken(self: object, conn: object, refund_id: str) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(PaymentOperations, "retrieve_refund", broken)
    port = int(sim_server.base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(2):
            writer.write(b"GET /stripe-sim/v1/refunds/re_123 HTTP/1.1\r\nHost: sim\r\n"
                         b"Authorization: Bearer " + API_KEY.encode() + b"\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 500 "), head
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")))
            body = json.loads(await asyncio.wait_for(reader.readexactly(length), 10))
            assert body["error"]["type"] == "api_error"
    finally:
        writer.close()


async def test_an_id_is_one_path_segment_whatever_it_holds(gateway: StripeGateway) -> None:
    """Ids also come from webhooks: one naming another endpoint reaches no other endpoint."""
    intent = await gateway.create_intent(1500, "eur", order(), key())
    for odd in (f"{intent.id}/cancel", f"{intent.id}?expand[]=latest_charge", "../refunds", "pi_ünïcode"):
        with pytest.raises(PaymentRequestRejected) as missing:
            await gateway.retrieve_intent(odd)
        assert missing.value.http_status == 404, odd
    assert (await gateway.retrieve_intent(intent.id)).status == "requires_payment_method"  # not cancelled
