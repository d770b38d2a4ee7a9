"""Buying, transferring and reselling tickets through the API, as fans do (shared by the after-sale tests)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import text

from boxoffice.booking.audit import audit

TICKET = "id barcode sectionId status seat { id status } transfer { id status toEmail } resaleListing { id status }"
ORDER_FIELDS = f"""__typename ... on Order {{ id status totalCents tickets {{ {TICKET} }} payment {{ status amountCents }} }}
  ... on Rejected {{ code message field }}"""
CREATE_ORDER = f"mutation($i: CreateOrderInput!) {{ createOrder(input: $i) {{ {ORDER_FIELDS} }} }}"
CONFIRM = f"mutation($i: ConfirmPaymentInput!) {{ confirmPayment(input: $i) {{ {ORDER_FIELDS} }} }}"
ORDER = f"query($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS.split('... on Rejected')[0]} }} }}"
REJECTED = "... on Rejected { code message field }"
TRANSFER = f"""__typename ... on TicketTransfer {{ id status toEmail createdAt ticket {{ id barcode status }} }} {REJECTED}"""
TRANSFER_TICKET = f"mutation($t: ID!, $e: String!) {{ transferTicket(ticketId: $t, toEmail: $e) {{ {TRANSFER} }} }}"
ACCEPT = f"""mutation($x: ID!) {{ acceptTransfer(transferId: $x) {{ __typename ... on Ticket {{ {TICKET} }} {REJECTED} }} }}"""
CANCEL = f"mutation($x: ID!) {{ cancelTransfer(transferId: $x) {{ {TRANSFER} }} }}"
LISTING = f"""__typename ... on ResaleListing {{ id status priceCents faceValueCents sectionId seat {{ id }} }} {REJECTED}"""
LIST = f"mutation($t: ID!, $p: Int!) {{ listForResale(ticketId: $t, priceCents: $p) {{ {LISTING} }} }}"
WITHDRAW = f"mutation($l: ID!) {{ withdrawResale(listingId: $l) {{ {LISTING} }} }}"
HOLD_LISTING = """mutation($l: ID!, $k: String!) { holdResaleListing(listingId: $l, idempotencyKey: $k) {
  __typename ... on Hold { id status totalCents seats { id status } generalAdmission { quantity } }
  ... on SeatsUnavailable { code message seatIds } ... on Rejected { code message field } } }"""
EMAIL = "{ viewer { email } }"


async def email_of(api: Any, token: str) -> str:
    return str((await api.gql(EMAIL, token=token))["viewer"]["email"])


async def buy(api: Any, token: str, show: dict, *, seats: list[str] | None = None, ga: int = 0) -> dict:
    """A confirmed order of the fan (paid with the simulator's visa)."""
    hold = await api.hold(token, show["id"], seats, [(show["gaSectionId"], ga)] if ga else None)
    assert hold["__typename"] == "Hold", hold
    return await pay_hold(api, token, hold["id"])


async def pay_hold(api: Any, token: str, hold_id: str) -> dict:
    order = (await api.gql(CREATE_ORDER, {"i": {"holdId": hold_id, "idempotencyKey": uuid.uuid4().hex}},
                           token))["createOrder"]
    assert order["__typename"] == "Order", order
    paid = (await api.gql(CONFIRM, {"i": {"orderId": order["id"], "paymentMethod": "pm_card_visa",
                                          "idempotencyKey": uuid.uuid4().hex}}, token))["confirmPayment"]
    assert paid["status"] == "CONFIRMED", paid
    return dict(paid)


async def order_of(api: Any, token: str, order_id: str) -> dict:
    return dict((await api.gql(ORDER, {"id": order_id}, token))["order"])


async def told(api: Any, token: str, kind: str) -> list[dict]:
    """The outbox messages of this kind for the token's user, written with the state change (turning
    them into in-app notifications and mail is the pipeline's, tests/notifications/ and test_notices.py)."""
    user_id = (await api.gql("{ viewer { id } }", token=token))["viewer"]["id"]
    async with api.services.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(
            "SELECT payload FROM outbox WHERE topic = 'notification' AND user_id = :u AND payload->>'kind' = :k "
            "ORDER BY id"), {"u": user_id, "k": kind})).scalars()]


async def revoked_reason(api: Any, barcode: str) -> str | None:
    async with api.services.engine.connect() as conn:
        return (await conn.execute(text("SELECT reason FROM revoked_tickets WHERE barcode = :b"),
                                   {"b": barcode})).scalar()


async def assert_clean(api: Any, show_id: str) -> None:
    report = await audit(api.services.engine, uuid.UUID(show_id))
    assert report.clean, report.failures


async def faults(api: Any, **switches: Any) -> None:
    """The simulator's test controls (none given: all off)."""
    assert (await api.client.post("/stripe-sim/_faults", json=switches, headers=api.sim_auth)).status_code == 200


async def buy_with_payout_pending(api: Any, buyer: str, listing_id: str) -> dict:
    """The buyer buys the listing; Stripe fails every call after the buyer's charge, so the seller's
    payout stays pending (for `boxoffice reconcile`). The buyer's confirmed order."""
    hold = (await api.gql(HOLD_LISTING, {"l": listing_id, "k": uuid.uuid4().hex}, buyer))["holdResaleListing"]
    bought = (await api.gql(CREATE_ORDER, {"i": {"holdId": hold["id"], "idempotencyKey": uuid.uuid4().hex}},
                            buyer))["createOrder"]
    try:
        await faults(api, latency_ms=400)  # the buyer's charge is made, then answered slowly
        paying = asyncio.ensure_future(api.gql(CONFIRM, {"i": {
            "orderId": bought["id"], "paymentMethod": "pm_card_visa", "idempotencyKey": uuid.uuid4().hex}}, buyer))
        async with api.services.engine.connect() as conn:
            while not (await conn.execute(text(
                    "SELECT count(*) FROM stripe_sim.payment_intents WHERE metadata->>'order_id' = :o "
                    "AND status = 'succeeded'"), {"o": bought["id"]})).scalar_one():
                await conn.rollback()
                await asyncio.sleep(0.01)
        await faults(api, fail_next=20)  # the calls after it fail: the seller's payout, retries and all
        paid = (await paying)["confirmPayment"]
        assert paid["status"] == "CONFIRMED", paid
    finally:
        await faults(api)
    return dict(paid)
