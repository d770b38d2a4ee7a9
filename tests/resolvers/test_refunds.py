"""setRefundPolicy, refundOrder and cancelShow through GraphQL, against PostgreSQL, Redis and the
Stripe simulator (the api fixture's server, whose refund round runs every second)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from boxoffice.booking.audit import audit
from support import wait_until

ORDER_FIELDS = """__typename ... on Order { id status totalCents payment { status } tickets { id status } }
  ... on Rejected { code message field }"""
CREATE_ORDER = f"mutation($i: CreateOrderInput!) {{ createOrder(input: $i) {{ {ORDER_FIELDS} }} }}"
CONFIRM = f"mutation($i: ConfirmPaymentInput!) {{ confirmPayment(input: $i) {{ {ORDER_FIELDS} }} }}"
REFUND = f"mutation($o: ID!, $k: String!) {{ refundOrder(orderId: $o, idempotencyKey: $k) {{ {ORDER_FIELDS} }} }}"
ORDER_Q = "query($id: ID!) { order(id: $id) { id status payment { status } tickets { id status } } }"
SHOW_FIELDS = """__typename ... on Show { id status refundPolicy { fanRefundsUntilHoursBefore } }
  ... on Rejected { code message field }"""
POLICY = (f"mutation($s: ID!, $i: RefundPolicyInput!) {{ setRefundPolicy(showId: $s, input: $i) "
          f"{{ {SHOW_FIELDS} }} }}")
CANCEL = f"mutation($s: ID!, $r: String!) {{ cancelShow(showId: $s, reason: $r) {{ {SHOW_FIELDS} }} }}"
SHOW_Q = "query($id: ID!) { show(id: $id) { status refundPolicy { fanRefundsUntilHoursBefore } } }"
HOLD_Q = "query($id: ID!) { hold(id: $id) { status } }"
ENTER = ("mutation($s: ID!) { enterWaitingRoom(showId: $s) { __typename ... on Rejected { code } } }")


@pytest.fixture(autouse=True)
async def no_faults(api):
    await api.client.post("/stripe-sim/_faults", json={}, headers=api.sim_auth)
    yield
    await api.client.post("/stripe-sim/_faults", json={}, headers=api.sim_auth)


async def _faults(api, **switches) -> None:
    response = await api.client.post("/stripe-sim/_faults", json=switches, headers=api.sim_auth)
    assert response.status_code == 200, response.text


async def _order(api, fan: str, show: dict, seats: list[str], ga: int = 0) -> dict:
    hold = await api.hold(fan, show["id"], seats, [(show["gaSectionId"], ga)] if ga else None)
    assert hold["__typename"] == "Hold", hold
    order = (await api.gql(CREATE_ORDER, {"i": {"holdId": hold["id"], "idempotencyKey": uuid.uuid4().hex}},
                           fan))["createOrder"]
    assert order["__typename"] == "Order", order
    return order


async def _paid(api, fan: str, show: dict, seats: list[str], ga: int = 0) -> dict:
    order = await _order(api, fan, show, seats, ga)
    paid = (await api.gql(CONFIRM, {"i": {"orderId": order["id"], "paymentMethod": "pm_card_visa",
                                          "idempotencyKey": uuid.uuid4().hex}}, fan))["confirmPayment"]
    assert paid["status"] == "CONFIRMED", paid
    return paid


async def _refund(api, token: str, order_id: str, key: str | None = None) -> dict:
    return (await api.gql(REFUND, {"o": order_id, "k": uuid.uuid4().hex if key is None else key},
                          token))["refundOrder"]


async def _stripe_refunds(api, order_id: str) -> int:
    async with api.services.engine.connect() as conn:
        return int((await conn.execute(text(
            "SELECT count(*) FROM stripe_sim.refunds r JOIN payments p ON p.intent_id = r.payment_intent "
            "WHERE p.order_id = :o"), {"o": order_id})).scalar())


async def _notified(api, user_id: str, kind: str, count: int) -> bool:
    """Told exactly `count` times: the outbox messages written with the state change (the pipeline
    turning them into in-app notifications and mail is tests/notifications/)."""
    async with api.services.engine.connect() as conn:
        return int((await conn.execute(text(
            "SELECT count(*) FROM outbox WHERE topic = 'notification' AND user_id = :u AND payload->>'kind' = :k"),
            {"u": user_id, "k": kind})).scalar()) == count


async def _seat_statuses(api, show_id: str, seat_ids: list[str]) -> set[str]:
    data = await api.gql("query($id: ID!) { show(id: $id) { seats { id status } } }", {"id": show_id})
    return {s["status"] for s in data["show"]["seats"] if s["id"] in seat_ids}


async def _clean(api, show_id: str) -> None:
    report = await audit(api.services.engine, uuid.UUID(show_id))
    assert report.clean, report.failures


async def test_refund_policy_is_the_organizers_and_bounded(api) -> None:
    org, _ = await api.user("organizer")
    other, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(org, ga=0)
    assert (await api.gql(SHOW_Q, {"id": show["id"]}))["show"] == {
        "status": "SCHEDULED", "refundPolicy": {"fanRefundsUntilHoursBefore": None}}
    for token, code in ((fan, "FORBIDDEN"), (other, "FORBIDDEN"), (None, "UNAUTHENTICATED")):
        refused = (await api.gql(POLICY, {"s": show["id"], "i": {"fanRefundsUntilHoursBefore": 24}}, token))
        assert refused["setRefundPolicy"]["code"] == code
    for bad in ({"fanRefundsUntilHoursBefore": -1}, {"fanRefundsUntilHoursBefore": 8761},
                {"resaleCapPercent": 0}, {"resaleCapPercent": 101}):
        refused = (await api.gql(POLICY, {"s": show["id"], "i": bad}, org))["setRefundPolicy"]
        assert refused["code"] == "INVALID_INPUT" and refused["field"] == next(iter(bad)), refused
    assert (await api.gql(POLICY, {"s": "nope", "i": {}}, org))["setRefundPolicy"]["code"] == "INVALID_INPUT"
    set_ = (await api.gql(POLICY, {"s": show["id"], "i": {"fanRefundsUntilHoursBefore": 48, "resaleCapPercent": 80}},
                          org))["setRefundPolicy"]
    assert set_["refundPolicy"] == {"fanRefundsUntilHoursBefore": 48}
    # Left out: unchanged; null hours: fans never refund.
    kept = (await api.gql(POLICY, {"s": show["id"], "i": {"resaleCapPercent": 90}}, org))["setRefundPolicy"]
    assert kept["refundPolicy"] == {"fanRefundsUntilHoursBefore": 48}
    never = (await api.gql(POLICY, {"s": show["id"], "i": {"fanRefundsUntilHoursBefore": None}}, org))
    assert never["setRefundPolicy"]["refundPolicy"] == {"fanRefundsUntilHoursBefore": None}
    async with api.services.engine.connect() as conn:
        assert (await conn.execute(text("SELECT resale_cap_percent FROM shows WHERE id = :s"),
                                   {"s": show["id"]})).scalar() == 90


async def test_fan_refunds_within_the_window_once(api) -> None:
    org, _ = await api.user("organizer")
    fan, fan_id = await api.user()
    stranger, _ = await api.user()
    show = await api.show(org)
    seats = show["seats"][:2]
    order = await _paid(api, fan, show, seats, ga=1)
    refused = await _refund(api, fan, order["id"])
    assert refused["code"] == "NOT_REFUNDABLE", refused  # no policy: fans never refund
    await api.gql(POLICY, {"s": show["id"], "i": {"fanRefundsUntilHoursBefore": 24}}, org)
    assert (await _refund(api, stranger, order["id"]))["code"] == "NOT_FOUND"
    assert (await _refund(api, fan, order["id"], key=""))["code"] == "INVALID_INPUT"
    assert (await _refund(api, fan, "not-an-id"))["code"] == "INVALID_INPUT"
    key = uuid.uuid4().hex
    refunded = await _refund(api, fan, order["id"], key)
    assert refunded["status"] == "REFUNDED" and [t["status"] for t in refunded["tickets"]] == ["VOID"] * 3, refunded
    assert refunded["payment"]["status"] == "REFUNDED", refunded  # Stripe answered at once
    assert await _seat_statuses(api, show["id"], seats) == {"AVAILABLE"}  # back on sale
    # Same key, then another key: the order as it is, and still one refund at Stripe.
    assert (await _refund(api, fan, order["id"], key))["status"] == "REFUNDED"
    assert (await _refund(api, fan, order["id"]))["status"] == "REFUNDED"
    assert await _stripe_refunds(api, order["id"]) == 1
    assert await wait_until(lambda: _notified(api, fan_id, "ORDER_REFUNDED", 1), "ORDER_REFUNDED")
    await _clean(api, show["id"])


async def test_window_closed_for_fans_never_for_the_organizer(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(org, ga=0)  # starts in 10 days
    order = await _paid(api, fan, show, show["seats"][:1])
    await api.gql(POLICY, {"s": show["id"], "i": {"fanRefundsUntilHoursBefore": 24 * 11}}, org)
    refused = await _refund(api, fan, order["id"])
    assert refused["code"] == "NOT_REFUNDABLE" and "264 hours" in refused["message"], refused
    refunded = await _refund(api, org, order["id"])
    assert refunded["status"] == "REFUNDED" and refunded["payment"]["status"] == "REFUNDED", refunded
    pending = await _order(api, fan, show, show["seats"][1:2])
    assert (await _refund(api, org, pending["id"]))["code"] == "NOT_REFUNDABLE"
    await _clean(api, show["id"])


async def test_a_refund_the_provider_fails_is_retried_never_doubled(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(org, ga=0)
    order = await _paid(api, fan, show, show["seats"][:1])
    lost = await _paid(api, fan, show, show["seats"][1:2])
    # Every call to Stripe fails until switched off: the refund stays owed. (A count would do only if
    # nothing else called Stripe meanwhile; the reconciler's rounds and webhooks' retries do.)
    await _faults(api, fail_next=1_000)
    refunded = await _refund(api, org, order["id"])
    await _faults(api)
    assert refunded["status"] == "REFUNDED" and refunded["payment"]["status"] == "SUCCEEDED", refunded
    assert await _stripe_refunds(api, order["id"]) == 0
    await _clean(api, show["id"])  # owed, on its way: not a failure yet
    await _faults(api, fail_after_next=2)  # Stripe refunds, but its answers are lost: the same key again

    async def refunded_at_stripe() -> bool:
        order_now = (await api.gql(ORDER_Q, {"id": order["id"]}, fan))["order"]
        return order_now["payment"]["status"] == "REFUNDED"

    assert await wait_until(refunded_at_stripe, "the refund at Stripe", timeout=60)
    assert (await _refund(api, org, lost["id"]))["status"] == "REFUNDED"
    assert await wait_until(lambda: _paid_back(api, lost["id"]), "the owed refund", timeout=60)
    assert await _stripe_refunds(api, order["id"]) == 1 and await _stripe_refunds(api, lost["id"]) == 1
    await _clean(api, show["id"])


async def _paid_back(api, order_id: str) -> bool:
    async with api.services.engine.connect() as conn:
        return (await conn.execute(text("SELECT status FROM payments WHERE order_id = :o"),
                                   {"o": order_id})).scalar() == "refunded"


async def test_cancel_show_stops_sales_and_refunds_everyone(api) -> None:
    org, _ = await api.user("organizer")
    fan, fan_id = await api.user()
    late, _ = await api.user()
    show = await api.show(org, seats=6)
    confirmed = [await _paid(api, fan, show, show["seats"][:2], ga=1), await _paid(api, fan, show, show["seats"][2:3])]
    pending = await _order(api, late, show, show["seats"][3:4])
    held = await api.hold(late, show["id"], show["seats"][4:5])
    assert (await api.gql(CANCEL, {"s": show["id"], "r": "storm"}, fan))["cancelShow"]["code"] == "FORBIDDEN"
    assert (await api.gql(CANCEL, {"s": show["id"], "r": "  "}, org))["cancelShow"]["code"] == "INVALID_INPUT"
    cancelled = (await api.gql(CANCEL, {"s": show["id"], "r": "Storm warning"}, org))["cancelShow"]
    assert cancelled["status"] == "CANCELLED", cancelled
    assert (await api.gql(SHOW_Q, {"id": show["id"]}))["show"]["status"] == "CANCELLED"
    # Sales stop at once: holds of every kind, orders, payments, the waiting room.
    assert (await api.hold(late, show["id"], show["seats"][5:6]))["code"] == "SHOW_CANCELLED"
    assert (await api.hold(late, show["id"], None, [(show["gaSectionId"], 1)]))["code"] == "SHOW_CANCELLED"
    assert (await api.gql(HOLD_Q, {"id": held["id"]}, late))["hold"]["status"] == "EXPIRED"
    again = (await api.gql(CREATE_ORDER, {"i": {"holdId": held["id"], "idempotencyKey": uuid.uuid4().hex}},
                           late))["createOrder"]
    assert again["code"] == "SHOW_CANCELLED", again
    pay = (await api.gql(CONFIRM, {"i": {"orderId": pending["id"], "paymentMethod": "pm_card_visa",
                                         "idempotencyKey": uuid.uuid4().hex}}, late))["confirmPayment"]
    assert pay["code"] == "SHOW_CANCELLED", pay
    assert (await api.gql(ENTER, {"s": show["id"]}, late))["enterWaitingRoom"]["code"] == "SHOW_CANCELLED"
    # The job refunds every confirmed order through Stripe and tells its owner.

    async def all_refunded() -> bool:
        orders = [(await api.gql(ORDER_Q, {"id": o["id"]}, fan))["order"] for o in confirmed]
        return all(o["status"] == "REFUNDED" and o["payment"]["status"] == "REFUNDED" and o["tickets"]
                   and all(t["status"] == "VOID" for t in o["tickets"]) for o in orders)

    assert await wait_until(all_refunded, "every order refunded", timeout=60)
    assert [await _stripe_refunds(api, o["id"]) for o in confirmed] == [1, 1]
    assert await wait_until(lambda: _notified(api, fan_id, "SHOW_CANCELLED", 2), "SHOW_CANCELLED")  # one per order
    # The seats are back (as the audit checks), but the map of a cancelled show offers none of them.
    assert await _seat_statuses(api, show["id"], show["seats"]) == {"BLOCKED"}
    # Idempotent: cancelling again answers the show as it is.
    assert (await api.gql(CANCEL, {"s": show["id"], "r": "again"}, org))["cancelShow"]["status"] == "CANCELLED"

    async def job_done() -> bool:
        async with api.services.engine.connect() as conn:
            return (await conn.execute(text("SELECT status FROM show_cancellations WHERE show_id = :s"),
                                       {"s": show["id"]})).scalar() == "done"

    assert await wait_until(job_done, "the cancellation job")
    await _clean(api, show["id"])
