"""Tickets: signed barcodes (offline verification), issuing, the printable document and its PDF."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import AsyncIterator

import pytest
from pypdf import PdfReader
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.booking.checkout.ticket_pdf import render_ticket_pdf
from boxoffice.booking.checkout.tickets import (TicketConflict, barcode_for, barcode_key, issue_tickets, ticket_document,
                                       tickets_of_order, verify_barcode, verify_barcode_with_key)

from ..fixtures_db import bulk_users, make_show

SECRET = "test-secret-" + "x" * 40
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
BARCODE_RE = re.compile(r"^BX1\.[A-Z2-7]{26}\.[A-Z2-7]{8}\.[A-Z2-7]{16}$")


# --- barcodes -------------------------------------------------------------------------------------------------

def test_barcode_round_trip() -> None:
    ticket_id, show_id = uuid.uuid4(), uuid.uuid4()
    code = barcode_for(SECRET, ticket_id, show_id)
    assert BARCODE_RE.match(code), code
    claims = verify_barcode(SECRET, code)
    assert claims is not None
    assert claims.ticket_id == ticket_id
    assert claims.is_for_show(show_id)
    assert not claims.is_for_show(uuid.uuid4())
    # A scanner holding only the derived key verifies offline, and the key is not the secret.
    assert verify_barcode_with_key(barcode_key(SECRET), code) == claims
    assert barcode_key(SECRET) != SECRET.encode()
    assert barcode_for(SECRET, ticket_id, show_id) == code  # deterministic: reprints match


def _swap(s: str, i: int) -> str:
    return s[:i] + B32[(B32.index(s[i]) + 1) % 32] + s[i + 1:] if s[i] in B32 else s[:i] + "Z" + s[i + 1:]


def test_every_tampered_part_is_refused() -> None:
    code = barcode_for(SECRET, uuid.uuid4(), uuid.uuid4())
    parts = code.split(".")
    for index, part in enumerate(parts):
        for pos in range(len(part)):
            changed = list(parts)
            changed[index] = _swap(part, pos)
            assert verify_barcode(SECRET, ".".join(changed)) is None, (index, pos)
    other = barcode_for(SECRET, uuid.uuid4(), uuid.uuid4()).split(".")
    for index in (1, 2, 3):  # a part spliced in from another genuine barcode
        spliced = list(parts)
        spliced[index] = other[index]
        assert verify_barcode(SECRET, ".".join(spliced)) is None
    garbage = ["", "BX1", "BX1...", code[:-1], code + "A", code + ".", "." + code, code.lower(), f" {code}",
               code.replace(".", "-"), "BX2" + code[3:], parts[0] + "." + parts[1] + "." + parts[3],
               "BX1.!!!!!!!!!!!!!!!!!!!!!!!!!!.AAAAAAAA.AAAAAAAAAAAAAAAA", "x" * 10_000, "BX1." + "\u00e9" * 26]
    for g in garbage:
        assert verify_barcode(SECRET, g) is None, g
    assert verify_barcode(SECRET, None) is None  # type: ignore[arg-type]


def test_wrong_secret_is_refused() -> None:
    code = barcode_for(SECRET, uuid.uuid4(), uuid.uuid4())
    assert verify_barcode(SECRET + "!", code) is None
    assert verify_barcode("", code) is None


def test_barcodes_are_unique_and_verify() -> None:
    show_id = uuid.uuid4()
    ids = [uuid.uuid4() for _ in range(10_000)]
    codes = [barcode_for(SECRET, t, show_id) for t in ids]
    assert len(set(codes)) == len(codes)
    assert len({c.split(".")[3] for c in codes}) == len(codes)  # the MACs differ too
    assert all(verify_barcode(SECRET, c).ticket_id == t for c, t in zip(codes, ids))  # type: ignore[union-attr]


# --- issuing and documents ---------------------------------------------------------------------------------

_CREATED: list[uuid.UUID] = []


@pytest.fixture(autouse=True)
async def _remove_orders(engine: AsyncEngine) -> AsyncIterator[None]:
    """Takes this test's orders back out, so later whole-database audits see none of these shortcuts."""
    yield
    if not _CREATED:
        return
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM tickets WHERE order_id = ANY(:o)"), {"o": _CREATED})
        await conn.execute(text("UPDATE show_seats SET status = 'A', order_id = NULL WHERE order_id = ANY(:o)"),
                           {"o": _CREATED})
        holds = (await conn.execute(text("DELETE FROM orders WHERE id = ANY(:o) RETURNING hold_id"),
                                    {"o": _CREATED})).scalars().all()
        await conn.execute(text("DELETE FROM holds WHERE id = ANY(:h)"), {"h": list(holds)})
    _CREATED.clear()


async def _order(engine: AsyncEngine, user_id: uuid.UUID, show_id: uuid.UUID, place_ids: list[int], *,
                 status: str = "confirmed") -> tuple[uuid.UUID, list[tuple[int, int | None, uuid.UUID]]]:
    """A hold and an order for these places, the places sold to it: as checkout would leave them."""
    hold_id, order_id = uuid.uuid4(), uuid.uuid4()
    _CREATED.append(order_id)
    async with engine.begin() as conn:
        rows = (await conn.execute(text(
            "SELECT id, section_id, position, price_cents FROM show_seats WHERE show_id = :s AND id = ANY(:p)"),
            {"s": show_id, "p": place_ids})).all()
        total = sum(r.price_cents for r in rows)
        seats = [r.id for r in rows if r.position is not None]
        units = [r.id for r in rows if r.position is None]
        await conn.execute(text(
            "INSERT INTO holds (id, user_id, show_id, status, expires_at, idempotency_key, request_hash, seat_ids, "
            "unit_ids, ga_lines, ticket_count, total_cents, currency) VALUES (:h, :u, :s, 'converted', "
            "now() + interval '10 minutes', :k, 'x', :seats, :units, CAST('[]' AS jsonb), :n, :t, 'EUR')"),
            {"h": hold_id, "u": user_id, "s": show_id, "k": uuid.uuid4().hex, "seats": seats, "units": units,
             "n": len(rows), "t": total})
        await conn.execute(text(
            "INSERT INTO orders (id, user_id, show_id, hold_id, status, ticket_count, total_cents, currency, "
            "idempotency_key, expires_at, confirmed_at) VALUES (:o, :u, :s, :h, :st, :n, :t, 'EUR', :k, "
            "now() + interval '10 minutes', CASE WHEN :st = 'confirmed' THEN now() END)"),
            {"o": order_id, "u": user_id, "s": show_id, "h": hold_id, "st": status, "n": len(rows), "t": total,
             "k": uuid.uuid4().hex})
        await conn.execute(text(
            "UPDATE show_seats SET status = 'S', order_id = :o, hold_id = NULL, hold_expires_at = NULL "
            "WHERE show_id = :s AND id = ANY(:p)"), {"o": order_id, "s": show_id, "p": place_ids})
    places = [(r.id, r.id if r.position is not None else None, r.section_id) for r in rows]
    return order_id, places


async def _ga_places(engine: AsyncEngine, show_id: uuid.UUID, n: int) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT id FROM show_seats WHERE show_id = :s AND position IS NULL AND status = 'A' ORDER BY id "
            "LIMIT :n"), {"s": show_id, "n": n})).scalars().all())


async def _issue(engine: AsyncEngine, order_id: uuid.UUID, show_id: uuid.UUID,
                 places: list[tuple[int, int | None, uuid.UUID]]) -> int:
    async with engine.begin() as conn:
        return await issue_tickets(conn, secret=SECRET, order_id=order_id, show_id=show_id, places=places)


async def test_issue_tickets_is_idempotent_and_ordered(engine: AsyncEngine) -> None:
    show, seat_ids, _ = await make_show(engine, seats=6, ga=5)
    fan = (await bulk_users(engine, 1))[0]
    # Reserved seats in reverse map order, and a GA place: listed by map position, GA last.
    places_wanted = [int(seat_ids[3]), int(seat_ids[1]), *(await _ga_places(engine, show.id, 1))]
    order_id, places = await _order(engine, fan.user_id, show.id, places_wanted)
    assert await _issue(engine, order_id, show.id, places) == 3
    first = await tickets_of_order(engine, order_id)
    assert await _issue(engine, order_id, show.id, places) == 0  # a redelivered confirmation
    assert await _issue(engine, order_id, show.id, list(reversed(places))) == 0
    again = await tickets_of_order(engine, order_id)
    assert again == first and len(first) == 3
    assert [t.seat_id for t in first] == [int(seat_ids[1]), int(seat_ids[3]), None]
    for t in first:
        claims = verify_barcode(SECRET, t.barcode)
        assert claims is not None and claims.ticket_id == t.id and claims.is_for_show(show.id)
    assert await _issue(engine, order_id, show.id, []) == 0

    # A place already ticketed for another order is refused loudly, and nothing of that call sticks.
    other = (await bulk_users(engine, 1))[0]
    other_order, _ = await _order(engine, other.user_id, show.id, [int(seat_ids[5])])
    with pytest.raises(TicketConflict):
        await _issue(engine, other_order, show.id, [(int(seat_ids[5]), int(seat_ids[5]), places[0][2]), places[0]])
    assert await tickets_of_order(engine, other_order) == []


async def test_ticket_document_only_for_the_owner_of_a_confirmed_order(engine: AsyncEngine) -> None:
    show, seat_ids, floor = await make_show(engine, seats=4, ga=3)
    fan, stranger = await bulk_users(engine, 2)
    order_id, places = await _order(engine, fan.user_id, show.id,
                                    [int(seat_ids[2]), *(await _ga_places(engine, show.id, 1))])
    await _issue(engine, order_id, show.id, places)
    seat_ticket, ga_ticket = await tickets_of_order(engine, order_id)

    doc = await ticket_document(engine, seat_ticket.id, fan.user_id)
    assert doc is not None
    assert (doc.event_name, doc.performer, doc.venue_name, doc.venue_city) == ("Flash", "P", "Arena", "Lisbon")
    assert doc.starts_at == show.starts_at
    assert (doc.section_name, doc.row, doc.seat_number, doc.place_label) == ("Hot", "A", "3", "Row A, Seat 3")
    assert (doc.price_cents, doc.currency, doc.holder_name) == (1000, "EUR", "Bulk")
    assert (doc.order_id, doc.barcode, doc.ticket_id) == (order_id, seat_ticket.barcode, seat_ticket.id)

    ga_doc = await ticket_document(engine, ga_ticket.id, fan.user_id)
    assert ga_doc is not None and ga_doc.general_admission
    assert (ga_doc.section_name, ga_doc.place_label, ga_doc.row) == ("Floor", "General admission", None)
    assert str(ga_ticket.section_id) == floor

    assert await ticket_document(engine, seat_ticket.id, stranger.user_id) is None
    assert await ticket_document(engine, uuid.uuid4(), fan.user_id) is None
    for status in ("pending_payment", "cancelled", "refunded"):
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE orders SET status = :st WHERE id = :o"), {"st": status, "o": order_id})
        assert await ticket_document(engine, seat_ticket.id, fan.user_id) is None, status


async def test_ticket_pdf_has_the_barcode_and_the_details(engine: AsyncEngine) -> None:
    show, seat_ids, _ = await make_show(engine, seats=2, ga=1)
    fan = (await bulk_users(engine, 1))[0]
    order_id, places = await _order(engine, fan.user_id, show.id, [int(seat_ids[0])])
    await _issue(engine, order_id, show.id, places)
    ticket = (await tickets_of_order(engine, order_id))[0]
    doc = await ticket_document(engine, ticket.id, fan.user_id)
    assert doc is not None

    pdf = render_ticket_pdf(doc)
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    extracted = reader.pages[0].extract_text()
    assert ticket.barcode in extracted
    assert "Flash" in extracted and "Arena, Lisbon" in extracted and "Row A, Seat 1" in extracted
    assert "10.00 EUR" in extracted and str(order_id) in extracted
    assert reader.metadata is not None and reader.metadata.title == "Ticket: Flash"
    assert reader.pages[0].images, "the QR code image is on the page"


def test_ticket_pdf_survives_long_and_non_latin_text() -> None:
    from datetime import datetime, timezone

    from boxoffice.booking.checkout.tickets import TicketDocument

    ticket_id, show_id = uuid.uuid4(), uuid.uuid4()
    doc = TicketDocument(ticket_id=ticket_id, order_id=uuid.uuid4(), show_id=show_id,
                         barcode=barcode_for(SECRET, ticket_id, show_id), event_name="Ópera " * 40,
                         performer="東京フィル", venue_name="Säle", venue_city="Zürich",
                         starts_at=datetime(2030, 5, 1, 19, 30, tzinfo=timezone.utc), section_name="Parterre",
                         row=None, seat_number=None, price_cents=4500, currency="JPY", holder_name="Zoë")
    text_out = PdfReader(io.BytesIO(render_ticket_pdf(doc))).pages[0].extract_text()
    assert doc.barcode in text_out and "4,500 JPY" in text_out
