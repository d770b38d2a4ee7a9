"""Venue time through the API: Venue.timeZone, and what a fan reads on the ticket, its PDF and its QR code."""

from __future__ import annotations

import io
import re
import uuid
from datetime import datetime, timezone

import pytest
import zxingcpp
from PIL import Image, ImageDraw
from pypdf import PdfReader

from boxoffice.booking.catalog.venue_time import parse_time_zone, venue_when
from boxoffice.booking.errors import InvalidInput
from boxoffice.notifications.deliver import ShowInfo, compose
from support import CREATE_EVENT, CREATE_SHOW, CREATE_VENUE, PUBLISH

VENUE_Q = "query($id: ID!) { venue(id: $id) { id timeZone } }"
ORDER = """__typename ... on Order { id status tickets { id barcode pdfUrl qrSvg } } ... on Rejected { code message }"""
CREATE_ORDER = f"mutation($i: CreateOrderInput!) {{ createOrder(input: $i) {{ {ORDER} }} }}"
CONFIRM = f"mutation($i: ConfirmPaymentInput!) {{ confirmPayment(input: $i) {{ {ORDER} }} }}"


@pytest.fixture(autouse=True)
async def no_faults(api):
    await api.client.post("/stripe-sim/_faults", json={}, headers=api.sim_auth)
    yield


def _venue(**over):
    return {"name": f"Hall {uuid.uuid4().hex[:6]}", "city": "New York",
            "sections": [{"name": "Stalls", "rows": [{"label": "A", "seatCount": 4}]}], **over}


async def test_time_zone_round_trip_default_and_unknown_zones(api) -> None:
    org, _ = await api.user("organizer")
    made = (await api.gql(CREATE_VENUE.replace("city capacity", "city capacity timeZone"),
                          {"input": _venue(timeZone="America/New_York")}, org))["createVenue"]
    assert made["timeZone"] == "America/New_York"
    assert (await api.gql(VENUE_Q, {"id": made["id"]}))["venue"]["timeZone"] == "America/New_York"

    plain = (await api.gql(CREATE_VENUE, {"input": _venue()}, org))["createVenue"]
    assert (await api.gql(VENUE_Q, {"id": plain["id"]}))["venue"]["timeZone"] == "UTC"

    for bad in ("Mars/Olympus_Mons", "", "europe/lisbon", "../../../etc/passwd", "Factory", "localtime",
                "Europe/" + "X" * 200, "UTC+1"):
        rejected = (await api.gql(CREATE_VENUE, {"input": _venue(timeZone=bad)}, org))["createVenue"]
        assert rejected["__typename"] == "Rejected", bad
        assert (rejected["code"], rejected["field"]) == ("INVALID_INPUT", "timeZone"), bad
        assert "IANA" in rejected["message"]


def test_zone_names_and_how_times_read() -> None:
    assert parse_time_zone(None) == "UTC"
    assert parse_time_zone(" Asia/Kolkata ") == "Asia/Kolkata"
    with pytest.raises(InvalidInput):
        parse_time_zone("Nowhere/Town")
    start = datetime(2030, 7, 1, 0, 30, tzinfo=timezone.utc)
    assert venue_when(start, "America/New_York") == "Sunday 30 June 2030, 20:30 EDT"
    assert venue_when(start, "Europe/Lisbon") == "Monday 01 July 2030, 01:30 WEST"
    assert venue_when(start, "Asia/Kolkata") == "Monday 01 July 2030, 06:00 IST"
    assert venue_when(start, "UTC") == "Monday 01 July 2030, 00:30 UTC"
    # A zone a later tzdata dropped is still a readable time: in UTC.
    assert venue_when(start, "Gone/Away") == "Monday 01 July 2030, 00:30 UTC"


def test_mails_give_the_start_in_the_venues_time() -> None:
    show = ShowInfo("Hamlet", "RSC", "Lincoln Hall", "New York", datetime(2030, 1, 15, 1, 0, tzinfo=timezone.utc),
                    "America/New_York")
    order = type("O", (), {"id": uuid.uuid4(), "ticket_count": 2, "total_cents": 9000, "currency": "USD"})()
    body = compose("ORDER_CONFIRMED", {}, name="Ada", show=show, order=order, hold=None).body
    assert "When:  Monday 14 January 2030, 20:00 EST" in body


def _rasterise(svg: str, scale: int = 4) -> Image.Image:
    """Draws the QR code's SVG (segno's path: unit horizontal strokes, relative moves) on a bitmap."""
    box = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    assert box is not None
    transform = re.search(r'scale\((\d+)\)', svg)
    unit = int(transform.group(1)) if transform else 1
    size = int(box.group(1)) // unit
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    path = re.findall(r'<path[^>]*stroke="#000"[^>]*d="([^"]+)"', svg)
    assert len(path) == 1, svg[:200]
    x = y = 0.0
    for op, a, b in re.findall(r"([Mmhv])(-?[\d.]+)(?:[ ,](-?[\d.]+))?", path[0]):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        elif op == "h":
            draw.rectangle([x * scale, (y - 0.5) * scale, (x + float(a)) * scale - 1, (y + 0.5) * scale - 1], fill=0)
            x += float(a)
        else:
            pytest.fail(f"unexpected path command {op}")
    return image


async def test_a_ticket_reads_in_venue_time_and_its_qr_code_scans(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    venue = (await api.gql(CREATE_VENUE, {"input": _venue(timeZone="America/New_York")}, org))["createVenue"]
    event = (await api.gql(CREATE_EVENT, {"input": {"name": "Late Show", "performer": "P", "category": "c",
                                                    "venueId": venue["id"]}}, org))["createEvent"]
    show = (await api.gql(CREATE_SHOW, {"input": {
        "eventId": event["id"], "currency": "USD", "startsAt": "2031-07-01T00:30:00Z",
        "onSaleAt": "2020-01-01T00:00:00Z",
        "priceTiers": [{"name": "All", "priceCents": 3000, "sections": ["Stalls"]}]}}, org))["createShow"]
    await api.gql(PUBLISH, {"id": event["id"]}, org)
    seats = (await api.gql("query($id: ID!) { show(id: $id) { seats { id } } }", {"id": show["id"]}))["show"]["seats"]
    hold = await api.hold(fan, show["id"], [seats[0]["id"]])
    order = (await api.gql(CREATE_ORDER, {"i": {"holdId": hold["id"], "idempotencyKey": uuid.uuid4().hex}},
                           fan))["createOrder"]
    paid = (await api.gql(CONFIRM, {"i": {"orderId": order["id"], "paymentMethod": "pm_card_visa",
                                          "idempotencyKey": uuid.uuid4().hex}}, fan))["confirmPayment"]
    assert paid["status"] == "CONFIRMED", paid
    ticket = paid["tickets"][0]

    # On screen: an SVG that decodes to the very barcode.
    svg = ticket["qrSvg"]
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and svg.endswith("</svg>")
    assert "<script" not in svg and "width=" not in svg.split(">")[0]  # scales to its box
    decoded = zxingcpp.read_barcodes(_rasterise(svg))
    assert [(d.format, d.text) for d in decoded] == [(zxingcpp.BarcodeFormat.QRCode, ticket["barcode"])]
    # Only its owner sees it.
    other, _ = await api.user()
    assert (await api.gql("query($id: ID!) { order(id: $id) { tickets { qrSvg } } }",
                          {"id": order["id"]}, other))["order"] is None

    # On paper: the start in New York time, with its abbreviation (00:30 UTC is 20:30 the day before).
    response = await api.client.get(ticket["pdfUrl"].removeprefix(api.services.settings.public_url),
                                    headers={"Authorization": f"Bearer {fan}"})
    assert response.status_code == 200
    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert "Monday 30 June 2031" in text and "20:30 EDT" in text
    assert "UTC" not in text
