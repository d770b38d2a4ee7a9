"""The ticket PDF prints names in any script legibly: no character becomes a black square.

Rendered without a database, from a TicketDocument built here.
"""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from boxoffice.booking.checkout.pdf_fonts import (CHINESE, ELLIPSIS, JAPANESE, KOREAN, MONO_BOLD, REPLACEMENT, SANS,
                                                  SANS_BOLD, Style, font_set)
from boxoffice.booking.checkout.ticket_pdf import MARGIN, PAGE_W, QR_SIZE, render_ticket_pdf
from boxoffice.booking.checkout.tickets import TicketDocument, barcode_for

SECRET = "test-secret-" + "x" * 40

POLISH = "Łukasz Wójcik"
RUSSIAN = "Чайковский: Лебединое озеро"
GREEK = "Ωδείο Ηρώδου Αττικού"
JAPANESE_TEXT = "東京ドーム"
CHINESE_TEXT = "北京国家体育场"
KOREAN_TEXT = "김철수"


def _doc(**fields: Any) -> TicketDocument:
    ticket_id, show_id = uuid.uuid4(), uuid.uuid4()
    values: dict[str, Any] = dict(
        ticket_id=ticket_id, order_id=uuid.uuid4(), show_id=show_id, barcode=barcode_for(SECRET, ticket_id, show_id),
        event_name="Flash", performer="The Band", venue_name="Arena", venue_city="Lisbon",
        starts_at=datetime(2030, 5, 1, 19, 30, tzinfo=timezone.utc), section_name="Floor", row="A", seat_number="1",
        price_cents=1000, currency="EUR", holder_name="Ana Silva")
    values.update(fields)
    return TicketDocument(**values)


def _fonts(reader: PdfReader) -> dict[str, Any]:
    """The page's fonts by base name (without a subset's tag), with their descriptors."""
    resources: Any = reader.pages[0]["/Resources"]
    found: dict[str, Any] = {}
    for ref in resources["/Font"].values():
        font = ref.get_object()
        base = str(font["/BaseFont"]).lstrip("/")
        found[base.split("+", 1)[-1]] = font
    return found


def _lines(reader: PdfReader) -> list[tuple[float, float, float, str]]:
    """Each line drawn on the page: x, y, width and text (its runs, in whatever fonts, put together)."""
    lines: list[tuple[float, float, float, str]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        if font is None:
            return
        x, y = tm[4], tm[5]
        name = str(font["/BaseFont"]).lstrip("/").split("+", 1)[-1]  # without a subset's tag
        if lines and lines[-1][:2] == (x, y):  # the next run of the same line
            lines[-1] = (x, y, lines[-1][2] + stringWidth(text, name, size), lines[-1][3] + text)
        elif text.strip():
            text = text.lstrip()  # pypdf puts a space or a line break between lines
            lines.append((x, y, stringWidth(text, name, size), text))

    reader.pages[0].extract_text(visitor_text=visit)
    return lines


def test_every_script_prints_as_text_in_unicode_fonts() -> None:
    doc = _doc(holder_name=POLISH, event_name=RUSSIAN, performer=f"{JAPANESE_TEXT} {KOREAN_TEXT}",
               venue_name=GREEK, venue_city="Αθήνα", section_name=CHINESE_TEXT, row="Б", seat_number="7")
    reader = PdfReader(io.BytesIO(render_ticket_pdf(doc)))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    for expected in (POLISH, RUSSIAN, f"{GREEK}, Αθήνα", JAPANESE_TEXT, KOREAN_TEXT, CHINESE_TEXT, "Row Б, Seat 7",
                     doc.barcode, "1 May 2030"):
        assert expected in text, (expected, text)

    fonts = _fonts(reader)
    assert "ZapfDingbats" not in fonts, "no black squares"
    for name in (SANS, SANS_BOLD, MONO_BOLD):
        assert "/FontFile2" in fonts[name]["/FontDescriptor"], f"{name} is embedded"
    assert {JAPANESE, KOREAN, CHINESE} <= set(fonts)


def test_a_long_name_in_any_script_fits_with_an_ellipsis() -> None:
    long_names = {"holder_name": "Чайковский Пётр Ильич " * 8, "event_name": "東京ドーム公演 " * 12,
                  "venue_name": "Ωδείο Ηρώδου Αττικού " * 6}
    text = PdfReader(io.BytesIO(render_ticket_pdf(_doc(**long_names)))).pages[0].extract_text()
    assert "Чайковский Пётр Ильич Чайковский" in text and "東京ドーム公演" in text and "Ωδείο Ηρώδου" in text
    assert text.count(ELLIPSIS) >= 3
    for value in long_names.values():
        assert value.strip() not in text
    reader = PdfReader(io.BytesIO(render_ticket_pdf(_doc(**long_names))))
    qr_left = PAGE_W - MARGIN - QR_SIZE
    for x, y, width, line_text in _lines(reader):
        assert MARGIN - 0.01 <= x and x + width <= PAGE_W - MARGIN + 0.01, line_text
        if line_text.startswith(("Чайковский", "Ωδείο")):  # in the details column, left of the QR code
            assert x + width <= qr_left, line_text

    fonts = font_set()
    width = PAGE_W - 2 * MARGIN
    cases: tuple[tuple[str, Style, int, float, int], ...] = (
        (long_names["event_name"], "bold", 26, width, 10),
        (long_names["holder_name"], "bold", 12, width - QR_SIZE - 10 * mm, 7),
        ("Łódź " * 40, "regular", 15, width, 10))
    for value, style, size, room, min_size in cases:
        line, fitted = fonts.fit(value, style, size, room, min_size=min_size)
        assert fitted == min_size and line.text.endswith(ELLIPSIS)
        assert line.width(fitted) <= room
    short, fitted = fonts.fit(POLISH, "bold", 12, width)
    assert (short.text, fitted) == (POLISH, 12)


def test_an_emoji_name_renders_with_a_visible_replacement() -> None:
    doc = _doc(holder_name="Ana 🎉💃🏽 👨‍👩‍👧 Silva", event_name="Rock ✨🎸 Night")
    reader = PdfReader(io.BytesIO(render_ticket_pdf(doc)))
    text = reader.pages[0].extract_text()
    assert f"Ana {REPLACEMENT * 2} {REPLACEMENT * 3} Silva" in text, text
    assert "Rock ✨" in text or "Rock " + REPLACEMENT in text
    assert "ZapfDingbats" not in _fonts(reader)


def test_right_to_left_names_are_joined_and_in_visual_order() -> None:
    doc = _doc(holder_name="דנה לוי", venue_name="دار الأوبرا", venue_city="Cairo")
    reader = PdfReader(io.BytesIO(render_ticket_pdf(doc)))
    # pypdf reads right-to-left runs from right to left: drawn in logical order they'd come out reversed.
    text = reader.pages[0].extract_text()
    assert "דנה לוי" in text and "יול הנד" not in text, text
    # Arabic letters joined (presentation forms: initial, medial, final, the lam-alef ligature),
    # the right-to-left line ending, on the left, with the Latin city.
    assert "Cairo ,\ufea9\ufe8d\ufead \ufe8d\ufef7\ufeed\ufe91\ufeae\ufe8d" in text, text
    assert "ZapfDingbats" not in _fonts(reader)

    fonts = font_set()
    for logical, visual in (("Dana דנה", "Dana הנד"), ("(דנה) [Dana]", "[Dana] (הנד)")):  # brackets mirrored
        assert "".join(run for _, run in fonts.runs(fonts.line(logical, "regular"))) == visual


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.sampled_from(["regular", "bold", "mono-bold"]))
def test_any_text_fits_and_draws(text: str, style: Style) -> None:
    fonts = font_set()
    line, size = fonts.fit(text, style, 12, 200, min_size=7)
    assert line.width(size) <= 200 and 7 <= size <= 12
    canvas = Canvas(io.BytesIO())
    fonts.draw(canvas, 10, 10, line, size, anchor="centre")
    canvas.save()


@pytest.mark.parametrize(("text", "font"), [
    ("東京ドーム", JAPANESE),  # kana: the ideographs are Japanese too
    ("山田太郎", CHINESE),  # ideographs alone: Adobe-GB1 has every one
    ("Łukasz 東京", CHINESE),
    ("김철수", KOREAN),
    ("北京欢迎你", CHINESE),
])
def test_cjk_text_goes_to_the_asian_font_of_its_language(text: str, font: str) -> None:
    line = font_set().line(text, "bold")
    assert line.text == text
    assert {f for ch, f in zip(line.text, line.fonts) if ord(ch) > 0x2000} == {font}


def test_hangul_with_hanja_and_cjk_punctuation() -> None:
    line = font_set().line("김「金」", "regular")
    assert line.fonts == (KOREAN, KOREAN, CHINESE, KOREAN)


def test_ideographs_are_japanese_only_in_a_word_with_kana() -> None:
    # Adobe-Japan1 lacks simplified ideographs such as 欢: those print in the Chinese font.
    line = font_set().line("東京ドーム 北京欢迎你", "regular")
    assert line.fonts == (JAPANESE,) * 5 + (SANS,) + (CHINESE,) * 5


def test_a_ticket_passed_on_shows_none_of_the_buyers_order() -> None:
    """Its recipient's PDF printed the buyer's order id and the price they paid."""
    bought = _doc()
    text = PdfReader(io.BytesIO(render_ticket_pdf(bought))).pages[0].extract_text()
    assert str(bought.order_id) in text and "10.00 EUR" in text
    passed_on = _doc(bought=False)
    text = PdfReader(io.BytesIO(render_ticket_pdf(passed_on))).pages[0].extract_text()
    assert str(passed_on.order_id) not in text and "EUR" not in text and "Ana Silva" in text


def test_a_character_this_python_does_not_know_prints_as_the_replacement() -> None:
    """Beside Hebrew, an ideograph newer than this Python's Unicode (U+2EBE1) failed python-bidi's
    assertion: the PDF was a 500."""
    fonts = font_set()
    line = fonts.line("\u05d0\U0002ebe1", "regular")
    assert REPLACEMENT in line.text
    fonts.draw(Canvas(io.BytesIO()), 10, 10, line, 12, anchor="centre")
    render_ticket_pdf(_doc(holder_name="\u05d0\U0002ebe1 \ue000"))
