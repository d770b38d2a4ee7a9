"""A ticket's barcode as a QR code: the same code on paper (ticket_pdf.py) and on screen (Ticket.qrSvg)."""

from __future__ import annotations

import functools
import io

import segno


def qr_code(barcode: str) -> segno.QRCode:
    # Uppercase base32 and '.' are all in the QR alphanumeric set: a small, robust code (version 3-M).
    return segno.make(barcode, error="m", micro=False)


# Choosing the mask (the QR standard's penalty rules, for the most readable code) is most of the
# cost, several ms a code; a barcode never changes, so a ticket's code is made once per process
# however often its page is shown (2,048 codes: about 3 MB).
@functools.lru_cache(maxsize=2048)
def qr_svg(barcode: str) -> str:
    """A standalone SVG (its own namespace, a viewBox and no fixed size, so it scales to its box;
    a white background and the 4-module quiet zone, so it scans on a dark screen too)."""
    out = io.BytesIO()
    qr_code(barcode).save(out, kind="svg", scale=4, border=4, xmldecl=False, svgns=True, nl=False,
                          omitsize=True, title="Ticket barcode", light="#fff", dark="#000",
                          svgclass=None, lineclass=None)
    return out.getvalue().decode("ascii")


def _no_code_svg(title: str, word: str, size: int, colour: str) -> str:
    return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 116 116">'
            f'<title>{title}</title><rect width="116" height="116" fill="#fff"/>'
            f'<text x="58" y="66" font-family="sans-serif" font-size="{size}" font-weight="bold" '
            f'text-anchor="middle" fill="{colour}">{word}</text></svg>')


def void_svg() -> str:
    """What a void ticket shows instead of its code: its barcode is revoked, so nothing to scan (a
    screenshot of it would only be refused at the door), and the word VOID, same box as a code."""
    return _no_code_svg("Void ticket", "VOID", 24, "#b00")


def withheld_svg() -> str:
    """What a ticket shown to someone who does not hold it (an offer not accepted yet) shows: its
    barcode is withheld, and a code of nothing would look like a ticket and be refused at the door."""
    return _no_code_svg("No barcode: not your ticket", "NOT YOURS", 14, "#555")
