"""The buyer's confirmation and Stripe's webhook settle the same intent at the same moment."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from boxoffice.booking.checkout.intent_creation import intent_metadata
from boxoffice.booking.checkout.payments import apply_intent
from support import wait_for_a_lock_wait

from .test_payments import _clean, _faults, _ordered, no_faults  # noqa: F401 - autouse: faults off before and after


@pytest.mark.parametrize(("card", "order_status", "payment_status"), [
    ("pm_card_visa", "confirmed", "succeeded"),  # settle_intent() binds it
    ("pm_card_authenticationRequired", "pending_payment", "requires_action"),  # _order_of_intent() binds it
])
async def test_a_settlement_waiting_behind_another_of_the_same_intent_still_settles(
        api, card: str, order_status: str, payment_status: str) -> None:
    _, _, show, _, order = await _ordered(api)
    order_id = uuid.UUID(order["id"])
    ctx, engine = api.services.payments, api.services.engine
    # The card charged in the intent's creation, whose id is not stored yet (as when the fan pays),
    # its webhooks held back: the two settlements below are the only ones.
    await _faults(api, reorder_webhooks=True, reorder_window_ms=3_600_000)
    async with engine.connect() as conn:
        total, currency = (await conn.execute(text("SELECT total_cents, currency FROM orders WHERE id = :o"),
                                              {"o": order_id})).one()
    intent = await ctx.gateway.create_intent(total, currency, intent_metadata(ctx.secret, order_id),
                                             uuid.uuid4().hex, payment_method=card, confirm=True,
                                             return_url="https://example.com/back")
    assert intent.status == payment_status
    async with engine.connect() as first:
        # One settlement has the order locked and has bound the intent, not yet committed...
        await first.execute(text("SELECT 1 FROM orders WHERE id = :o FOR UPDATE"), {"o": order_id})
        await first.execute(text("UPDATE payments SET intent_id = :i WHERE order_id = :o"),
                            {"i": intent.id, "o": order_id})
        # ...while the other looks the intent up (not stored, as far as it can see) and waits for the lock.
        second = asyncio.create_task(apply_intent(engine, ctx, intent))
        await wait_for_a_lock_wait(engine, "the second settlement waiting for the order's lock")
        await first.commit()
        changes = await second
    assert order_id in changes.orders  # it settled the order, rather than finding it "unbound"
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT o.status, p.status FROM orders o JOIN payments p ON p.order_id = o.id "
                                        "WHERE o.id = :o"), {"o": order_id})).one() == (order_status, payment_status)
    await _clean(api, show["id"])
