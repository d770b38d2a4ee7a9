"""Orders and payments end to end: GraphQL + the real stripe SDK + the built-in simulator."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import time
import uuid

import pytest
import stripe
from sqlalchemy import text

from boxoffice.booking.audit import audit
from boxoffice.booking.inventory.hold_release import release_expired_holds
from boxoffice.booking.checkout.order_view import order_view
from boxoffice.booking.checkout.payments import confirm_payment
from boxoffice.booking.checkout.reconcile import reconcile
from boxoffice.booking.records import Viewer
from support import wait_until

from ..round_trips import counting

ORDER_FIELDS = """__typename ... on Order { id status totalCents currency createdAt
  items { seat { id } sectionId priceCents } payment { id provider status amountCents currency nextActionUrl failureReason }
  tickets { id sectionId barcode pdfUrl seat { id status } } }
  ... on Rejected { code message field }"""
CREATE_ORDER = f"mutation($i: CreateOrderInput!) {{ createOrder(input: $i) {{ {ORDER_FIELDS} }} }}"
CONFIRM = f"mutation($i: ConfirmPaymentInput!) {{ confirmPayment(input: $i) {{ {ORDER_FIELDS} }} }}"
PAY_FOR_PAYMENT = ("mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) { ... on Order { status "
                   "payment { id provider status amountCents currency nextActionUrl failureReason } } } }")
ORDER_Q = f"query($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS.split('... on Rejected')[0].replace('__typename', '')} }} }}"


@pytest.fixture(autouse=True)
async def no_faults(api):
    await api.client.post("/stripe-sim/_faults", json={}, headers=api.sim_auth)
    yield
    await api.client.post("/stripe-sim/_faults", json={}, headers=api.sim_auth)


async def _faults(api, **switches) -> None:
    response = await api.client.post("/stripe-sim/_faults", json=switches, headers=api.sim_auth)
    assert response.status_code == 200, response.text


async def _ordered(api, *, seats: int = 2, ga: int = 1):
    org, _ = await api.user("organizer")
    fan, fan_id = await api.user()
    show = await api.show(org)
    hold = await api.hold(fan, show["id"], show["seats"][:seats], [(show["gaSectionId"], ga)] if ga else None)
    assert hold["__typename"] == "Hold", hold
    order = (await api.gql(CREATE_ORDER, {"i": {"holdId": hold["id"], "idempotencyKey": uuid.uuid4().hex}},
                           fan))["createOrder"]
    assert order["__typename"] == "Order" and order["status"] == "PENDING_PAYMENT", order
    return fan, fan_id, show, hold, order


async def _confirm(api, token, order_id, pm="pm_card_visa", key=None):
    return (await api.gql(CONFIRM, {"i": {"orderId": order_id, "paymentMethod": pm,
                                          "idempotencyKey": key or uuid.uuid4().hex}}, token))["confirmPayment"]


async def _wait_for(api, token, order_id, status, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        order = (await api.gql(ORDER_Q, {"id": order_id}, token))["order"]
        if order["status"] == status or time.monotonic() > deadline:
            return order
        await asyncio.sleep(0.1)


async def _intents(api, order_id) -> int:
    async with api.services.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM stripe_sim.payment_intents WHERE metadata @> "
                                            "CAST(:m AS jsonb)"), {"m": json.dumps({"order_id": order_id})})).scalar())


async def _clean(api, show_id) -> None:
    report = await audit(api.services.engine, uuid.UUID(show_id))
    assert report.clean, report.failures


async def test_pay_with_visa(api) -> None:
    fan, _, show, hold, order = await _ordered(api)
    assert order["totalCents"] == 2 * 5000 + 2000 and len(order["items"]) == 3
    paid = await _confirm(api, fan, order["id"])
    assert paid["status"] == "CONFIRMED", paid
    assert paid["payment"]["status"] == "SUCCEEDED" and paid["payment"]["amountCents"] == order["totalCents"]
    assert len(paid["tickets"]) == 3 and len({t["barcode"] for t in paid["tickets"]}) == 3
    assert all(t["seat"]["status"] == "SOLD" for t in paid["tickets"] if t["seat"])
    q = "query($id: ID!) { hold(id: $id) { status } }"
    assert (await api.gql(q, {"id": hold["id"]}, fan))["hold"]["status"] == "CONVERTED"
    history = await api.gql("{ viewer { orders { edges { node { id status } } } } }", token=fan)
    assert [e["node"]["id"] for e in history["viewer"]["orders"]["edges"]] == [order["id"]]
    # A paid order can be paid again harmlessly (double submit after success).
    again = await _confirm(api, fan, order["id"])
    assert again["status"] == "CONFIRMED" and await _intents(api, order["id"]) == 1
    await _clean(api, show["id"])


async def test_paying_answers_the_payment_without_reading_it_again(api) -> None:
    """confirmPayment's answer carries the payment as the call made it (or, paid already, read it):
    the order read after says the same, and asking for it costs no round trip of its own."""
    await _faults(api, reorder_webhooks=True, reorder_window_ms=60_000)  # Stripe's webhook waits: no race
    fan, fan_id, show, _, order = await _ordered(api)
    engine, ctx, order_id = api.services.engine, api.services.payments, uuid.UUID(order["id"])
    viewer = Viewer(user_id=uuid.UUID(fan_id), role="fan")
    with counting() as trips:
        paid = await confirm_payment(engine, ctx, viewer, order_id, "pm_card_visa", uuid.uuid4().hex)
    assert trips.count == 2, trips.sent  # the order with its payment, then the settlement
    view = await order_view(engine, order_id)
    assert view is not None and paid.order.status == "confirmed" and paid.payment == view.payment
    assert paid.payment is not None and paid.payment.status == "succeeded"
    with counting() as trips:  # a double submit: paid already, as read
        again = await confirm_payment(engine, ctx, viewer, order_id, "pm_card_visa", uuid.uuid4().hex)
    assert trips.count == 1, trips.sent
    assert again.payment == view.payment and not again.changes.orders
    # Over GraphQL, an answer asking for the payment: the server reads no order view for it.
    fan, _, show, _, order = await _ordered(api)
    with counting(every_task=True) as trips:
        answered = (await api.gql(PAY_FOR_PAYMENT, {"i": {"orderId": order["id"], "paymentMethod": "pm_card_visa",
                                                          "idempotencyKey": uuid.uuid4().hex}}, fan))["confirmPayment"]
    assert not [q for q in trips.sent if "hold_seat_ids" in q], trips.sent  # order_view.py's statement
    read = await _wait_for(api, fan, order["id"], "CONFIRMED")
    assert answered == {"status": "CONFIRMED", "payment": read["payment"]}
    await _clean(api, show["id"])


async def test_create_order_rules(api) -> None:
    fan, _, show, hold, order = await _ordered(api)
    other, _ = await api.user()
    again = (await api.gql(CREATE_ORDER, {"i": {"holdId": hold["id"], "idempotencyKey": "another"}}, fan))["createOrder"]
    assert again["id"] == order["id"]  # one order per hold
    assert (await api.gql(CREATE_ORDER, {"i": {"holdId": hold["id"], "idempotencyKey": "x"}}, other)
            )["createOrder"]["code"] == "NOT_FOUND"
    assert (await api.gql(CREATE_ORDER, {"i": {"holdId": hold["id"], "idempotencyKey": "x"}})
            )["createOrder"]["code"] == "UNAUTHENTICATED"
    assert (await api.gql(CREATE_ORDER, {"i": {"holdId": "nope", "idempotencyKey": "x"}}, fan)
            )["createOrder"]["code"] == "INVALID_INPUT"
    released = await api.hold(fan, show["id"], [show["seats"][5]])
    await api.gql("mutation($id: ID!) { releaseHold(holdId: $id) { __typename } }", {"id": released["id"]}, fan)
    assert (await api.gql(CREATE_ORDER, {"i": {"holdId": released["id"], "idempotencyKey": "y"}}, fan)
            )["createOrder"]["code"] == "HOLD_NOT_ACTIVE"
    assert (await api.gql(ORDER_Q, {"id": order["id"]}, other))["order"] is None
    assert (await api.gql(ORDER_Q, {"id": order["id"]}))["order"] is None
    assert (await _confirm(api, other, order["id"]))["code"] == "NOT_FOUND"
    assert (await _confirm(api, fan, order["id"], pm="visa; drop table"))["code"] == "INVALID_INPUT"


async def test_decline_then_retry(api) -> None:
    fan, fan_id, show, _, order = await _ordered(api)
    declined = await _confirm(api, fan, order["id"], "pm_card_visa_chargeDeclined")
    assert declined["__typename"] == "Rejected" and declined["code"] == "PAYMENT_DECLINED"
    pending = (await api.gql(ORDER_Q, {"id": order["id"]}, fan))["order"]
    assert pending["status"] == "PENDING_PAYMENT" and pending["payment"]["status"] == "FAILED"
    assert pending["payment"]["failureReason"]
    paid = await _confirm(api, fan, order["id"], "pm_card_visa")
    assert paid["status"] == "CONFIRMED" and await _intents(api, order["id"]) == 1
    await _clean(api, show["id"])


async def test_three_d_secure_completed_by_the_buyer(api) -> None:
    fan, _, show, _, order = await _ordered(api)
    pending = await _confirm(api, fan, order["id"], "pm_card_authenticationRequired")
    assert pending["status"] == "PENDING_PAYMENT" and pending["payment"]["status"] == "REQUIRES_ACTION"
    url = pending["payment"]["nextActionUrl"]
    assert url and "/stripe-sim/3ds/" in url
    page = await api.client.get(url)
    assert page.status_code == 200 and "Complete" in page.text
    await api.client.post(url + "/complete", follow_redirects=False)
    confirmed = await _wait_for(api, fan, order["id"], "CONFIRMED")  # through the signed webhook
    assert confirmed["status"] == "CONFIRMED" and len(confirmed["tickets"]) == 3
    await _clean(api, show["id"])


async def test_double_submit_charges_once(api) -> None:
    fan, _, show, _, order = await _ordered(api)
    results = await asyncio.gather(*(_confirm(api, fan, order["id"], key="same-click") for _ in range(5)))
    assert all(r.get("status") == "CONFIRMED" for r in results), results
    assert await _intents(api, order["id"]) == 1
    async with api.services.engine.connect() as conn:
        tickets = (await conn.execute(text("SELECT count(*) FROM tickets WHERE order_id = :o"),
                                      {"o": uuid.UUID(order["id"])})).scalar()
    assert tickets == 3
    await _clean(api, show["id"])


async def test_stripe_5xx_and_lost_answers_are_retried_with_the_same_key(api) -> None:
    fan, _, show, _, order = await _ordered(api)
    await _faults(api, fail_next=2)
    assert (await _confirm(api, fan, order["id"]))["status"] == "CONFIRMED"
    fan2, _, show2, _, order2 = await _ordered(api)
    await _faults(api, fail_after_next=1)  # the charge happens, its answer is lost
    assert (await _confirm(api, fan2, order2["id"]))["status"] == "CONFIRMED"
    assert await _intents(api, order2["id"]) == 1
    await _clean(api, show["id"])
    await _clean(api, show2["id"])


async def test_timeouts_leave_the_order_processing_until_reconciled(api) -> None:
    fan, _, show, _, order = await _ordered(api)
    assert (await _confirm(api, fan, order["id"], "pm_card_visa_chargeDeclined"))["code"] == "PAYMENT_DECLINED"
    await _faults(api, timeout_next=20, hang_ms=3000)  # every attempt at the charge times out
    result = await _confirm(api, fan, order["id"])
    assert result["status"] == "PENDING_PAYMENT" and result["payment"]["status"] == "PROCESSING"
    await _faults(api)
    # The charge did happen on Stripe's side: the operator's `boxoffice reconcile` settles it.
    settings = api.services.settings
    env = {**os.environ, "DATABASE_URL": settings.database_url, "BOXOFFICE_SECRET": settings.secret,
           "STRIPE_WEBHOOK_SECRET": settings.stripe_webhook_secret, "BOXOFFICE_DATA_DIR": str(settings.data_dir)}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "boxoffice.cli", "reconcile", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0 and b"settled" in out, (out, err)
    settled = await _wait_for(api, fan, order["id"], "CONFIRMED")
    assert settled["status"] == "CONFIRMED" and len(settled["tickets"]) == 3
    assert await _intents(api, order["id"]) == 1
    await _clean(api, show["id"])


async def test_lost_intent_creation_is_recovered(api) -> None:
    fan, _, show, _, order = await _ordered(api)
    # The intent is created and charged in one call whose answer never arrives, and neither do its
    # webhooks (held back for longer than the test).
    await _faults(api, timeout_next=20, hang_ms=3000, reorder_webhooks=True, reorder_window_ms=3_600_000)
    result = await _confirm(api, fan, order["id"])
    assert result["payment"]["status"] == "PROCESSING"
    await _faults(api, reorder_webhooks=True, reorder_window_ms=3_600_000)
    await reconcile(api.services.engine, api.services.payments)  # repeats the creation: Stripe's answer
    settled = (await api.gql(ORDER_Q, {"id": order["id"]}, fan))["order"]
    assert settled["status"] == "CONFIRMED" and settled["payment"]["status"] == "SUCCEEDED"
    assert len(settled["tickets"]) == 3 and await _intents(api, order["id"]) == 1
    await _faults(api)  # the held webhooks go out now, and change nothing
    await _clean(api, show["id"])


async def test_a_lost_creation_is_recovered_from_another_public_address(api) -> None:
    """`boxoffice reconcile` (or a server restarted on another address) repeated the creation with
    its own 3-D Secure return address: Stripe refused the different request under the same key
    (idempotency_error), and the charged payment was never settled."""
    fan, _, show, _, order = await _ordered(api)
    await _faults(api, timeout_next=20, hang_ms=3000, reorder_webhooks=True, reorder_window_ms=3_600_000)
    assert (await _confirm(api, fan, order["id"]))["payment"]["status"] == "PROCESSING"
    await _faults(api, reorder_webhooks=True, reorder_window_ms=3_600_000)
    elsewhere = dataclasses.replace(api.services.payments, return_url="http://10.0.0.7:9000/#/payment-return")
    report, _ = await reconcile(api.services.engine, elsewhere)
    assert (report.settled, report.failed) == (1, 0), report
    settled = (await api.gql(ORDER_Q, {"id": order["id"]}, fan))["order"]
    assert settled["status"] == "CONFIRMED" and len(settled["tickets"]) == 3
    assert await _intents(api, order["id"]) == 1
    await _faults(api)
    await _clean(api, show["id"])


async def test_duplicated_and_reordered_webhooks(api) -> None:
    await _faults(api, duplicate_webhooks=True, reorder_webhooks=True, reorder_window_ms=300)
    fan, fan_id, show, _, order = await _ordered(api)
    assert (await _confirm(api, fan, order["id"], "pm_card_visa_chargeDeclined"))["code"] == "PAYMENT_DECLINED"
    assert (await _confirm(api, fan, order["id"], "pm_card_visa"))["status"] == "CONFIRMED"
    # Wait until the held-back, duplicated events have all been delivered (newest first) and recorded.
    intent_events = ("SELECT e.id FROM stripe_sim.events e JOIN stripe_sim.payment_intents i ON i.id = e.object_id "
                     "WHERE i.metadata @> CAST(:m AS jsonb)")
    order_meta = json.dumps({"order_id": order["id"]})

    async def all_delivered_and_recorded() -> bool:
        async with api.services.engine.connect() as conn:
            undelivered = (await conn.execute(text(
                f"SELECT count(*) FROM stripe_sim.webhook_deliveries WHERE event_id IN ({intent_events}) "
                "AND status <> 'delivered'"), {"m": order_meta})).scalar()
            unrecorded = (await conn.execute(text(
                f"SELECT count(*) FROM ({intent_events}) e WHERE e.id NOT IN (SELECT id FROM webhook_events)"),
                {"m": order_meta})).scalar()
        return undelivered == 0 and unrecorded == 0

    await wait_until(all_delivered_and_recorded, "the order's webhooks to be delivered and recorded", timeout=15)
    final = (await api.gql(ORDER_Q, {"id": order["id"]}, fan))["order"]
    assert final["status"] == "CONFIRMED" and final["payment"]["status"] == "SUCCEEDED"
    async with api.services.engine.connect() as conn:
        kinds = (await conn.execute(text("SELECT payload->>'kind' FROM outbox WHERE user_id = :u ORDER BY id"),
                                    {"u": uuid.UUID(fan_id)})).scalars().all()
        events = (await conn.execute(text(intent_events), {"m": order_meta})).scalars().all()
    assert kinds.count("ORDER_CONFIRMED") == 1 and len(events) >= 2  # the decline and the success
    await _clean(api, show["id"])


async def test_hold_expiring_before_payment(api) -> None:
    fan, _, show, hold, order = await _ordered(api)
    async with api.services.engine.begin() as conn:
        await conn.execute(text("UPDATE holds SET expires_at = now() - interval '1 s' WHERE id = :h"),
                           {"h": uuid.UUID(hold["id"])})
        await conn.execute(text("UPDATE orders SET expires_at = now() - interval '1 s' WHERE id = :o"),
                           {"o": uuid.UUID(order["id"])})
        await conn.execute(text("UPDATE show_seats SET hold_expires_at = now() - interval '1 s' WHERE hold_id = :h"),
                           {"h": uuid.UUID(hold["id"])})
    assert (await _confirm(api, fan, order["id"]))["code"] == "HOLD_NOT_ACTIVE"
    await release_expired_holds(api.services.engine)  # or the app's own sweeper, whichever is first
    cancelled = await _wait_for(api, fan, order["id"], "CANCELLED")
    assert cancelled["status"] == "CANCELLED"
    await _clean(api, show["id"])


async def test_a_payment_settled_after_its_show_was_cancelled_sells_nothing_and_is_refunded(api) -> None:
    """The cancellation commits the show's status under its exclusive lock, then ends pending orders: a
    payment settling in between waited for that lock and sold (CONFIRMED, after the cancellation)."""
    fan, _, show, _, order = await _ordered(api)
    pending = await _confirm(api, fan, order["id"], "pm_card_authenticationRequired")
    async with api.services.engine.begin() as conn:  # what cancelShow has committed by then
        await conn.execute(text("UPDATE shows SET status = 'cancelled', cancelled_at = now() WHERE id = :s"),
                           {"s": uuid.UUID(show["id"])})
    await api.client.post(pending["payment"]["nextActionUrl"] + "/complete")  # the fan finishes 3-D Secure
    refunded = await _wait_for(api, fan, order["id"], "REFUNDED")
    assert refunded["payment"]["status"] == "REFUNDED" and refunded["tickets"] == []
    async with api.services.engine.connect() as conn:
        told = (await conn.execute(text("SELECT count(*) FROM outbox WHERE payload->>'orderId' = :o "
                                        "AND payload->>'kind' = 'ORDER_CONFIRMED'"), {"o": order["id"]})).scalar()
    assert told == 0
    await _clean(api, show["id"])


async def test_late_success_is_refunded(api) -> None:
    fan, fan_id, show, hold, order = await _ordered(api)
    pending = await _confirm(api, fan, order["id"], "pm_card_authenticationRequired")
    url = pending["payment"]["nextActionUrl"]
    async with api.services.engine.begin() as conn:  # the buyer dawdles past the hold's expiry
        for table, key in (("holds", "id"), ("orders", "id")):
            await conn.execute(text(f"UPDATE {table} SET expires_at = now() - interval '1 s' WHERE {key} = :i"),
                               {"i": uuid.UUID(hold["id"] if table == "holds" else order["id"])})
        await conn.execute(text("UPDATE show_seats SET hold_expires_at = now() - interval '1 s' WHERE hold_id = :h"),
                           {"h": uuid.UUID(hold["id"])})
    await release_expired_holds(api.services.engine)
    other, _ = await api.user()
    assert (await api.hold(other, show["id"], show["seats"][:2]))["__typename"] == "Hold"  # seats resold
    await api.client.post(url + "/complete")  # ...and then completes 3-D Secure
    refunded = await _wait_for(api, fan, order["id"], "REFUNDED")
    assert refunded["status"] == "REFUNDED" and refunded["payment"]["status"] == "REFUNDED"
    assert refunded["tickets"] == []
    await _clean(api, show["id"])


async def test_webhook_signature_is_required(api) -> None:
    body = json.dumps({"id": "evt_forged", "type": "payment_intent.succeeded",
                       "data": {"object": {"id": "pi_x"}}}).encode()
    refused_before = api.services.metrics.webhooks_refused_here
    assert (await api.client.post("/webhooks/stripe", content=body)).status_code == 400
    # Counted for the operator (a wrong STRIPE_WEBHOOK_SECRET refuses every one, and left no trace).
    assert api.services.metrics.webhooks_refused_here == refused_before + 1
    assert "boxoffice_webhooks_refused_total" in (await api.client.get("/metrics")).text
    bad = {"Stripe-Signature": f"t={int(time.time())},v1=" + "0" * 64}
    assert (await api.client.post("/webhooks/stripe", content=body, headers=bad)).status_code == 400
    for odd in ("t=1,v1=\u00e9".encode(), b"t=1,v1=\xe9"):  # non-ASCII, as UTF-8 and as Latin-1 bytes
        refused = await api.client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": odd})
        assert (refused.status_code, refused.json()) == (400, {"error": "invalid signature"}), refused.text
    secret = api.services.settings.stripe_webhook_secret
    t = int(time.time())
    good = stripe.WebhookSignature._compute_signature(f"{t}.{body.decode()}", secret)
    ok = await api.client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": f"t={t},v1={good}"})
    assert ok.status_code in (200, 503)  # signed: accepted (the unknown intent is looked up at Stripe)
