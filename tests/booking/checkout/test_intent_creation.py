"""The first payment creates and confirms its intent in one call to Stripe; a lost answer, a retry
with another card, and reconciliation never make a second charge (booking/checkout/intent_creation.py)."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import text

from boxoffice.booking.checkout.reconcile import reconcile

from .test_payments import ORDER_Q, _clean, _confirm, _faults, _intents, _ordered, _wait_for, no_faults  # noqa: F401


async def _charges(api, order_id: str) -> list[tuple[str, str | None]]:
    """(status, card) of every intent Stripe holds for the order."""
    async with api.services.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT status, payment_method FROM stripe_sim.payment_intents WHERE metadata @> CAST(:m AS jsonb)"),
            {"m": json.dumps({"order_id": order_id})})).all()
    return [(r.status, r.payment_method) for r in rows]


async def _stripe_keys(api, order_id: str) -> list[str]:
    async with api.services.engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT idempotency_key FROM stripe_sim.idempotency_keys WHERE idempotency_key LIKE :k"),
            {"k": f"%{order_id}%"})).scalars())


async def test_the_first_payment_is_one_call_to_stripe(api) -> None:
    fan, _, show, _, order = await _ordered(api)
    assert (await _confirm(api, fan, order["id"]))["status"] == "CONFIRMED"
    assert await _stripe_keys(api, order["id"]) == [f"boxoffice-intent-{order['id']}"]
    assert await _charges(api, order["id"]) == [("succeeded", "pm_card_visa")]
    await _clean(api, show["id"])


async def test_a_lost_answer_then_another_card_charges_the_first_card_once(api) -> None:
    fan, _, show, _, order = await _ordered(api)
    await _faults(api, timeout_next=20, hang_ms=3000)  # the visa is charged; no answer arrives
    assert (await _confirm(api, fan, order["id"]))["payment"]["status"] == "PROCESSING"
    await _faults(api)
    paid = await _confirm(api, fan, order["id"], "pm_card_mastercard")
    assert paid["status"] == "CONFIRMED" and len(paid["tickets"]) == 3
    assert await _charges(api, order["id"]) == [("succeeded", "pm_card_visa")]  # the mastercard: never
    await _clean(api, show["id"])


async def test_a_first_card_that_never_reached_stripe_is_not_charged_by_a_retry_with_another(api) -> None:
    fan, _, show, _, order = await _ordered(api)
    await _faults(api, fail_next=20)  # every attempt fails before Stripe does anything
    assert (await _confirm(api, fan, order["id"]))["payment"]["status"] == "PROCESSING"
    await _faults(api)
    paid = await _confirm(api, fan, order["id"], "pm_card_mastercard")
    assert paid["status"] == "CONFIRMED"
    assert await _charges(api, order["id"]) == [("succeeded", "pm_card_mastercard")]
    await reconcile(api.services.engine, api.services.payments)  # finds nothing more to do
    assert await _charges(api, order["id"]) == [("succeeded", "pm_card_mastercard")]
    await _clean(api, show["id"])


async def test_reconciliation_charges_nobody_and_the_fan_pays_after_it(api) -> None:
    fan, _, show, _, order = await _ordered(api)
    await _faults(api, fail_next=20)
    assert (await _confirm(api, fan, order["id"]))["payment"]["status"] == "PROCESSING"
    await _faults(api)
    await reconcile(api.services.engine, api.services.payments)
    after = (await api.gql(ORDER_Q, {"id": order["id"]}, fan))["order"]
    assert after["status"] == "PENDING_PAYMENT" and after["payment"]["status"] == "REQUIRES_PAYMENT_METHOD"
    assert await _charges(api, order["id"]) == [("requires_payment_method", None)]
    # The same card again: its creation request would now clash with reconciliation's, so the
    # intent reconciliation made is confirmed instead.
    assert (await _confirm(api, fan, order["id"]))["status"] == "CONFIRMED"
    assert await _charges(api, order["id"]) == [("succeeded", "pm_card_visa")]
    await _clean(api, show["id"])


async def test_a_declined_first_card_then_another_card(api) -> None:
    fan, _, show, _, order = await _ordered(api)
    declined = await _confirm(api, fan, order["id"], "pm_card_visa_chargeDeclined")
    assert declined["code"] == "PAYMENT_DECLINED"
    pending = await _wait_for(api, fan, order["id"], "PENDING_PAYMENT")
    assert pending["payment"]["status"] == "FAILED"
    assert (await _confirm(api, fan, order["id"], "pm_card_mastercard"))["status"] == "CONFIRMED"
    assert await _charges(api, order["id"]) == [("succeeded", "pm_card_mastercard")]
    await _clean(api, show["id"])


async def test_another_users_attempt_stores_no_card_on_my_order(api) -> None:
    fan, _, show, _, order = await _ordered(api)
    stranger, _ = await api.user()
    assert (await _confirm(api, stranger, order["id"], "pm_card_mastercard"))["code"] == "NOT_FOUND"
    async with api.services.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT first_payment_method FROM payments WHERE order_id = :o"),
                                     {"o": uuid.UUID(order["id"])})).scalar()
    assert stored is None
    assert (await _confirm(api, fan, order["id"]))["status"] == "CONFIRMED"
    assert await _charges(api, order["id"]) == [("succeeded", "pm_card_visa")]
    assert await _intents(api, order["id"]) == 1
    await _clean(api, show["id"])


async def test_the_first_attempts_key_is_that_attempt_again(api) -> None:
    fan, _, show, _, order = await _ordered(api)
    first = await _confirm(api, fan, order["id"], "pm_card_visa_chargeDeclined", key="first-click")
    assert first["code"] == "PAYMENT_DECLINED"
    again = await _confirm(api, fan, order["id"], "pm_card_visa_chargeDeclined", key="first-click")
    assert again["code"] == "PAYMENT_DECLINED"  # the same answer, not a second attempt
    other = await _confirm(api, fan, order["id"], "pm_card_mastercard", key="first-click")
    assert other["code"] == "IDEMPOTENCY_CONFLICT" and other["field"] == "idempotencyKey"
    assert await _charges(api, order["id"]) == [("requires_payment_method", None)]
    assert (await _confirm(api, fan, order["id"], "pm_card_mastercard"))["status"] == "CONFIRMED"
    await _clean(api, show["id"])
