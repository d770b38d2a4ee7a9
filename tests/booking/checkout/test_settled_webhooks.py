"""A Stripe event about an order that is final already is recorded without asking Stripe again."""

from __future__ import annotations

import json
import time
import uuid

import stripe
from sqlalchemy import text

from .test_payments import _clean, _confirm, _faults, _ordered


async def _event(api, kind: str, intent_id: str):  # type: ignore[no-untyped-def]
    event_id = f"evt_{uuid.uuid4().hex}"
    body = json.dumps({"id": event_id, "type": kind, "data": {"object": {"id": intent_id}}}).encode()
    t = int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{t}.{body.decode()}",
                                                           api.services.settings.stripe_webhook_secret)
    response = await api.client.post("/webhooks/stripe", content=body,
                                     headers={"Stripe-Signature": f"t={t},v1={signature}"})
    async with api.services.engine.connect() as conn:
        recorded = (await conn.execute(text("SELECT count(*) FROM webhook_events WHERE id = :i"),
                                       {"i": event_id})).scalar()
    return response.status_code, recorded


async def _intent_of(api, order_id: str) -> str:
    async with api.services.engine.connect() as conn:
        return str((await conn.execute(text("SELECT intent_id FROM payments WHERE order_id = :o"),
                                       {"o": uuid.UUID(order_id)})).scalar())


async def test_an_event_about_a_confirmed_order_needs_no_call_to_stripe(api) -> None:
    fan, _, show, _, order = await _ordered(api)
    assert (await _confirm(api, fan, order["id"]))["status"] == "CONFIRMED"
    intent_id = await _intent_of(api, order["id"])
    await _faults(api, fail_next=50)  # every call to Stripe would now fail (a 503, for Stripe to retry)
    try:
        for kind in ("payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"):
            assert await _event(api, kind, intent_id) == (200, 1), kind  # applied: recorded at once
    finally:
        await _faults(api)
    await _clean(api, show["id"])


async def test_an_event_about_an_unsettled_order_is_still_read_from_stripe(api) -> None:
    fan, _, show, _, order = await _ordered(api)
    pending = await _confirm(api, fan, order["id"], "pm_card_authenticationRequired")  # waits for 3-D Secure
    assert pending["payment"]["status"] == "REQUIRES_ACTION"
    intent_id = await _intent_of(api, order["id"])
    await _faults(api, fail_next=50)
    try:
        # Stripe cannot be asked: not acknowledged, so that Stripe delivers it again.
        assert await _event(api, "payment_intent.succeeded", intent_id) == (503, 0)
    finally:
        await _faults(api)
    assert await _event(api, "payment_intent.requires_action", intent_id) == (200, 1)
    await _clean(api, show["id"])
