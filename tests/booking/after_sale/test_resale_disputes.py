"""A seller who charges their payment back after their ticket was resold: the payout is not owed,
and is again if the box office wins the dispute."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from boxoffice.booking.checkout.reconcile import reconcile
from support import wait_until

from .journeys import LIST, assert_clean, buy, buy_with_payout_pending, order_of


async def _payout(api, listing_id: str) -> tuple:
    async with api.services.engine.connect() as conn:
        return tuple((await conn.execute(text(
            "SELECT refund_status, refunded_cents FROM resale_listings WHERE id = :l"), {"l": listing_id})).one())


async def _seller_disputes(api, order_id: str) -> str:
    async with api.services.engine.connect() as conn:
        intent = (await conn.execute(text("SELECT intent_id FROM payments WHERE order_id = :o"),
                                     {"o": order_id})).scalar_one()
    opened = await api.client.post("/stripe-sim/_disputes", data={"payment_intent": intent}, headers=api.sim_auth)
    assert opened.status_code == 200, opened.text
    return str(opened.json()["id"])


async def _resold_then_disputed(api):
    """The seller's one ticket resold at 4,500 (face 5,000), the payout not made yet, then the seller's
    charge disputed: (organizer, seller, show, seller's order id, listing id, dispute id)."""
    org, _ = await api.user("organizer")
    seller, _ = await api.user()
    show = await api.show(org, max_tickets=2)
    order = await buy(api, seller, show, seats=show["seats"][:1])
    listed = (await api.gql(LIST, {"t": order["tickets"][0]["id"], "p": 4500}, seller))["listForResale"]
    await buy_with_payout_pending(api, (await api.user())[0], listed["id"])
    assert await _payout(api, listed["id"]) == ("pending", None)
    dispute = await _seller_disputes(api, order["id"])

    async def disputed() -> bool:
        return (await order_of(api, seller, order["id"]))["status"] == "DISPUTED"
    await wait_until(disputed, "the seller's order disputed")
    return org, seller, show, order["id"], listed["id"], dispute


async def test_no_payout_is_owed_to_a_seller_who_charged_the_payment_back(api) -> None:
    """The seller's bank returned the whole charge, the resold ticket's part included: the payout was
    asked of Stripe every reconciliation round for ever (refused), and the audit reported it."""
    _, _, show, _, listing, dispute = await _resold_then_disputed(api)
    await reconcile(api.services.engine, api.services.payments)
    assert await _payout(api, listing) == ("disputed", None)
    async with api.services.engine.connect() as conn:
        await conn.execute(text("UPDATE resale_listings SET ended_at = now() - interval '1 hour' WHERE id = :l"),
                           {"l": listing})
        await conn.commit()
    await assert_clean(api, show["id"])  # not a payout overdue
    closed = await api.client.post(f"/stripe-sim/_disputes/{dispute}/close", data={"status": "lost"},
                                   headers=api.sim_auth)
    assert closed.status_code == 200, closed.text
    await reconcile(api.services.engine, api.services.payments)
    assert await _payout(api, listing) == ("disputed", None)
    await assert_clean(api, show["id"])


async def test_the_payout_is_made_once_the_box_office_wins_the_sellers_dispute(api) -> None:
    _, _, show, order_id, listing, dispute = await _resold_then_disputed(api)
    await reconcile(api.services.engine, api.services.payments)
    assert await _payout(api, listing) == ("disputed", None)
    closed = await api.client.post(f"/stripe-sim/_disputes/{dispute}/close", data={"status": "won"},
                                   headers=api.sim_auth)
    assert closed.status_code == 200, closed.text

    async def paid_out() -> bool:
        await reconcile(api.services.engine, api.services.payments)
        return await _payout(api, listing) == ("refunded", 4500)
    await wait_until(paid_out, "the payout made")
    # The rest of the charge stays with the box office: the seller sold below face value, and had no
    # ticket left for the dispute to void.
    async with api.services.engine.connect() as conn:
        back = (await conn.execute(text(
            "SELECT i.amount_refunded FROM stripe_sim.payment_intents i JOIN payments p ON p.intent_id = i.id "
            "WHERE p.order_id = :o"), {"o": uuid.UUID(order_id)})).scalar_one()
        owed = (await conn.execute(text("SELECT count(*) FROM order_refunds WHERE order_id = :o"),
                                   {"o": uuid.UUID(order_id)})).scalar_one()
    assert (back, owed) == (4500, 0)
    await assert_clean(api, show["id"])
