"""Webhook delivery: Stripe's signature, retries, duplicates, reordering, crash safety."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
import stripe
from sqlalchemy import text

from boxoffice.payments.gateway import InvalidWebhook, StripeGateway
from boxoffice.payments.simulator import SimulatorStore, sign_payload
from boxoffice.payments.simulator.forms import decode_form
from boxoffice.payments.simulator.outbox import WebhookOutbox

from support import wait_until
from .sim_harness import WEBHOOK_SECRET, SimulatorServer


def key() -> str:
    return uuid.uuid4().hex


def order() -> dict[str, str]:
    return {"order_id": "ord_" + uuid.uuid4().hex[:12]}


async def paid_intent(gateway: StripeGateway) -> str:
    intent = await gateway.create_intent(2000, "eur", order(), key(),
                                         payment_method="pm_card_visa", confirm=True)
    return intent.id


async def test_signature_verifies_with_the_sdk_and_tampering_fails(
        gateway: StripeGateway, sim_server: SimulatorServer) -> None:
    intent_id = await paid_intent(gateway)
    [delivery] = await sim_server.receiver.wait_for(intent_id, lambda ds: len(ds) == 1)
    assert delivery.signature.startswith("t=") and ",v1=" in delivery.signature

    event = stripe.Webhook.construct_event(delivery.body, delivery.signature, WEBHOOK_SECRET)
    assert event.type == "payment_intent.succeeded"
    assert event.data.object.id == intent_id

    tampered = delivery.body.replace(b'"succeeded"', b'"canceled"')
    assert tampered != delivery.body
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, delivery.signature, WEBHOOK_SECRET)
    with pytest.raises(InvalidWebhook):
        gateway.verify_webhook(tampered, delivery.signature)
    with pytest.raises(InvalidWebhook):
        gateway.verify_webhook(delivery.body, delivery.signature.replace("v1=", "v1=0"))
    with pytest.raises(InvalidWebhook):
        gateway.verify_webhook(b"not json", sign_payload("not json", WEBHOOK_SECRET))
    stale = sign_payload(delivery.body.decode(), WEBHOOK_SECRET, int(time.time()) - 3600)
    with pytest.raises(InvalidWebhook):
        gateway.verify_webhook(delivery.body, stale)


def test_sign_payload_matches_stripes_scheme() -> None:
    header = sign_payload('{"id": "evt_1"}', "whsec_abc", timestamp=1700000000)
    expected = stripe.WebhookSignature._compute_signature('1700000000.{"id": "evt_1"}',
                                                          "whsec_abc")
    assert header == f"t=1700000000,v1={expected}"


async def test_delivery_is_retried_until_the_receiver_accepts(
        gateway: StripeGateway, sim_server: SimulatorServer) -> None:
    intent = await gateway.create_intent(2000, "eur", order(), key())
    sim_server.receiver.fail_next_for(intent.id, 2)
    await gateway.confirm_intent(intent.id, "pm_card_visa", None, key())
    attempts = await sim_server.receiver.wait_for(
        intent.id, lambda ds: any(d.answered == 200 for d in ds), accepted_only=False)
    assert [d.answered for d in attempts] == [500, 500, 200]
    assert len({d.event["id"] for d in attempts}) == 1  # the same event each time


async def test_a_batch_is_marked_delivered_and_a_refused_event_alone_is_retried(
        gateway: StripeGateway, sim_server: SimulatorServer, sim_store: SimulatorStore) -> None:
    """A batch's accepted events are stored as delivered together; one the receiver refused is not,
    and goes again."""
    intents = [await gateway.create_intent(2000, "eur", order(), key()) for _ in range(3)]
    sim_server.receiver.fail_next_for(intents[0].id, 1)
    await asyncio.gather(*(gateway.confirm_intent(i.id, "pm_card_visa", None, key()) for i in intents))
    for intent in intents:
        await sim_server.receiver.wait_for(intent.id, lambda ds: any(d.answered == 200 for d in ds),
                                           accepted_only=False)

    async def stored() -> dict[str, tuple[str, int, int, bool]] | None:
        async with sim_store.engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT e.object_id, d.status, d.last_status, d.attempts, d.delivered_at IS NOT NULL AS stamped "
                "FROM stripe_sim.webhook_deliveries d JOIN stripe_sim.events e ON e.id = d.event_id "
                "WHERE e.object_id = ANY(:ids)"), {"ids": [i.id for i in intents]})).all()
        if any(r.status != "delivered" for r in rows):  # marked once its batch is out
            return None
        return {r.object_id: (r.status, r.last_status, r.attempts, r.stamped) for r in rows}

    assert await wait_until(stored, "the deliveries marked") == {
        intents[0].id: ("delivered", 200, 2, True),  # refused once, delivered on its second attempt
        intents[1].id: ("delivered", 200, 1, True),
        intents[2].id: ("delivered", 200, 1, True)}


async def test_duplicate_switch_delivers_every_event_twice(
        gateway: StripeGateway, sim_server: SimulatorServer, sim_store: SimulatorStore) -> None:
    await sim_store.set_faults(duplicate_webhooks=True)
    intent_id = await paid_intent(gateway)
    deliveries = await sim_server.receiver.wait_for(intent_id, lambda ds: len(ds) >= 2)
    assert len({d.event["id"] for d in deliveries}) == 1
    await asyncio.sleep(0.3)
    assert len(sim_server.receiver.deliveries(intent_id)) == 2


async def test_reorder_switch_delivers_newest_first(
        gateway: StripeGateway, sim_server: SimulatorServer, sim_store: SimulatorStore) -> None:
    # Held until all three events exist: a short quiet window could end between two of them on a
    # busy machine and release the first event alone. Then a zero window lets the batch go.
    await sim_store.set_faults(reorder_webhooks=True, reorder_window_ms=3_600_000)
    intent_id = await paid_intent(gateway)
    await gateway.refund(intent_id, key(), amount_cents=500)
    await gateway.refund(intent_id, key(), amount_cents=700)
    assert sim_server.receiver.deliveries(intent_id) == []  # all held
    await sim_store.set_faults(reorder_webhooks=True, reorder_window_ms=0)
    deliveries = await sim_server.receiver.wait_for(intent_id, lambda ds: len(ds) >= 3)
    assert [(d.event["type"], d.event["data"]["object"].get("amount_refunded"))
            for d in deliveries] == [("charge.refunded", 1200), ("charge.refunded", 500),
                                     ("payment_intent.succeeded", None)]


async def test_reorder_switch_off_releases_held_events(
        gateway: StripeGateway, sim_server: SimulatorServer, sim_store: SimulatorStore) -> None:
    await sim_store.set_faults(reorder_webhooks=True, reorder_window_ms=60_000)
    intent_id = await paid_intent(gateway)
    await asyncio.sleep(0.3)
    assert sim_server.receiver.deliveries(intent_id) == []  # held back
    await sim_store.set_faults()
    await sim_server.receiver.wait_for(intent_id, lambda ds: len(ds) == 1)


async def test_each_event_is_delivered_once_by_two_workers(
        gateway: StripeGateway, sim_server: SimulatorServer) -> None:
    """Both services' workers poll the same outbox; SKIP LOCKED keeps them apart."""
    intent_ids = await asyncio.gather(*(paid_intent(gateway) for _ in range(20)))
    for intent_id in intent_ids:
        await sim_server.receiver.wait_for(intent_id, lambda ds: len(ds) >= 1)
    await asyncio.sleep(0.3)
    for intent_id in intent_ids:
        assert len(sim_server.receiver.deliveries(intent_id, accepted_only=False)) == 1


async def test_delivery_leased_by_a_dead_process_is_retried(
        sim_server: SimulatorServer, sim_store: SimulatorStore) -> None:
    """An event claimed by a worker that then died is delivered once the lease ends."""
    intent_id = "pi_orphan" + uuid.uuid4().hex[:10]
    outbox = WebhookOutbox(sim_store, webhook_url=f"{sim_server.base_url}/webhooks/stripe")
    async with sim_store.transaction() as db:
        event_id = await outbox.record_event(
            db, "payment_intent.succeeded",
            {"id": intent_id, "object": "payment_intent", "status": "succeeded"},
            group_key=intent_id)
        # What claim_due leaves behind for a worker that never reported back.
        await db.execute(
            "UPDATE stripe_sim.webhook_deliveries SET attempts = 1, "
            "next_attempt_at = now() + interval '500 milliseconds' WHERE event_id = $1", event_id)
    await asyncio.sleep(0.3)
    assert sim_server.receiver.deliveries(intent_id) == []  # still leased
    [delivery] = await sim_server.receiver.wait_for(intent_id, lambda ds: len(ds) == 1)
    assert json.loads(delivery.body)["id"] == event_id


async def test_a_worker_delivers_only_to_its_own_endpoint(
        gateway: StripeGateway, sim_server: SimulatorServer, sim_store: SimulatorStore) -> None:
    """Another deployment on the same database signs with another endpoint's secret: this
    server's workers leave its deliveries to it (signed with the wrong secret, they were refused)."""
    elsewhere = WebhookOutbox(sim_store, webhook_url="http://127.0.0.1:9/another-deployment")
    async with sim_store.transaction() as db:
        event_id = await elsewhere.record_event(
            db, "payment_intent.succeeded", {"id": "pi_elsewhere", "object": "payment_intent"},
            group_key="pi_elsewhere")
    # A later event of this server's, delivered: its workers have claimed past the other row.
    await sim_server.receiver.wait_for(await paid_intent(gateway), lambda ds: len(ds) == 1)
    async with sim_store.engine.connect() as conn:
        attempts = (await conn.execute(text(
            "SELECT attempts FROM stripe_sim.webhook_deliveries WHERE event_id = :e"), {"e": event_id})).scalar()
    assert attempts == 0
    try:
        assert [d.event_id for d in await elsewhere.claim_due(limit=50, lease_s=60)] == [event_id]
    finally:
        async with sim_store.engine.begin() as conn:
            await conn.execute(text("DELETE FROM stripe_sim.webhook_deliveries WHERE event_id = :e"),
                               {"e": event_id})


async def test_deliveries_stripe_would_have_given_up_on_are_pruned(sim_store: SimulatorStore) -> None:
    """Stripe retries an undelivered event for 3 days; an endpoint nobody serves any more (its worker
    gone) would otherwise keep its pending rows for ever."""
    gone = WebhookOutbox(sim_store, webhook_url="http://127.0.0.1:9/endpoint-no-longer-served")
    events = []
    async with sim_store.transaction() as db:
        for age in ("4 days", "1 day"):
            event_id = await gone.record_event(db, "payment_intent.succeeded",
                                               {"id": "pi_gone", "object": "payment_intent"}, group_key=None)
            await db.execute(f"UPDATE stripe_sim.webhook_deliveries SET created_at = now() - interval '{age}' "
                             "WHERE event_id = $1", event_id)
            events.append(event_id)
    await gone.prune()
    async with sim_store.engine.begin() as conn:
        left = (await conn.execute(text("SELECT event_id FROM stripe_sim.webhook_deliveries "
                                        "WHERE event_id = ANY(:e)"), {"e": events})).scalars().all()
        assert left == [events[1]]
        await conn.execute(text("DELETE FROM stripe_sim.webhook_deliveries WHERE event_id = ANY(:e)"), {"e": events})


def test_form_decoding() -> None:
    assert decode_form("amount=100&metadata[order_id]=o1&metadata[note]=a%20b"
                       "&payment_method_types[0]=card&payment_method_types[1]=link"
                       "&expand[]=latest_charge&confirm=true&metadata[empty]=") == {
        "amount": "100", "confirm": "true",
        "metadata": {"order_id": "o1", "note": "a b", "empty": ""},
        "payment_method_types": ["card", "link"], "expand": ["latest_charge"]}
    assert decode_form("") == {}
    assert decode_form("a[b][c]=1") == {"a": {"b": {"c": "1"}}}
