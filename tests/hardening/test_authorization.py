"""Authorization, field by field: nobody but the owner reads or changes a fan's data.

One world is built once for the module against the real app (`api`): fan A owns an active
hold, a pending order, a confirmed and paid order with tickets (and their PDFs), an
ORDER_CONFIRMED notification and an admitted waiting-room ticket; fan B owns an order of
their own (so that "B sees only B's" is a real filter, not an empty list); organizer O-A owns
the shows, organizer O-B owns nothing of them.

Every query, mutation, subscription and HTTP route that reads or changes user-owned data is
then called as B, as an anonymous client, as the show's own organizer (who runs the show but
does not own the fan's data) and with forged tokens. Each call must get nothing (null, a typed
NOT_FOUND / UNAUTHENTICATED / FORBIDDEN / ADMISSION_REQUIRED rejection, an error on the
subscription, 401/404 on the PDF) and the database (inventory, holds, orders, payments,
simulator intents, tickets, notifications, catalog) must be exactly as it was.

A schema-introspection test pins the set of fields through which these types are reachable,
so a new path to them (a `Show.orders`, an `Event.organizer: User`, ...) fails here until it
is audited too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import pytest
import websockets
from sqlalchemy import text

from live_support import gql as live_gql
from support import CREATE_EVENT, CREATE_SHOW, CREATE_VENUE, HOLD, PUBLISH, RELEASE

pytestmark = pytest.mark.asyncio(loop_scope="session")

# ------------------------------------------------------------------------------------------ operations

ORDER_BODY = """id status totalCents currency createdAt
  show { id }
  items { seat { id status } sectionId priceCents }
  payment { id provider status amountCents currency nextActionUrl failureReason }
  tickets { id sectionId barcode pdfUrl seat { id status } }"""
ORDER_RESULT = f"""__typename ... on Order {{ {ORDER_BODY} }} ... on Rejected {{ code message field }}"""
CREATE_ORDER = f"mutation($i: CreateOrderInput!) {{ createOrder(input: $i) {{ {ORDER_RESULT} }} }}"
CONFIRM = f"mutation($i: ConfirmPaymentInput!) {{ confirmPayment(input: $i) {{ {ORDER_RESULT} }} }}"
ORDER_Q = f"query($id: ID!) {{ order(id: $id) {{ {ORDER_BODY} }} }}"
HOLD_Q = """query($id: ID!) { hold(id: $id) { id status expiresAt totalCents currency show { id }
  seats { id status } generalAdmission { sectionId quantity priceCents } } }"""
WR_FIELDS = "id showId status position estimatedWaitSeconds admissionToken admissionExpiresAt"
WR_TICKET_Q = f"query($id: ID!) {{ waitingRoomTicket(id: $id) {{ {WR_FIELDS} }} }}"
ENTER = f"""mutation($s: ID!) {{ enterWaitingRoom(showId: $s) {{ __typename
  ... on WaitingRoomTicket {{ {WR_FIELDS} }} ... on Rejected {{ code message }} }} }}"""
CONFIGURE = """mutation($s: ID!, $i: WaitingRoomInput!) { configureWaitingRoom(showId: $s, input: $i) {
  __typename ... on Show { id waitingRoom { enabled admitPerMinute admissionTtlSeconds } }
  ... on Rejected { code message field } } }"""
VIEWER_Q = """query($after: String) { viewer { id email name role
  orders(first: 100, after: $after) { edges { cursor node { id status tickets { id barcode pdfUrl } } } }
  notifications(first: 100) { id kind subject createdAt } } }"""
ORDER_SUB = f"subscription($id: ID!) {{ orderUpdates(orderId: $id) {{ {ORDER_BODY} }} }}"
WR_SUB = f"subscription($id: ID!) {{ waitingRoom(ticketId: $id) {{ {WR_FIELDS} }} }}"


def _key() -> str:
    return uuid.uuid4().hex


# ------------------------------------------------------------------------------------------ the world


@dataclass
class Person:
    token: str
    id: str
    email: str = ""
    name: str = ""


@dataclass
class World:
    fan_a: Person
    fan_b: Person
    org_a: Person
    org_b: Person
    show: dict[str, Any]  # O-A's published show where A bought and holds
    room_show: dict[str, Any]  # O-A's published show with the waiting room enabled
    draft: dict[str, Any]  # O-A's unpublished event and show
    active_hold: dict[str, Any]  # A's, ACTIVE
    active_hold_key: str
    converted_hold: dict[str, Any]  # A's, turned into the paid order
    pending_order: dict[str, Any]  # A's, PENDING_PAYMENT, never paid
    pending_order_key: str
    paid_order: dict[str, Any]  # A's, CONFIRMED with tickets
    paid_order_key: str
    b_order: dict[str, Any]  # B's own, CONFIRMED
    a_notifications: list[dict[str, Any]]
    b_notifications: list[dict[str, Any]]
    wr_ticket: dict[str, Any]  # A's, ADMITTED on room_show
    secret: str

    @property
    def a_ids(self) -> set[str]:
        """Identifiers of A's data that must never appear in an answer to anyone else."""
        ids = {self.active_hold["id"], self.converted_hold["id"], self.pending_order["id"], self.paid_order["id"],
               self.wr_ticket["id"], self.wr_ticket["admissionToken"], self.fan_a.email, self.fan_a.id}
        ids |= {n["id"] for n in self.a_notifications}
        for t in self.paid_order["tickets"]:
            ids |= {t["id"], t["barcode"], t["pdfUrl"]}
        for o in (self.paid_order, self.pending_order):
            if o.get("payment"):
                ids.add(o["payment"]["id"])
        return ids


async def _person(api, role: str) -> Person:
    token, uid = await api.user(role)
    me = (await api.gql("{ viewer { email name } }", token=token))["viewer"]
    return Person(token, uid, me["email"], me["name"])


async def _buy(api, fan: Person, show: dict[str, Any], seat_ids: list[str], ga: int = 0) -> tuple[dict, dict, str]:
    hold = await api.hold(fan.token, show["id"], seat_ids, [(show["gaSectionId"], ga)] if ga else None)
    assert hold["__typename"] == "Hold", hold
    key = _key()
    order = (await api.gql(CREATE_ORDER, {"i": {"holdId": hold["id"], "idempotencyKey": key}},
                           fan.token))["createOrder"]
    assert order["__typename"] == "Order" and order["status"] == "PENDING_PAYMENT", order
    return hold, order, key


async def _pay(api, fan: Person, order_id: str) -> dict[str, Any]:
    paid = (await api.gql(CONFIRM, {"i": {"orderId": order_id, "paymentMethod": "pm_card_visa",
                                          "idempotencyKey": _key()}}, fan.token))["confirmPayment"]
    assert paid["__typename"] == "Order" and paid["status"] == "CONFIRMED", paid
    return paid


async def _notifications(api, fan: Person, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The fan's notifications once ORDER_CONFIRMED has arrived through the outbox."""
    deadline = time.monotonic() + timeout
    while True:
        found = (await api.gql("{ viewer { notifications(first: 100) { id kind subject createdAt } } }",
                               token=fan.token))["viewer"]["notifications"]
        if any(n["kind"] == "ORDER_CONFIRMED" for n in found):
            return found
        assert time.monotonic() < deadline, f"no ORDER_CONFIRMED notification within {timeout} s: {found}"
        await asyncio.sleep(0.1)


async def _admitted(api, fan: Person, show_id: str, ticket_id: str) -> dict[str, Any]:
    """The fan admitted now, by the call the promoter makes each round (safe beside it: the admission
    bucket is atomic). Waiting for the background promoter instead timed out under load: it admits only
    while it holds the promoter lease, and a renewal timing out on a busy event loop (this server runs in
    the tests' loop) leaves it standing by until its own lease expires."""
    room = api.services.waiting_room
    promotion = await room.promote(show_id, 6000, 600)
    ticket = (await api.gql(WR_TICKET_Q, {"id": ticket_id}, fan.token))["waitingRoomTicket"]
    assert ticket["status"] == "ADMITTED", (promotion, ticket)
    return ticket


@pytest.fixture(scope="module")
async def world(api) -> World:
    await api.client.post("/stripe-sim/_faults", json={}, headers=api.sim_auth)  # no simulated Stripe faults left by other modules
    fan_a, fan_b, org_a, org_b = [await _person(api, r) for r in ("fan", "fan", "organizer", "organizer")]
    show = await api.show(org_a.token, rows=2, seats=6, ga=10)
    room_show = await api.show(org_a.token, rows=1, seats=6, ga=0)
    draft = await api.show(org_a.token, rows=1, seats=2, ga=0, publish=False)

    converted_hold, order, paid_key = await _buy(api, fan_a, show, show["seats"][0:2], ga=1)
    paid_order = await _pay(api, fan_a, order["id"])
    assert len(paid_order["tickets"]) == 3
    _, pending_order, pending_key = await _buy(api, fan_a, show, show["seats"][2:3])
    active_key = _key()
    active_hold = await api.hold(fan_a.token, show["id"], show["seats"][3:5], [(show["gaSectionId"], 2)],
                                 key=active_key)
    assert active_hold["__typename"] == "Hold" and active_hold["status"] == "ACTIVE", active_hold
    _, b_pending, _ = await _buy(api, fan_b, show, show["seats"][6:7])
    b_order = await _pay(api, fan_b, b_pending["id"])

    configured = (await api.gql(CONFIGURE, {"s": room_show["id"], "i": {
        "enabled": True, "admitPerMinute": 6000, "admissionTtlSeconds": 600}}, org_a.token))["configureWaitingRoom"]
    assert configured["__typename"] == "Show" and configured["waitingRoom"]["enabled"], configured
    entered = (await api.gql(ENTER, {"s": room_show["id"]}, fan_a.token))["enterWaitingRoom"]
    assert entered["__typename"] == "WaitingRoomTicket", entered
    wr_ticket = await _admitted(api, fan_a, room_show["id"], entered["id"])
    assert wr_ticket["admissionToken"]

    a_notes, b_notes = await _notifications(api, fan_a), await _notifications(api, fan_b)
    paid_order = (await api.gql(ORDER_Q, {"id": paid_order["id"]}, fan_a.token))["order"]
    pending_order = (await api.gql(ORDER_Q, {"id": pending_order["id"]}, fan_a.token))["order"]
    return World(fan_a=fan_a, fan_b=fan_b, org_a=org_a, org_b=org_b, show=show, room_show=room_show, draft=draft,
                 active_hold=active_hold, active_hold_key=active_key, converted_hold=converted_hold,
                 pending_order=pending_order, pending_order_key=pending_key, paid_order=paid_order,
                 paid_order_key=paid_key, b_order=b_order, a_notifications=a_notes, b_notifications=b_notes,
                 wr_ticket=wr_ticket, secret=api.services.settings.secret)


# ------------------------------------------------------------------------------------------ database state


async def _snapshot(api, w: World) -> dict[str, Any]:
    """Everything a hostile call could change, as plain comparable rows."""
    shows = [uuid.UUID(w.show["id"]), uuid.UUID(w.room_show["id"]), uuid.UUID(w.draft["id"])]
    users = [uuid.UUID(p.id) for p in (w.fan_a, w.fan_b, w.org_a, w.org_b)]
    queries = {
        "seats": ("SELECT show_id, id, status, version, hold_id, hold_expires_at, order_id FROM show_seats "
                  "WHERE show_id = ANY(:s) ORDER BY show_id, id"),
        "holds": ("SELECT id, user_id, show_id, status, expires_at, ended_at, seat_ids, unit_ids, ticket_count "
                  "FROM holds WHERE show_id = ANY(:s) OR user_id = ANY(:u) ORDER BY id"),
        "orders": ("SELECT id, user_id, hold_id, status, total_cents, expires_at, confirmed_at FROM orders "
                   "WHERE show_id = ANY(:s) OR user_id = ANY(:u) ORDER BY id"),
        "payments": ("SELECT p.order_id, p.status, p.intent_id, p.amount_cents, p.next_action_url, p.failure_reason, "
                     "p.refund_id, p.updated_at FROM payments p JOIN orders o ON o.id = p.order_id "
                     "WHERE o.show_id = ANY(:s) OR o.user_id = ANY(:u) ORDER BY p.order_id"),
        "tickets": "SELECT id, order_id, place_id, barcode FROM tickets WHERE show_id = ANY(:s) ORDER BY id",
        "notifications": "SELECT id, user_id, kind FROM notifications WHERE user_id = ANY(:u) ORDER BY id",
        "shows": ("SELECT id, event_id, waiting_room_enabled, admit_per_minute, admission_ttl_seconds, on_sale_at, "
                  "hold_ttl_seconds, max_tickets_per_user FROM shows WHERE id = ANY(:s) OR event_id IN "
                  "(SELECT event_id FROM shows WHERE id = ANY(:s)) ORDER BY id"),
        "events": ("SELECT id, status, organizer_id, venue_id, name FROM events WHERE organizer_id = ANY(:u) "
                   "ORDER BY id"),
        "venues": "SELECT id, created_by FROM venues WHERE created_by = ANY(:u) ORDER BY id",
        "users": "SELECT id, email, name, role, password_hash FROM users WHERE id = ANY(:u) ORDER BY id",
        "intents": ("SELECT metadata->>'order_id' AS order_id, count(*) AS n FROM stripe_sim.payment_intents "
                    "WHERE metadata->>'order_id' = ANY(:o) GROUP BY 1 ORDER BY 1"),
    }
    order_ids = [w.paid_order["id"], w.pending_order["id"], w.b_order["id"]]
    out: dict[str, Any] = {}
    async with api.services.engine.connect() as conn:
        for name, sql in queries.items():
            rows = (await conn.execute(text(sql), {"s": shows, "u": users, "o": order_ids})).all()
            out[name] = [tuple(r) for r in rows]
    return out


def _assert_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    for name in before:
        assert before[name] == after[name], f"{name} changed:\nbefore {before[name]}\nafter  {after[name]}"


async def _intents(api, order_id: str) -> int:
    async with api.services.engine.connect() as conn:
        return int((await conn.execute(text(
            "SELECT count(*) FROM stripe_sim.payment_intents WHERE metadata @> CAST(:m AS jsonb)"),
            {"m": json.dumps({"order_id": order_id})})).scalar_one())


def _no_leak(w: World, body: Any, who: str) -> None:
    """None of A's identifiers, barcodes, tokens or e-mail appear anywhere in `body`."""
    dumped = json.dumps(body)
    leaked = sorted(i for i in w.a_ids if i and i in dumped)
    assert not leaked, f"{who} saw A's data {leaked}: {dumped[:2000]}"


# ------------------------------------------------------------------------------------------ callers


def _forged_tokens(w: World) -> dict[str, str]:
    """Tokens claiming to be fan A (or an admin) that the server must not believe."""
    now = int(time.time())
    claims = {"sub": w.fan_a.id, "role": "fan", "typ": "access", "iat": now, "exp": now + 3600}
    admin = {**claims, "role": "admin"}
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(admin).encode()).rstrip(b"=").decode()
    return {
        "alg none": unsigned,
        "alg none (hand-made, admin)": f"{header}.{body}.",
        "wrong secret": jwt.encode(claims, "not-the-secret", algorithm="HS256"),
        "wrong secret admin": jwt.encode(admin, "not-the-secret", algorithm="HS256"),
        "HS512 with the secret": jwt.encode(claims, w.secret, algorithm="HS512"),
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, w.secret, algorithm="HS256"),
        "no exp": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, w.secret, algorithm="HS256"),
        "not an access token": jwt.encode({**claims, "typ": "admission"}, w.secret, algorithm="HS256"),
        "admission token": w.wr_ticket["admissionToken"],
        "barcode": w.paid_order["tickets"][0]["barcode"],
        "tampered signature": w.fan_a.token[:-4] + ("AAAA" if not w.fan_a.token.endswith("AAAA") else "BBBB"),
        "garbage": "not.a.token",
    }


def _outsiders(w: World) -> dict[str, str | None]:
    """Everyone who must get nothing of A's: B, an anonymous client, the show's organizer, another organizer."""
    return {"fan B": w.fan_b.token, "anonymous": None, "organizer of the show": w.org_a.token,
            "another organizer": w.org_b.token}


# ------------------------------------------------------------------------------------------ the schema's surface


def _unwrap(t: dict[str, Any]) -> str:
    while t.get("ofType"):
        t = t["ofType"]
    return t["name"]


async def test_user_owned_types_are_reachable_only_through_audited_fields(api) -> None:
    """Pins every field that returns user-owned data; a new one must be audited here first."""
    schema = (await api.gql("""{ __schema { types { name kind possibleTypes { name }
      fields { name type { name kind ofType { name kind ofType { name kind ofType { name kind ofType { name } } } } } }
    } } }"""))["__schema"]
    unions = {t["name"]: {p["name"] for p in t["possibleTypes"] or []} for t in schema["types"] if t["kind"] == "UNION"}
    reach: dict[str, set[str]] = {}
    for t in schema["types"]:
        if t["name"].startswith("__") or t["kind"] not in ("OBJECT", "INTERFACE"):
            continue
        for f in t["fields"] or []:
            target = _unwrap(f["type"])
            for member in unions.get(target, {target}):
                reach.setdefault(member, set()).add(f"{t['name']}.{f['name']}")
    expected = {
        "User": {"Query.viewer", "AuthPayload.user"},
        "AuthPayload": {"Mutation.signUp", "Mutation.logIn"},
        # holdResaleListing makes the caller's own hold; an offer is read through the fan's own entry.
        "Hold": {"Query.hold", "Mutation.holdSeats", "Mutation.releaseHold", "Mutation.holdResaleListing",
                 "WaitlistEntry.offer"},
        # refundOrder: the order's owner or its show's organizer, else NOT_FOUND (tests/resolvers/test_refunds.py).
        "Order": {"Query.order", "Mutation.createOrder", "Mutation.confirmPayment", "OrderEdge.node",
                  "Subscription.orderUpdates", "Mutation.refundOrder"},
        "OrderConnection": {"User.orders"},
        "OrderEdge": {"OrderConnection.edges"},
        "OrderItem": {"Order.items"},
        "Payment": {"Order.payment"},
        # checkInTicket: door staff of the ticket's show or its organizer (tests/resolvers/test_door.py);
        # acceptTransfer and a transfer's ticket: its sender or the account with the recipient's e-mail
        # (tests/booking/after_sale/test_transfers.py).
        "Ticket": {"Order.tickets", "CheckIn.ticket", "Mutation.acceptTransfer", "TicketTransfer.ticket"},
        "CheckIn": {"Mutation.checkInTicket"},
        "TicketTransfer": {"Mutation.transferTicket", "Mutation.cancelTransfer", "Ticket.transfer",
                           "User.incomingTransfers"},
        "WaitlistEntry": {"Mutation.joinWaitlist", "Mutation.leaveWaitlist", "User.waitlist"},
        # The organizer's figures: null for anyone else (tests/resolvers/test_door.py).
        "SalesReport": {"Show.salesReport"},
        "Notification": {"User.notifications"},
        "WaitingRoomTicket": {"Query.waitingRoomTicket", "Mutation.enterWaitingRoom", "Subscription.waitingRoom"},
    }
    actual = {name: reach.get(name, set()) for name in expected}
    assert actual == expected


# ------------------------------------------------------------------------------------------ queries


async def test_owner_sees_everything(api, world) -> None:
    """The positive control: the same queries as A return A's data (so a null elsewhere means something)."""
    w = world
    hold = (await api.gql(HOLD_Q, {"id": w.active_hold["id"]}, w.fan_a.token))["hold"]
    assert hold["id"] == w.active_hold["id"] and hold["status"] == "ACTIVE"
    assert (await api.gql(HOLD_Q, {"id": w.converted_hold["id"]}, w.fan_a.token))["hold"]["status"] == "CONVERTED"
    order = (await api.gql(ORDER_Q, {"id": w.paid_order["id"]}, w.fan_a.token))["order"]
    assert order["status"] == "CONFIRMED" and order["payment"]["status"] == "SUCCEEDED" and len(order["tickets"]) == 3
    assert all(t["barcode"] and t["pdfUrl"].endswith(f"/tickets/{t['id']}.pdf") for t in order["tickets"])
    assert (await api.gql(ORDER_Q, {"id": w.pending_order["id"]}, w.fan_a.token))["order"]["status"] == \
        "PENDING_PAYMENT"
    ticket = (await api.gql(WR_TICKET_Q, {"id": w.wr_ticket["id"]}, w.fan_a.token))["waitingRoomTicket"]
    assert ticket["id"] == w.wr_ticket["id"] and ticket["status"] == "ADMITTED" and ticket["admissionToken"]
    me = (await api.gql(VIEWER_Q, {}, w.fan_a.token))["viewer"]
    assert me["id"] == w.fan_a.id and me["email"] == w.fan_a.email
    assert {e["node"]["id"] for e in me["orders"]["edges"]} == {w.paid_order["id"], w.pending_order["id"]}
    assert "ORDER_CONFIRMED" in {n["kind"] for n in me["notifications"]}


@pytest.mark.parametrize("who", ["fan B", "anonymous", "organizer of the show", "another organizer"])
async def test_hold_order_and_waiting_ticket_queries_return_null_to_outsiders(api, world, who) -> None:
    w = world
    token = _outsiders(w)[who]
    before = await _snapshot(api, w)
    cases = [(HOLD_Q, "hold", w.active_hold["id"]), (HOLD_Q, "hold", w.converted_hold["id"]),
             (ORDER_Q, "order", w.paid_order["id"]), (ORDER_Q, "order", w.pending_order["id"]),
             (WR_TICKET_Q, "waitingRoomTicket", w.wr_ticket["id"])]
    for query, root, target in cases:
        body = await api.post(query, {"id": target}, token)
        assert body.get("errors") is None, body  # null, exactly like an id that names nothing
        assert body["data"] == {root: None}, (who, root, body)
        _no_leak(w, body, who)
        nothing = await api.post(query, {"id": str(uuid.uuid4())}, token)
        assert nothing == body  # indistinguishable from a missing id: no existence oracle
    # One document asking for everything at once, with aliases: still nothing.
    combined = await api.post(f"""query($h: ID!, $h2: ID!, $o: ID!, $o2: ID!, $t: ID!) {{
      a: hold(id: $h) {{ id status }} b: hold(id: $h2) {{ id }}
      c: order(id: $o) {{ {ORDER_BODY} }} d: order(id: $o2) {{ id payment {{ id status }} }}
      e: waitingRoomTicket(id: $t) {{ {WR_FIELDS} }} }}""",
        {"h": w.active_hold["id"], "h2": w.converted_hold["id"], "o": w.paid_order["id"],
         "o2": w.pending_order["id"], "t": w.wr_ticket["id"]}, token)
    assert combined == {"data": {"a": None, "b": None, "c": None, "d": None, "e": None}}, combined
    _assert_unchanged(before, await _snapshot(api, w))


async def test_viewer_lists_only_the_callers_own_orders_and_notifications(api, world) -> None:
    w = world
    assert (await api.post(VIEWER_Q, {}))["data"] == {"viewer": None}
    b = (await api.gql(VIEWER_Q, {}, w.fan_b.token))["viewer"]
    assert b["id"] == w.fan_b.id and b["email"] == w.fan_b.email
    assert [e["node"]["id"] for e in b["orders"]["edges"]] == [w.b_order["id"]]
    assert {n["id"] for n in b["notifications"]} == {n["id"] for n in w.b_notifications}
    assert b["notifications"] and "ORDER_CONFIRMED" in {n["kind"] for n in b["notifications"]}
    _no_leak(w, b, "fan B's viewer")
    # A's own paging cursor handed to B: B still pages through B's orders only.
    a = (await api.gql(VIEWER_Q, {}, w.fan_a.token))["viewer"]
    assert not {n["id"] for n in a["notifications"]} & {n["id"] for n in b["notifications"]}
    a_cursors = [e["cursor"] for e in a["orders"]["edges"]]
    for cursor in a_cursors:
        body = await api.post(VIEWER_Q, {"after": cursor}, w.fan_b.token)
        _no_leak(w, body, "fan B paging with A's cursor")
    # A cursor forged to sort after everything: still only B's rows.
    far = base64.urlsafe_b64encode(f"{datetime(2999, 1, 1, tzinfo=timezone.utc).isoformat()}|{uuid.uuid4()}"
                                   .encode()).decode()
    paged = (await api.gql(VIEWER_Q, {"after": far}, w.fan_b.token))["viewer"]
    assert [e["node"]["id"] for e in paged["orders"]["edges"]] == [w.b_order["id"]]
    # The organizer of the show A bought for sees none of A's orders or notifications either.
    org = (await api.gql(VIEWER_Q, {}, w.org_a.token))["viewer"]
    assert org["orders"]["edges"] == [] and org["notifications"] == []
    _no_leak(w, org, "organizer's viewer")


async def test_no_path_exposes_another_users_email_or_name(api, world) -> None:
    """User is reachable only as viewer and in AuthPayload (pinned above); probe those with A's identity."""
    w = world
    wrong = await api.post("""mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { __typename
      ... on AuthPayload { token user { id email name } } ... on Rejected { code message field } } }""",
                           {"e": w.fan_a.email, "p": "not-the-password"})
    assert wrong["data"]["logIn"]["__typename"] == "Rejected" and wrong["data"]["logIn"]["code"] in (
        "INVALID_CREDENTIALS", "RATE_LIMITED"), wrong
    _no_leak(w, wrong["data"]["logIn"]["message"], "failed log-in")
    taken = await api.post("""mutation($i: SignUpInput!) { signUp(input: $i) { __typename
      ... on AuthPayload { token user { id email name } } ... on Rejected { code message field } } }""",
                           {"i": {"email": w.fan_a.email, "password": "another-password", "name": "Mallory"}})
    result = taken["data"]["signUp"]
    assert result["__typename"] == "Rejected" and result["code"] in ("EMAIL_TAKEN", "RATE_LIMITED"), taken
    _no_leak(w, {k: v for k, v in result.items() if k != "field"}, "sign-up with A's e-mail")
    # Every public catalog path around A's purchase, as B and anonymously: no user appears.
    catalog = """query($s: ID!, $e: ID!, $v: ID!) {
      show(id: $s) { id seats { id status version } availability { codes sections { available } }
                     waitingRoom { enabled queueLength } event { id name venue { id name } } }
      event(id: $e) { id shows { id } } venue(id: $v) { id name sections { id } }
      events(first: 100) { edges { node { id name } } } }"""
    for token in (w.fan_b.token, None):
        body = await api.post(catalog, {"s": w.show["id"], "e": w.show["eventId"], "v": w.show["venueId"]}, token)
        assert not body.get("errors"), body
        _no_leak(w, body, "catalog")


async def test_drafts_are_invisible_to_everyone_but_their_organizer(api, world) -> None:
    w = world
    q = "query($s: ID!, $e: ID!) { show(id: $s) { id } event(id: $e) { id status } }"
    ids = {"s": w.draft["id"], "e": w.draft["eventId"]}
    for token in (w.fan_b.token, None, w.org_b.token):
        assert await api.post(q, ids, token) == {"data": {"show": None, "event": None}}
    mine = await api.gql(q, ids, w.org_a.token)
    assert mine["show"]["id"] == w.draft["id"] and mine["event"]["status"] == "DRAFT"


SEAT_SUB = """subscription($s: ID!, $v: Int) { seatChanges(showId: $s, sinceVersion: $v) {
  showId version seats { seatId status } sections { sectionId name capacity available } } }"""


async def test_seat_changes_of_a_draft_are_for_its_organizer_only(api, world) -> None:
    w, url = world, _ws_url(api)
    mine = await _outcome(url, SEAT_SUB, {"s": w.draft["id"], "v": 0}, w.org_a.token)
    assert mine and mine[0]["type"] == "next" and mine[0]["payload"]["data"]["seatChanges"]["showId"] == w.draft["id"]
    missing = await _outcome(url, SEAT_SUB, {"s": str(uuid.uuid4()), "v": 0}, None)
    assert missing[0]["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND", missing
    for who, token in (("anonymous", None), ("fan B", w.fan_b.token), ("another organizer", w.org_b.token)):
        messages = await _outcome(url, SEAT_SUB, {"s": w.draft["id"], "v": 0}, token)
        assert messages == missing, f"seatChanges of a draft as {who}: {messages}"


# ------------------------------------------------------------------------------------------ mutations


async def test_release_hold_of_another_user_is_rejected_and_changes_nothing(api, world) -> None:
    w = world
    before = await _snapshot(api, w)
    for hold_id in (w.active_hold["id"], w.converted_hold["id"]):
        for who, token in _outsiders(w).items():
            body = await api.post(RELEASE, {"id": hold_id}, token)
            result = body["data"]["releaseHold"]
            assert result["__typename"] == "Rejected", (who, body)
            assert result["code"] == ("UNAUTHENTICATED" if token is None else "NOT_FOUND"), (who, result)
            assert body == await api.post(RELEASE, {"id": str(uuid.uuid4())}, token)  # as if it did not exist
            _no_leak(w, body, who)
    _assert_unchanged(before, await _snapshot(api, w))
    hold = (await api.gql(HOLD_Q, {"id": w.active_hold["id"]}, w.fan_a.token))["hold"]
    assert hold["status"] == "ACTIVE" and all(s["status"] == "HELD" for s in hold["seats"]) and len(hold["seats"]) == 2


async def test_hold_seats_replaying_a_users_idempotency_key_returns_nothing_of_theirs(api, world) -> None:
    """Same key, same input as A's active hold: idempotency is per user, so nobody else gets A's hold back."""
    w = world
    request = {"showId": w.show["id"], "seatIds": w.show["seats"][3:5], "idempotencyKey": w.active_hold_key,
               "generalAdmission": [{"sectionId": w.show["gaSectionId"], "quantity": 2}]}
    before = await _snapshot(api, w)
    for who, token in _outsiders(w).items():
        body = await api.post(HOLD, {"input": request}, token)
        result = body["data"]["holdSeats"]
        assert result["__typename"] != "Hold", (who, body)
        if token is None:
            assert result["code"] == "UNAUTHENTICATED", result
        else:  # A holds those seats: they are unavailable, and only the requested (public) seat ids are named
            assert result["__typename"] == "SeatsUnavailable", (who, result)
            assert set(result["seatIds"]) <= set(request["seatIds"]), (who, result)
        _no_leak(w, body, who)
    _assert_unchanged(before, await _snapshot(api, w))


async def test_create_order_from_another_users_hold_is_rejected(api, world) -> None:
    w = world
    before = await _snapshot(api, w)
    for hold_id, key in ((w.active_hold["id"], _key()), (w.converted_hold["id"], _key()),
                         (w.converted_hold["id"], w.paid_order_key)):  # even with the key A used for it
        for who, token in _outsiders(w).items():
            body = await api.post(CREATE_ORDER, {"i": {"holdId": hold_id, "idempotencyKey": key}}, token)
            result = body["data"]["createOrder"]
            assert result["__typename"] == "Rejected", (who, body)
            assert result["code"] == ("UNAUTHENTICATED" if token is None else "NOT_FOUND"), (who, result)
            assert body == await api.post(CREATE_ORDER, {"i": {"holdId": str(uuid.uuid4()), "idempotencyKey": _key()}},
                                          token)  # as if it did not exist
            _no_leak(w, body, who)
    _assert_unchanged(before, await _snapshot(api, w))


async def test_confirm_payment_of_another_users_order_neither_charges_nor_reveals(api, world) -> None:
    w = world
    assert await _intents(api, w.pending_order["id"]) == 0
    assert await _intents(api, w.paid_order["id"]) == 1
    before = await _snapshot(api, w)
    for order_id, key in ((w.pending_order["id"], _key()), (w.paid_order["id"], _key()),
                          (w.pending_order["id"], w.pending_order_key)):
        for who, token in _outsiders(w).items():
            for pm in ("pm_card_visa", "pm_card_authenticationRequired", "pm_card_visa_chargeDeclined"):
                body = await api.post(CONFIRM, {"i": {"orderId": order_id, "paymentMethod": pm,
                                                      "idempotencyKey": key}}, token)
                result = body["data"]["confirmPayment"]
                assert result["__typename"] == "Rejected", (who, pm, body)  # never A's (paid) order back
                assert result["code"] == ("UNAUTHENTICATED" if token is None else "NOT_FOUND"), (who, pm, result)
                if pm == "pm_card_visa":  # as if it did not exist
                    assert body == await api.post(CONFIRM, {"i": {"orderId": str(uuid.uuid4()), "paymentMethod": pm,
                                                                  "idempotencyKey": _key()}}, token)
                _no_leak(w, body, who)
    assert await _intents(api, w.pending_order["id"]) == 0  # nobody was charged on A's behalf
    assert await _intents(api, w.paid_order["id"]) == 1
    _assert_unchanged(before, await _snapshot(api, w))


async def test_hold_seats_with_another_users_admission_token(api, world) -> None:
    w = world
    show_id, seat = w.room_show["id"], w.room_show["seats"][0]
    token = w.wr_ticket["admissionToken"]

    async def hold_as(auth: str | None, admission: str | None) -> dict[str, Any]:
        body = await api.post(HOLD, {"input": {"showId": show_id, "seatIds": [seat], "idempotencyKey": _key(),
                                               "admissionToken": admission}}, auth)
        return body["data"]["holdSeats"]

    before = await _snapshot(api, w)
    # B is in the room too (with B's own ticket, not A's) but not admitted with A's token.
    b_ticket = (await api.gql(ENTER, {"s": show_id}, w.fan_b.token))["enterWaitingRoom"]
    assert b_ticket["__typename"] == "WaitingRoomTicket" and b_ticket["id"] != w.wr_ticket["id"], b_ticket
    _no_leak(w, b_ticket, "B entering the room")
    for who, auth in (("fan B", w.fan_b.token), ("organizer of the show", w.org_a.token),
                      ("another organizer", w.org_b.token)):
        result = await hold_as(auth, token)
        assert result["__typename"] == "Rejected" and result["code"] == "ADMISSION_REQUIRED", (who, result)
    assert (await hold_as(None, token))["code"] == "UNAUTHENTICATED"
    # A's token re-signed for B without the secret, or unsigned, does not pass either.
    claims = jwt.decode(token, options={"verify_signature": False})
    for forged in (jwt.encode({**claims, "sub": w.fan_b.id}, "guess", algorithm="HS256"),
                   jwt.encode({**claims, "sub": w.fan_b.id}, None, algorithm="none"),  # type: ignore[arg-type]
                   jwt.encode({**claims, "sub": w.fan_b.id}, w.secret, algorithm="HS256")):  # not the derived key
        assert (await hold_as(w.fan_b.token, forged))["code"] == "ADMISSION_REQUIRED"
    _assert_unchanged(before, await _snapshot(api, w))
    # Positive control: the same request with A's own token and A's token succeeds.
    mine = await hold_as(w.fan_a.token, token)
    assert mine["__typename"] == "Hold", mine
    released = (await api.gql(RELEASE, {"id": mine["id"]}, w.fan_a.token))["releaseHold"]
    assert released["status"] == "RELEASED"


# ------------------------------------------------------------------------------------------ subscriptions


def _ws_url(api) -> str:
    return f"ws://127.0.0.1:{api.port}/graphql"


@asynccontextmanager
async def _ws(url: str, token: str | None, init: dict[str, Any] | None = None):
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                  max_size=2**24) as ws:
        payload = init if init is not None else ({"Authorization": f"Bearer {token}"} if token else {})
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert ack["type"] == "connection_ack", ack
        yield ws


async def _outcome(url: str, query: str, variables: dict[str, Any], token: str | None, *,
                   init: dict[str, Any] | None = None, wait: float = 2.0) -> list[dict[str, Any]]:
    """Every message of one subscription until it ends (error/complete) or `wait` s pass quietly."""
    messages: list[dict[str, Any]] = []
    async with _ws(url, token, init) as ws:
        op = uuid.uuid4().hex
        await ws.send(json.dumps({"type": "subscribe", "id": op, "payload": {"query": query, "variables": variables}}))
        try:
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), wait))
                if message.get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                    continue
                if message.get("id") != op:
                    continue
                message.pop("id")
                messages.append(message)
                if message["type"] in ("error", "complete"):
                    break
                if message["type"] == "next" and message["payload"].get("data"):
                    break  # data: enough to decide
        except (asyncio.TimeoutError, websockets.ConnectionClosed):
            pass
    return messages


def _refused(secrets: set[str], messages: list[dict[str, Any]], missing: list[dict[str, Any]], who: str) -> None:
    """A typed error and no data: no `next` with data, none of the owner's identifiers anywhere, and exactly
    what an id naming nothing gets (`missing`), so the refusal is no existence oracle either."""
    assert messages, f"{who}: the subscription neither answered nor ended"
    dumped = json.dumps(messages)
    leaked = sorted(i for i in secrets if i and i in dumped)
    assert not leaked, f"{who} saw the owner's data {leaked}: {dumped[:2000]}"
    assert not [m for m in messages if m["type"] == "next" and m["payload"].get("data")], f"{who} got data: {messages}"
    errors = [e for m in messages if m["type"] == "next" for e in m["payload"].get("errors") or []]
    errors += [e for m in messages if m["type"] == "error" for e in m.get("payload") or []]
    assert errors, f"{who}: ended without an error: {messages}"
    assert all((e.get("extensions") or {}).get("code") in ("NOT_FOUND", "UNAUTHENTICATED") for e in errors), \
        (who, errors)
    assert messages == missing, (who, messages, missing)


async def test_order_updates_subscription_is_for_the_owner_only(api, world) -> None:
    w, url = world, _ws_url(api)
    mine = await _outcome(url, ORDER_SUB, {"id": w.paid_order["id"]}, w.fan_a.token)
    assert mine and mine[0]["type"] == "next", mine
    assert mine[0]["payload"]["data"]["orderUpdates"]["id"] == w.paid_order["id"]
    missing = await _outcome(url, ORDER_SUB, {"id": str(uuid.uuid4())}, w.fan_b.token)
    callers = {**_outsiders(w), **{f"forged: {k}": v for k, v in _forged_tokens(w).items()}}
    for order_id in (w.paid_order["id"], w.pending_order["id"]):
        results = await asyncio.gather(*(_outcome(url, ORDER_SUB, {"id": order_id}, token)
                                         for token in callers.values()))
        for who, messages in zip(callers, results):
            _refused(w.a_ids, messages, missing, f"orderUpdates as {who}")


async def test_waiting_room_subscription_is_for_the_owner_only(api, world) -> None:
    w, url = world, _ws_url(api)
    mine = await _outcome(url, WR_SUB, {"id": w.wr_ticket["id"]}, w.fan_a.token)
    assert mine and mine[0]["type"] == "next", mine
    assert mine[0]["payload"]["data"]["waitingRoom"]["id"] == w.wr_ticket["id"]
    missing = await _outcome(url, WR_SUB, {"id": str(uuid.uuid4())}, w.fan_b.token)
    callers = {**_outsiders(w), **{f"forged: {k}": v for k, v in _forged_tokens(w).items()}}
    results = await asyncio.gather(*(_outcome(url, WR_SUB, {"id": w.wr_ticket["id"]}, token)
                                     for token in callers.values()))
    for who, messages in zip(callers, results):
        _refused(w.a_ids, messages, missing, f"waitingRoom as {who}")


async def test_websocket_authorization_cannot_be_smuggled(api, world) -> None:
    """Odd connection_init payloads never authenticate as A."""
    w, url = world, _ws_url(api)
    odd = {
        "lowercase key with B's token": {"authorization": f"Bearer {w.fan_b.token}"},
        "B's token, A's id beside it": {"Authorization": f"Bearer {w.fan_b.token}", "userId": w.fan_a.id},
        "nested": {"headers": {"Authorization": f"Bearer {_forged_tokens(w)['alg none']}"}},
        "A's id, no token": {"userId": w.fan_a.id, "sub": w.fan_a.id},
        "Basic auth": {"Authorization": "Basic " + base64.b64encode(b"a:b").decode()},
    }
    for query, target in ((ORDER_SUB, w.paid_order["id"]), (WR_SUB, w.wr_ticket["id"])):
        missing = await _outcome(url, query, {"id": str(uuid.uuid4())}, None)
        for who, init in odd.items():
            _refused(w.a_ids, await _outcome(url, query, {"id": target}, None, init=init), missing, f"WS {who}")


# ------------------------------------------------------------------------------------------ HTTP: ticket PDFs


async def test_ticket_pdf_only_for_its_owner(api, world) -> None:
    w = world
    tickets = w.paid_order["tickets"]
    for t in tickets:
        path = f"/tickets/{t['id']}.pdf"
        assert t["pdfUrl"].endswith(path)
        mine = await api.client.get(path, headers={"Authorization": f"Bearer {w.fan_a.token}"})
        assert mine.status_code == 200 and mine.headers["content-type"].startswith("application/pdf")
        assert mine.content.startswith(b"%PDF") and "no-store" in mine.headers.get("cache-control", "")
        anonymous = await api.client.get(path)
        assert anonymous.status_code == 401 and not anonymous.content.startswith(b"%PDF")
        missing = await api.client.get(f"/tickets/{uuid.uuid4()}.pdf",
                                       headers={"Authorization": f"Bearer {w.fan_b.token}"})
        assert missing.status_code == 404
        for who, token in (("fan B", w.fan_b.token), ("organizer of the show", w.org_a.token),
                           ("another organizer", w.org_b.token)):
            response = await api.client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 404, (who, response.status_code, response.content[:200])
            assert response.content == missing.content  # the same as a ticket that does not exist
            _no_leak(w, response.text, who)
        for who, token in _forged_tokens(w).items():
            response = await api.client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, (who, response.status_code, response.content[:200])
        for header in (w.fan_a.token, f"Basic {w.fan_a.token}", f"Token {w.fan_a.token}"):  # not Bearer
            response = await api.client.get(path, headers={"Authorization": header})
            assert response.status_code == 401, (header[:12], response.status_code)
        # No other way to present A's token: query string or cookie.
        assert (await api.client.get(f"{path}?token={w.fan_a.token}")).status_code == 401
        assert (await api.client.get(f"{path}?access_token={w.fan_a.token}")).status_code == 401
        assert (await api.client.get(path, cookies={"token": w.fan_a.token})).status_code == 401


async def test_forged_tokens_get_nothing_over_graphql(api, world) -> None:
    w = world
    before = await _snapshot(api, w)
    for who, token in _forged_tokens(w).items():
        body = await api.post(f"""query($h: ID!, $o: ID!, $t: ID!) {{ viewer {{ id email }}
          hold(id: $h) {{ id }} order(id: $o) {{ {ORDER_BODY} }} waitingRoomTicket(id: $t) {{ id }} }}""",
                              {"h": w.active_hold["id"], "o": w.paid_order["id"], "t": w.wr_ticket["id"]}, token)
        assert body == {"data": {"viewer": None, "hold": None, "order": None, "waitingRoomTicket": None}}, (who, body)
        release = (await api.post(RELEASE, {"id": w.active_hold["id"]}, token))["data"]["releaseHold"]
        assert release["code"] == "UNAUTHENTICATED", (who, release)
        pay = (await api.post(CONFIRM, {"i": {"orderId": w.pending_order["id"], "paymentMethod": "pm_card_visa",
                                              "idempotencyKey": _key()}}, token))["data"]["confirmPayment"]
        assert pay["code"] == "UNAUTHENTICATED", (who, pay)
        # A forged admin (or organizer) token gets no organizer power either.
        room = (await api.post(CONFIGURE, {"s": w.room_show["id"], "i": {"enabled": False, "admitPerMinute": 1}},
                               token))["data"]["configureWaitingRoom"]
        assert room["code"] == "UNAUTHENTICATED", (who, room)
    _assert_unchanged(before, await _snapshot(api, w))


# ------------------------------------------------------------------------------------------ organizers only


async def test_organizer_mutations_refuse_fans_anonymous_and_other_organizers(api, world) -> None:
    w = world
    venue_input = {"name": "Hijack Hall", "city": "Nowhere", "sections": [
        {"name": "S0", "rows": [{"label": "A", "seatCount": 2}]}]}
    starts = (datetime.now(timezone.utc) + timedelta(days=20)).isoformat()
    show_input = {"eventId": w.show["eventId"], "currency": "EUR", "startsAt": starts,
                  "priceTiers": [{"name": "All", "priceCents": 1, "sections": ["S0"]}]}
    draft_show_input = {**show_input, "eventId": w.draft["eventId"]}
    event_input = {"name": "Hijack", "performer": "Mallory", "category": "concert", "venueId": w.show["venueId"]}
    room_off = {"enabled": False, "admitPerMinute": 1}
    room_on = {"enabled": True, "admitPerMinute": 1, "admissionTtlSeconds": 60}

    async def result(query: str, variables: dict[str, Any], token: str | None) -> dict[str, Any]:
        body = await api.post(query, variables, token)
        assert not body.get("errors"), body
        (value,) = body["data"].values()
        return value

    calls = {
        "createVenue": (CREATE_VENUE, {"input": venue_input}),
        "createEvent": (CREATE_EVENT, {"input": event_input}),
        "createShow": (CREATE_SHOW, {"input": show_input}),
        "createShow on the draft": (CREATE_SHOW, {"input": draft_show_input}),
        "publishEvent": (PUBLISH, {"id": w.draft["eventId"]}),
        "configureWaitingRoom on": (CONFIGURE, {"s": w.show["id"], "i": room_on}),
        "configureWaitingRoom off": (CONFIGURE, {"s": w.room_show["id"], "i": room_off}),
    }
    # Organizer-owned targets only: createVenue has no owned target (createEvent's is O-A's venue).
    other_organizer_calls = {k: v for k, v in calls.items() if k != "createVenue"}
    before = await _snapshot(api, w)
    for name, (query, variables) in calls.items():
        for who, token, code in (("fan A", w.fan_a.token, "FORBIDDEN"), ("fan B", w.fan_b.token, "FORBIDDEN"),
                                 ("anonymous", None, "UNAUTHENTICATED")):
            got = await result(query, variables, token)
            assert got["__typename"] == "Rejected" and got["code"] == code, (name, who, got)
    for name, (query, variables) in other_organizer_calls.items():
        got = await result(query, variables, w.org_b.token)
        assert got["__typename"] == "Rejected" and got["code"] == "FORBIDDEN", (name, "another organizer", got)
    _assert_unchanged(before, await _snapshot(api, w))
    async with api.services.engine.connect() as conn:
        fan_ids = [uuid.UUID(w.fan_a.id), uuid.UUID(w.fan_b.id)]
        assert (await conn.execute(text("SELECT count(*) FROM venues WHERE created_by = ANY(:u)"),
                                   {"u": fan_ids})).scalar_one() == 0
        assert (await conn.execute(text("SELECT count(*) FROM events WHERE organizer_id = ANY(:u) OR name = 'Hijack'"),
                                   {"u": fan_ids})).scalar_one() == 0
    state = await api.gql("query($a: ID!, $b: ID!) { a: show(id: $a) { waitingRoom { enabled } } "
                          "b: show(id: $b) { waitingRoom { enabled admitPerMinute } } }",
                          {"a": w.show["id"], "b": w.room_show["id"]})
    assert state["a"]["waitingRoom"]["enabled"] is False
    assert state["b"]["waitingRoom"] == {"enabled": True, "admitPerMinute": 6000}
    draft = await api.gql("query($e: ID!) { event(id: $e) { status shows { id } } }", {"e": w.draft["eventId"]},
                          w.org_a.token)
    assert draft["event"]["status"] == "DRAFT" and [s["id"] for s in draft["event"]["shows"]] == [w.draft["id"]]


async def test_events_and_shows_go_only_to_the_callers_own_venues(api, world) -> None:
    """O-B may not put an event, nor a show, on at O-A's venue; an admin may."""
    w = world
    event_input = {"name": "Squat", "performer": "Mallory", "category": "concert", "venueId": w.show["venueId"]}
    refused = (await api.gql(CREATE_EVENT, {"input": event_input}, w.org_b.token))["createEvent"]
    assert refused == {"__typename": "Rejected", "code": "FORBIDDEN", "message": refused["message"],
                       "field": "venueId"}
    assert "another organizer" in refused["message"]
    # An event of O-B's at O-A's venue from before venues had a say (made here in SQL): no shows for it.
    legacy = uuid.uuid4()
    async with api.services.engine.begin() as conn:
        await conn.execute(text("INSERT INTO events (id, venue_id, organizer_id, name, performer, category) "
                                "VALUES (:id, :v, :o, 'Legacy', 'Mallory', 'concert')"),
                           {"id": legacy, "v": uuid.UUID(w.show["venueId"]), "o": uuid.UUID(w.org_b.id)})
    try:
        show_input = {"eventId": str(legacy), "currency": "EUR",
                      "startsAt": (datetime.now(timezone.utc) + timedelta(days=20)).isoformat(),
                      "priceTiers": [{"name": "All", "priceCents": 100, "sections": ["S0"]}]}
        refused = (await api.gql(CREATE_SHOW, {"input": show_input}, w.org_b.token))["createShow"]
        assert refused["__typename"] == "Rejected" and refused["code"] == "FORBIDDEN", refused
        async with api.services.engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM shows WHERE event_id = :e"),
                                       {"e": legacy})).scalar() == 0
    finally:
        async with api.services.engine.begin() as conn:
            await conn.execute(text("DELETE FROM events WHERE id = :e"), {"e": legacy})
    admin, _ = await api.user("admin")
    allowed = (await api.gql(CREATE_EVENT, {"input": {**event_input, "name": "House event"}}, admin))["createEvent"]
    assert allowed["__typename"] == "Event", allowed


HOLD_FAST = """mutation($input: HoldSeatsInput!) { holdSeats(input: $input) { __typename
  ... on Hold { id } ... on Rejected { code message field } } }"""


async def test_hold_seats_on_a_draft_show_looks_exactly_like_an_unknown_show(api, world) -> None:
    w = world
    before = await _snapshot(api, w)
    # The fast path's document, and the same one strawberry answers (it declines directives).
    documents = (HOLD_FAST, HOLD_FAST.replace("__typename", "__typename @skip(if: false)", 1))

    def hold(show_id: str) -> dict[str, Any]:
        return {"input": {"showId": show_id, "seatIds": w.draft["seats"][:1], "idempotencyKey": _key()}}

    for document in documents:
        for who, token in (("fan B", w.fan_b.token), ("another organizer", w.org_b.token), ("fan A", w.fan_a.token)):
            draft = await api.post(document, hold(w.draft["id"]), token)
            unknown = await api.post(document, hold(str(uuid.uuid4())), token)
            assert unknown["data"]["holdSeats"]["code"] == "NOT_FOUND", unknown
            assert draft == unknown, (who, draft, unknown)
        own = (await api.post(document, hold(w.draft["id"]), w.org_a.token))["data"]["holdSeats"]
        assert own["code"] == "NOT_ON_SALE", own  # its organizer knows it is there
    _assert_unchanged(before, await _snapshot(api, w))


# ------------------------------------------------------------------------------------------ across processes


async def test_waiting_room_ticket_across_two_processes_with_redis(cluster, engine, secret, world) -> None:
    """The production shape (Redis queue store and bus, two `boxoffice serve` processes): A's ticket,
    entered on one process, is A's alone on the other as well."""
    from live_support import fan_tokens

    a, b = cluster
    w = world
    fan_a, fan_b, organizer = await fan_tokens(engine, secret, 2) + await fan_tokens(engine, secret, 1, "organizer")
    show_id = w.room_show["id"]  # waiting room enabled in the shared database; these processes promote it too
    entered = (await live_gql(a.url, ENTER, {"s": show_id}, fan_a))["enterWaitingRoom"]
    assert entered["__typename"] == "WaitingRoomTicket", entered
    deadline = time.monotonic() + 15
    while True:
        ticket = (await live_gql(b.url, WR_TICKET_Q, {"id": entered["id"]}, fan_a))["waitingRoomTicket"]
        if ticket["status"] == "ADMITTED":
            break
        assert time.monotonic() < deadline, ticket
        await asyncio.sleep(0.1)
    owner = {entered["id"], ticket["admissionToken"]}
    for server in (a, b):
        for who, token in (("fan B", fan_b), ("anonymous", None), ("an organizer", organizer)):
            body = await live_gql(server.url, WR_TICKET_Q, {"id": entered["id"]}, token)
            assert body == {"waitingRoomTicket": None}, (who, body)
        missing = await _outcome(server.ws_url, WR_SUB, {"id": str(uuid.uuid4())}, fan_b)
        mine = await _outcome(server.ws_url, WR_SUB, {"id": entered["id"]}, fan_a)
        assert mine[0]["payload"]["data"]["waitingRoom"]["id"] == entered["id"], mine
        for who, token in (("fan B", fan_b), ("anonymous", None), ("an organizer", organizer)):
            messages = await _outcome(server.ws_url, WR_SUB, {"id": entered["id"]}, token)
            _refused(owner, messages, missing, f"waitingRoom on {server.url} as {who}")
        held = (await live_gql(server.url, HOLD, {"input": {
            "showId": show_id, "seatIds": [w.room_show["seats"][1]], "idempotencyKey": _key(),
            "admissionToken": ticket["admissionToken"]}}, fan_b))["holdSeats"]
        assert held["__typename"] == "Rejected" and held["code"] == "ADMISSION_REQUIRED", held

