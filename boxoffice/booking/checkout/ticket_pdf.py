"""A printable ticket: one A4 page with the details, the barcode text and its QR code."""

from __future__ import annotations

import io

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from ..catalog.venue_time import venue_clock, venue_date
from .ticket_qr import qr_code
from .tickets import TicketDocument, format_price

PAGE_W, PAGE_H = A4
MARGIN = 20 * mm
QR_SIZE = 62 * mm


def _fit(text: str, font: str, size: float, width: float, min_size: float = 10) -> tuple[str, float]:
    """Shrinks the font down to min_size, then cuts the text with an ellipsis, to fit width."""
    while size > min_size and stringWidth(text, font, size) > width:
        size -= 1
    if stringWidth(text, font, size) <= width:
        return text, size
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…", size


def _qr_image(barcode: str) -> ImageReader:
    qr = qr_code(barcode)
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=10, border=4)
    buf.seek(0)
    return ImageReader(buf)


def render_ticket_pdf(doc: TicketDocument) -> bytes:
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
    c.setFont("Helvetica-Bold", 14)
    c.drawString(MARGIN, PAGE_H - 17 * mm, "boxoffice · E-TICKET")
    c.setFont("Helvetica", 10)
    c.drawRightString(PAGE_W - MARGIN, PAGE_H - 17 * mm, f"Ticket {doc.ticket_id}")

    c.setFillColorRGB(0, 0, 0)
    y = PAGE_H - 45 * mm
    name, size = _fit(doc.event_name, "Helvetica-Bold", 26, width)
    c.setFont("Helvetica-Bold", size)
    c.drawString(MARGIN, y, name)
    y -= 9 * mm
    performer, size = _fit(doc.performer, "Helvetica", 15, width)
    c.setFont("Helvetica", size)
    c.drawString(MARGIN, y, performer)

    # Details on the left, QR code on the right.
    top = y - 12 * mm
    # In the venue's time, with its zone's abbreviation: the fan reads it where the show is.
    details = [
        ("Venue", f"{doc.venue_name}, {doc.venue_city}"),
        ("Date", venue_date(doc.starts_at, doc.venue_time_zone)),
        ("Time", venue_clock(doc.starts_at, doc.venue_time_zone)),
        ("Section", doc.section_name),
        ("Place", doc.place_label),
        ("Price", format_price(doc.price_cents, doc.currency)),
        ("Holder", doc.holder_name),
        ("Order", str(doc.order_id)),
    ]
    y = top
    for label, value in details:
        c.setFont("Helvetica", 8)
        c.setFillColorRGB(0.4, 0.4, 0.4)
        c.drawString(MARGIN, y, label.upper())
        c.setFillColorRGB(0, 0, 0)
        shown, size = _fit(value, "Helvetica-Bold", 12, text_width, min_size=7)
        c.setFont("Helvetica-Bold", size)
        c.drawString(MARGIN, y - 5 * mm, shown)
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
    code, size = _fit(doc.barcode, "Courier-Bold", 11, width, min_size=6)
    c.setFont("Courier-Bold", size)
    c.drawCentredString(PAGE_W / 2, y, code)
    y -= 8 * mm
    c.setFont("Helvetica", 9)
    c.setFillColorRGB(0.3, 0.3, 0.3)
    c.drawCentredString(PAGE_W / 2, y, "Show this code at the entrance. It admits one person, once; "
                                       "copies are refused after the first scan.")
    c.showPage()
    c.save()
    return out.getvalue()
