"""The door and the organizer's report through GraphQL and HTTP: every Problem of addDoorStaff and
checkInTicket, Ticket.status, who reads Show.salesReport, and the CSV export."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from sqlalchemy import text

from boxoffice.booking.checkout.tickets import barcode_for
from booking.door.buying import ADD_STAFF, CHECK_IN, ORDER_Q, buy, refund_in_database
from support import CREATE_EVENT, CREATE_SHOW, CREATE_VENUE, PUBLISH

REPORT_Q = """query($id: ID!) { show(id: $id) { id salesReport { currency capacity sold held available checkedIn
  grossCents refundedCents bySection { sectionId name capacity sold checkedIn grossCents }
  timeline(bucketSeconds: 60) { start orders tickets grossCents } } } }"""


@pytest.fixture(autouse=True)
async def no_faults(api):
    await api.client.post("/stripe-sim/_faults", json={}, headers=api.sim_auth)
    yield


async def _email_of(api, user_id: str) -> str:
    async with api.services.engine.connect() as conn:
        return str((await conn.execute(text("SELECT email FROM users WHERE id = :u"), {"u": user_id})).scalar_one())


async def _scan(api, token, show_id, barcode):
    return (await api.gql(CHECK_IN, {"s": show_id, "b": barcode}, token))["checkInTicket"]


async def test_add_door_staff_problems_and_idempotence(api) -> None:
    org, _ = await api.user("organizer")
    other_org, _ = await api.user("organizer")
    fan, _ = await api.user()
    staff, staff_id = await api.user()
    show = await api.show(org)
    email = await _email_of(api, staff_id)

    async def add(token, show_id=show["id"], address=email):
        return (await api.gql(ADD_STAFF, {"s": show_id, "e": address}, token))["addDoorStaff"]

    assert (await add(None))["code"] == "UNAUTHENTICATED"
    assert (await add(fan))["code"] == "FORBIDDEN"
    assert (await add(other_org))["code"] == "FORBIDDEN"
    assert (await add(org, show_id="nope"))["code"] == "INVALID_INPUT"
    assert (await add(org, show_id=str(uuid.uuid4())))["code"] == "NOT_FOUND"
    assert await add(org, address="not an email") == {"__typename": "Rejected", "code": "INVALID_INPUT",
                                                       "message": "That is not an e-mail address.", "field": "email"}
    unknown = await add(org, address="nobody-" + uuid.uuid4().hex[:8] + "@example.test")
    assert (unknown["code"], unknown["field"]) == ("NOT_FOUND", "email") and "sign up" in unknown["message"]
    assert (await add(org))["__typename"] == "Show"
    assert (await add(org, address=email.upper()))["__typename"] == "Show"  # twice, any case: still one
    async with api.services.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM door_staff WHERE show_id = :s"),
                                   {"s": show["id"]})).scalar() == 1


async def test_check_in_every_answer(api) -> None:
    org, _ = await api.user("organizer")
    other_org, _ = await api.user("organizer")
    staff, staff_id = await api.user()
    stranger, _ = await api.user()
    fan, _ = await api.user()
    show = await api.show(org)
    other_show = await api.show(other_org)
    assert (await api.gql(ADD_STAFF, {"s": show["id"], "e": await _email_of(api, staff_id)}, org))[
        "addDoorStaff"]["__typename"] == "Show"
    order = await buy(api, fan, show["id"], show["seats"][:2], [(show["gaSectionId"], 1)])
    seat_ticket, other_seat, ga_ticket = order["tickets"]
    assert [t["status"] for t in order["tickets"]] == ["VALID"] * 3 and seat_ticket["checkedInAt"] is None
    foreign_bought = await buy(api, fan, other_show["id"], other_show["seats"][:1])
    foreign, foreign_order_id = foreign_bought["tickets"][0], foreign_bought["id"]

    barcode = seat_ticket["barcode"]
    assert (await _scan(api, None, show["id"], barcode))["code"] == "UNAUTHENTICATED"
    assert (await _scan(api, staff, "x", barcode))["code"] == "INVALID_INPUT"
    assert (await _scan(api, staff, str(uuid.uuid4()), barcode))["code"] == "NOT_FOUND"
    for outsider in (stranger, fan, other_org):  # not staff of this show, not its organizer
        refused = await _scan(api, outsider, show["id"], barcode)
        assert (refused["code"], refused["field"]) == ("FORBIDDEN", "showId")
    # Forged, altered, truncated, garbage, huge: INVALID_INPUT, and nothing admitted.
    forged = barcode_for("another-secret", uuid.UUID(seat_ticket["id"]), uuid.UUID(show["id"]))
    altered = barcode[:-1] + ("A" if barcode[-1] != "A" else "B")
    for bad in (forged, altered, barcode[:-3], "", "BX1....", "x" * 10_000, "' OR 1=1 --"):
        refused = await _scan(api, staff, show["id"], bad)
        assert (refused["code"], refused["field"]) == ("INVALID_INPUT", "barcode"), bad
    # A genuine barcode of a ticket never issued (signed, but no such ticket).
    never = barcode_for(api.services.settings.secret, uuid.uuid4(), uuid.UUID(show["id"]))
    assert (await _scan(api, staff, show["id"], never))["code"] == "INVALID_INPUT"

    # Typed by hand: lower case and spaces are fine.
    admitted = await _scan(api, staff, show["id"], f"  {barcode.lower()} ")
    assert admitted["__typename"] == "CheckIn", admitted
    assert admitted["place"] == "S0, row A, seat 1"
    assert admitted["ticket"]["status"] == "CHECKED_IN" and admitted["ticket"]["checkedInAt"] == admitted["checkedInAt"]
    again = await _scan(api, org, show["id"], barcode)
    assert again["code"] == "ALREADY_CHECKED_IN" and "Already checked in at" in again["message"]
    assert (await _scan(api, staff, show["id"], ga_ticket["barcode"]))["place"] == "GA"
    # The fan sees it on the order.
    seen = (await api.gql(ORDER_Q, {"id": order["id"]}, fan))["order"]["tickets"]
    assert [t["status"] for t in seen] == ["CHECKED_IN", "VALID", "CHECKED_IN"] and seen[0]["checkedInAt"]

    wrong = await _scan(api, staff, show["id"], foreign["barcode"])
    assert (wrong["code"], wrong["field"]) == ("WRONG_SHOW", "barcode")

    # Void there: still another show's business, not this door's (it read why and when it was voided).
    assert await refund_in_database(api.services.engine, foreign_order_id) == 1
    wrong = await _scan(api, staff, show["id"], foreign["barcode"])
    assert (wrong["code"], wrong["field"]) == ("WRONG_SHOW", "barcode"), wrong

    assert await refund_in_database(api.services.engine, order["id"]) == 3  # checked in or not, all void
    void = await _scan(api, staff, show["id"], other_seat["barcode"])
    assert void["code"] == "TICKET_VOID" and "refunded" in void["message"]
    void_again = await _scan(api, org, show["id"], barcode)  # a checked-in ticket refunded later: void too
    assert void_again["code"] == "TICKET_VOID"


async def test_sales_report_is_for_the_organizer_and_admins_only(api) -> None:
    org, _ = await api.user("organizer")
    other_org, _ = await api.user("organizer")
    admin, _ = await api.user("admin")
    fan, _ = await api.user()
    show = await api.show(org)
    for token in (None, fan, other_org):
        assert (await api.gql(REPORT_Q, {"id": show["id"]}, token))["show"]["salesReport"] is None
    for token in (org, admin):
        report = (await api.gql(REPORT_Q, {"id": show["id"]}, token))["show"]["salesReport"]
        assert report["capacity"] == 20 and report["available"] == 20 and report["timeline"] == []
    body = await api.post("query($id: ID!) { show(id: $id) { salesReport { timeline(bucketSeconds: 1) { start } } } }",
                          {"id": show["id"]}, org)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_sales_csv_export(api) -> None:
    org, _ = await api.user("organizer")
    other_org, _ = await api.user("organizer")
    fan, _ = await api.user()
    venue = (await api.gql(CREATE_VENUE, {"input": {
        "name": "Formula Hall", "city": "Lisbon", "timeZone": "Europe/Lisbon",
        "sections": [{"name": "=HYPERLINK(\"http://evil\")", "rows": [{"label": "+1", "seatCount": 2}]},
                     {"name": "@Floor", "generalAdmissionCapacity": 5}]}}, org))["createVenue"]
    event = (await api.gql(CREATE_EVENT, {"input": {"name": "E", "performer": "P", "category": "c",
                                                    "venueId": venue["id"]}}, org))["createEvent"]
    from datetime import datetime, timedelta, timezone

    made = (await api.gql(CREATE_SHOW, {"input": {
        "eventId": event["id"], "currency": "EUR",
        "priceTiers": [{"name": "All", "priceCents": 1250, "sections": ["=HYPERLINK(\"http://evil\")", "@Floor"]}],
        "startsAt": (datetime.now(timezone.utc) + timedelta(days=5)).isoformat(),
        "onSaleAt": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()}}, org))["createShow"]
    await api.gql(PUBLISH, {"id": event["id"]}, org)
    seats = (await api.gql("query($id: ID!) { show(id: $id) { seats { id } availability { sections { sectionId "
                           "generalAdmission } } } }", {"id": made["id"]}, org))["show"]
    floor = next(s["sectionId"] for s in seats["availability"]["sections"] if s["generalAdmission"])
    order = await buy(api, fan, made["id"], [seats["seats"][0]["id"]], [(floor, 2)])

    url = f"/reports/shows/{made['id']}/sales.csv"
    assert (await api.client.get(url)).status_code == 401
    for token in (fan, other_org):
        assert (await api.client.get(url, headers={"Authorization": f"Bearer {token}"})).status_code == 403
    assert (await api.client.get(f"/reports/shows/{uuid.uuid4()}/sales.csv",
                                 headers={"Authorization": f"Bearer {org}"})).status_code == 404
    assert (await api.client.get("/reports/shows/nope/sales.csv",
                                 headers={"Authorization": f"Bearer {org}"})).status_code == 404
    response = await api.client.get(url, headers={"Authorization": f"Bearer {org}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["order", "time", "section", "row", "seat", "price", "currency", "order_status",
                       "ticket_status"]
    assert len(rows) == 4 and {r[0] for r in rows[1:]} == {order["id"]}
    seat_row = rows[1]
    assert seat_row[2] == "'=HYPERLINK(\"http://evil\")" and seat_row[3] == "'+1" and seat_row[4] == "1"
    assert seat_row[5:] == ["12.50", "EUR", "confirmed", "valid"]
    assert seat_row[1].endswith(("WET", "WEST"))  # the venue's time
    assert [r[2] for r in rows[2:]] == ["'@Floor", "'@Floor"] and rows[2][3:5] == ["", ""]
    await refund_in_database(api.services.engine, order["id"])
    after = list(csv.reader(io.StringIO((await api.client.get(url, headers={"Authorization": f"Bearer {org}"})).text)))
    assert [r[7:] for r in after[1:]] == [["refunded", "void"]] * 3


async def test_a_transferred_ticket_admits_by_its_new_barcode_only(api) -> None:
    """A transfer (issue 20) keeps the ticket's id under a new barcode signing a fresh code id, and
    revokes the old barcode: the door finds tickets by barcode, never by the id inside it."""
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(org)
    ticket = (await buy(api, fan, show["id"], show["seats"][:1]))["tickets"][0]
    new_code = barcode_for(api.services.settings.secret, uuid.uuid4(), uuid.UUID(show["id"]))
    async with api.services.engine.begin() as conn:  # what a transfer leaves behind, in one transaction
        await conn.execute(text(
            "WITH old AS (SELECT * FROM tickets WHERE id = :t) "
            "INSERT INTO revoked_tickets (ticket_id, order_id, show_id, barcode, reason, place_id, seat_id, section_id) "
            "SELECT id, order_id, show_id, barcode, 'transferred', place_id, seat_id, section_id FROM old"),
            {"t": ticket["id"]})
        await conn.execute(text("UPDATE tickets SET barcode = :b WHERE id = :t"), {"b": new_code, "t": ticket["id"]})
    old = await _scan(api, org, show["id"], ticket["barcode"])
    assert old["code"] == "TICKET_VOID" and "transferred" in old["message"]
    admitted = await _scan(api, org, show["id"], new_code)
    assert admitted["__typename"] == "CheckIn" and admitted["ticket"]["id"] == ticket["id"]
    assert admitted["ticket"]["barcode"] == new_code


async def test_a_cancelled_show_admits_nobody_before_its_refunds_reach_the_ticket(api) -> None:
    """The refund job voids a cancelled show's orders a batch at a time, skipping an order some other
    transaction holds; the door refuses its tickets from the moment the cancellation commits."""
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(org)
    order = await buy(api, fan, show["id"], show["seats"][:1])
    cancel = """mutation($s: ID!, $r: String!) { cancelShow(showId: $s, reason: $r) { __typename } }"""
    async with api.services.engine.connect() as busy:  # the job skips this order while it is locked
        await busy.execute(text("SELECT 1 FROM orders WHERE id = :o FOR UPDATE"), {"o": order["id"]})
        assert (await api.gql(cancel, {"s": show["id"], "r": "storm"}, org))["cancelShow"]["__typename"] == "Show"
        refused = await _scan(api, org, show["id"], order["tickets"][0]["barcode"])
        await busy.rollback()
    assert refused["code"] == "TICKET_VOID" and "this show was cancelled" in refused["message"], refused
    async with api.services.engine.connect() as conn:
        status = (await conn.execute(text("SELECT status FROM tickets WHERE order_id = :o"),
                                     {"o": order["id"]})).scalar()
    assert status in (None, "valid")  # not checked in (None: voided by the job since)
