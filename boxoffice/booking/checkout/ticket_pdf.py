"""A printable ticket: one A4 page with the details, the barcode text and its QR code."""

from __future__ import annotations

import io

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from ..catalog.venue_time import venue_clock, venue_date
from .pdf_fonts import font_set
from .ticket_qr import qr_code
from .tickets import TicketDocument, format_price

PAGE_W, PAGE_H = A4
MARGIN = 20 * mm
QR_SIZE = 62 * mm


def _qr_image(barcode: str) -> ImageReader:
    qr = qr_code(barcode)
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=10, border=4)
    buf.seek(0)
    return ImageReader(buf)


def render_ticket_pdf(doc: TicketDocument) -> bytes:
    # Every piece of text goes through fonts: names can be in any script (pdf_fonts.py).
    fonts = font_set()
    out = io.BytesIO()
    c = Canvas(out, pagesize=A4, invariant=True)
    c.setTitle(f"Ticket: {doc.event_name}")
    c.setAuthor("boxoffice")
    c.setSubject(f"{doc.event_name}, {doc.venue_name}, {doc.place_label}")
    c.setCreator("boxoffice")
    width = PAGE_W - 2 * MARGIN
    text_width = width - QR_SIZE - 10 * mm

    # Header band.
    c.setFillColorRGB(0.12, 0.14, 0.2)
    c.rect(0, PAGE_H - 28 * mm, PAGE_W, 28 * mm, stroke=0, fill=1)
    c.setFillColorRGB(1, 1, 1)
    fonts.draw(c, MARGIN, PAGE_H - 17 * mm, fonts.line("boxoffice · E-TICKET", "bold"), 14)
    fonts.draw(c, PAGE_W - MARGIN, PAGE_H - 17 * mm, fonts.line(f"Ticket {doc.ticket_id}", "regular"), 10,
               anchor="right")

    c.setFillColorRGB(0, 0, 0)
    y = PAGE_H - 45 * mm
    name, size = fonts.fit(doc.event_name, "bold", 26, width)
    fonts.draw(c, MARGIN, y, name, size)
    y -= 9 * mm
    performer, size = fonts.fit(doc.performer, "regular", 15, width)
    fonts.draw(c, MARGIN, y, performer, size)

    # Details on the left, QR code on the right.
    top = y - 12 * mm
    # In the venue's time, with its zone's abbreviation: the fan reads it where the show is.
    details = [
        ("Venue", f"{doc.venue_name}, {doc.venue_city}"),
        ("Date", venue_date(doc.starts_at, doc.venue_time_zone)),
        ("Time", venue_clock(doc.starts_at, doc.venue_time_zone)),
        ("Section", doc.section_name),
        ("Place", doc.place_label),
        *([("Price", format_price(doc.price_cents, doc.currency))] if doc.bought else []),
        ("Holder", doc.holder_name),
        *([("Order", str(doc.order_id))] if doc.bought else []),  # the buyer's, not a recipient's
    ]
    y = top
    for label, value in details:
        c.setFillColorRGB(0.4, 0.4, 0.4)
        fonts.draw(c, MARGIN, y, fonts.line(label.upper(), "regular"), 8)
        c.setFillColorRGB(0, 0, 0)
        shown, size = fonts.fit(value, "bold", 12, text_width, min_size=7)
        fonts.draw(c, MARGIN, y - 5 * mm, shown, size)
        y -= 12 * mm

    qr_x = PAGE_W - MARGIN - QR_SIZE
    qr_y = top - QR_SIZE + 4 * mm
    c.drawImage(_qr_image(doc.barcode), qr_x, qr_y, QR_SIZE, QR_SIZE)

    # The barcode text, whole and on one line, for manual entry at the gate.
    y -= 4 * mm
    c.setStrokeColorRGB(0.7, 0.7, 0.7)
    c.setDash(3, 3)
    c.line(MARGIN, y, PAGE_W - MARGIN, y)
    c.setDash()
    y -= 9 * mm
    code, size = fonts.fit(doc.barcode, "mono-bold", 11, width, min_size=6)
    fonts.draw(c, PAGE_W / 2, y, code, size, anchor="centre")
    y -= 8 * mm
    c.setFillColorRGB(0.3, 0.3, 0.3)
    notice = fonts.fit("Show this code at the entrance. It admits one person, once; "
                       "copies are refused after the first scan.", "regular", 9, width, min_size=7)
    fonts.draw(c, PAGE_W / 2, y, *notice, anchor="centre")
    c.showPage()
    c.save()
    return out.getvalue()
