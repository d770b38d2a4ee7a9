"""Buying tickets as a fan does (GraphQL, the real Stripe SDK and the simulator), and the refund
shortcut the door's tests use until refundOrder exists: what a refund leaves in the database."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from boxoffice.booking.checkout.tickets import revoke_order_tickets

ORDER = """__typename ... on Order { id status totalCents tickets { id barcode status checkedInAt seat { id } sectionId } }
  ... on Rejected { code message field }"""
CREATE_ORDER = f"mutation($i: CreateOrderInput!) {{ createOrder(input: $i) {{ {ORDER} }} }}"
CONFIRM = f"mutation($i: ConfirmPaymentInput!) {{ confirmPayment(input: $i) {{ {ORDER} }} }}"
ORDER_Q = f"query($id: ID!) {{ order(id: $id) {{ {ORDER.split('... on Rejected')[0]} }} }}"
ADD_STAFF = """mutation($s: ID!, $e: String!) { addDoorStaff(showId: $s, email: $e) {
  __typename ... on Show { id } ... on Rejected { code message field } } }"""
CHECK_IN = """mutation($s: ID!, $b: String!) { checkInTicket(showId: $s, barcode: $b) {
  __typename ... on CheckIn { place checkedInAt ticket { id status checkedInAt barcode } }
  ... on Rejected { code message field } } }"""


async def buy(api: Any, fan: str, show_id: str, seat_ids: list[str] | None = None,
              ga: list[tuple[str, int]] | None = None) -> dict[str, Any]:
    """A confirmed order of these places, paid with the simulator's test card."""
    hold = await api.hold(fan, show_id, seat_ids or [], ga)
    assert hold["__typename"] == "Hold", hold
    order = (await api.gql(CREATE_ORDER, {"i": {"holdId": hold["id"], "idempotencyKey": uuid.uuid4().hex}},
                           fan))["createOrder"]
    assert order["__typename"] == "Order", order
    paid = (await api.gql(CONFIRM, {"i": {"orderId": order["id"], "paymentMethod": "pm_card_visa",
                                          "idempotencyKey": uuid.uuid4().hex}}, fan))["confirmPayment"]
    assert paid["status"] == "CONFIRMED", paid
    return paid  # type: ignore[no-any-return]


async def refund_in_database(engine: Any, order_id: str) -> int:
    """What a refund leaves behind, in one transaction: order and payment refunded, tickets void,
    places back on sale with a new version."""
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE orders SET status = 'refunded' WHERE id = :o AND status = 'confirmed'"),
                           {"o": order_id})
        await conn.execute(text("UPDATE payments SET status = 'refunded', refund_id = 're_test' WHERE order_id = :o"),
                           {"o": order_id})
        voided = await revoke_order_tickets(conn, uuid.UUID(order_id), "refunded")
        await conn.execute(text(
            "UPDATE show_seats ss SET status = 'A', order_id = NULL, "
            "version = nextval(CAST(sh.version_sequence AS regclass)) "
            "FROM shows sh WHERE sh.id = ss.show_id AND ss.order_id = :o"), {"o": order_id})
    return voided


async def ticketed_order(engine: Any, secret: str, user_id: uuid.UUID, show_id: uuid.UUID,
                         place_ids: list[int]) -> list[tuple[uuid.UUID, str]]:
    """A confirmed, paid order of these places with its tickets signed with `secret` (that of the
    server processes that will scan them), written as checkout leaves it: (ticket id, barcode)."""
    from boxoffice.booking.checkout.tickets import issue_tickets, tickets_of_order

    hold_id, order_id = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        rows = (await conn.execute(text(
            "SELECT id, section_id, position, price_cents FROM show_seats WHERE show_id = :s AND id = ANY(:p) "
            "ORDER BY id"), {"s": show_id, "p": place_ids})).all()
        total = sum(r.price_cents for r in rows)
        await conn.execute(text(
            "INSERT INTO holds (id, user_id, show_id, status, expires_at, idempotency_key, request_hash, seat_ids, "
            "unit_ids, ga_lines, ticket_count, total_cents, currency, ended_at) VALUES (:h, :u, :s, 'converted', "
            "now() + interval '10 minutes', :k, 'x', :seats, :units, CAST('[]' AS jsonb), :n, :t, 'EUR', now())"),
            {"h": hold_id, "u": user_id, "s": show_id, "k": uuid.uuid4().hex, "n": len(rows), "t": total,
             "seats": [r.id for r in rows if r.position is not None],
             "units": [r.id for r in rows if r.position is None]})
        await conn.execute(text(
            "INSERT INTO orders (id, user_id, show_id, hold_id, status, ticket_count, total_cents, currency, "
            "idempotency_key, expires_at, confirmed_at) VALUES (:o, :u, :s, :h, 'confirmed', :n, :t, 'EUR', :k, "
            "now() + interval '10 minutes', now())"),
            {"o": order_id, "u": user_id, "s": show_id, "h": hold_id, "n": len(rows), "t": total,
             "k": uuid.uuid4().hex})
        await conn.execute(text(
            "INSERT INTO payments (order_id, intent_id, status, amount_cents, currency) "
            "VALUES (:o, :i, 'succeeded', :t, 'EUR')"), {"o": order_id, "i": f"pi_test_{order_id.hex}", "t": total})
        await conn.execute(text(
            "UPDATE show_seats SET status = 'S', order_id = :o, version = version + 1 "
            "WHERE show_id = :s AND id = ANY(:p)"), {"o": order_id, "s": show_id, "p": place_ids})
        await issue_tickets(conn, secret=secret, order_id=order_id, show_id=show_id,
                            places=[(r.id, r.id if r.position is not None else None, r.section_id) for r in rows])
    return [(t.id, t.barcode) for t in await tickets_of_order(engine, order_id)]
