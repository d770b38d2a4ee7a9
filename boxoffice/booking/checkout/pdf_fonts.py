"""Fonts for the ticket PDF: any script a fan or an organizer types prints legibly.

reportlab's standard fonts (Helvetica, Courier) have Latin-1 only; every other character printed
as a black square. Here a line of text is drawn as runs of characters, each run in the first
font of a chain that has its glyphs:

* DejaVu Sans, Sans Bold and Sans Mono Bold, bundled in fonts/ (Bitstream Vera licence, see
  fonts/LICENSE) and embedded, subset, in each PDF: Latin, Greek, Cyrillic, Armenian, Georgian,
  Hebrew, Arabic and many symbols.
* Adobe's standard Asian fonts (reportlab's UnicodeCIDFont) for Chinese, Japanese and Korean:
  not embedded: PDF viewers bring or substitute them (one with no Asian font at all, such as poppler
  without poppler-data, shows blanks). Kana in Japanese, Hangul in Korean, and ideographs in
  Japanese in a word with kana, else in Chinese (Adobe-GB1 has every one).

Arabic letters are joined into their contextual forms (arabic_reshaper) and right-to-left text
is put in visual order (python-bidi): reportlab does neither. A character no font has (most
emoji, Indic scripts, Thai...) prints as U+FFFD "�", never as a black square; invisible format
characters (joiners, variation selectors, direction marks) are dropped.

The fonts are loaded and registered once per process, on first use (`font_set()`).
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import arabic_reshaper
from bidi.algorithm import get_display  # the pure-Python one: it mirrors brackets, the Rust one does not
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

FONT_DIR = Path(__file__).with_name("fonts")

Style = Literal["regular", "bold", "mono-bold"]
Anchor = Literal["left", "right", "centre"]

SANS = "DejaVuSans"
SANS_BOLD = "DejaVuSans-Bold"
MONO_BOLD = "DejaVuSansMono-Bold"
_TTF_FILES = {SANS: "DejaVuSans.ttf", SANS_BOLD: "DejaVuSans-Bold.ttf", MONO_BOLD: "DejaVuSansMono-Bold.ttf"}
# First to last: the font that draws a character is the first of its style's chain that has it.
_CHAINS: dict[Style, tuple[str, ...]] = {
    "regular": (SANS,),
    "bold": (SANS_BOLD, SANS),
    "mono-bold": (MONO_BOLD, SANS_BOLD, SANS),
}

JAPANESE = "HeiseiKakuGo-W5"
CHINESE = "STSong-Light"
KOREAN = "HYGothic-Medium"

REPLACEMENT = "\ufffd"
ELLIPSIS = "…"


def _is_kana(cp: int) -> bool:
    return 0x3040 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF or 0xFF66 <= cp <= 0xFF9D or 0x1B000 <= cp <= 0x1B16F


def _is_hangul(cp: int) -> bool:
    return (0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F or 0xA960 <= cp <= 0xA97F
            or 0xAC00 <= cp <= 0xD7FF or 0xFFA0 <= cp <= 0xFFDC)


def _is_han(cp: int) -> bool:
    return (0x2E80 <= cp <= 0x2FDF or 0x3400 <= cp <= 0x4DBF or 0x4E00 <= cp <= 0x9FFF
            or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x3FFFF)


def _is_cjk_common(cp: int) -> bool:
    """Punctuation, symbols and full-width forms that the three Asian fonts share."""
    return (0x3000 <= cp <= 0x303F or 0x3100 <= cp <= 0x312F or 0x3190 <= cp <= 0x31EF
            or 0x3200 <= cp <= 0x33FF or 0xFE30 <= cp <= 0xFE4F or 0xFF00 <= cp <= 0xFF65
            or 0xFFE0 <= cp <= 0xFFEE)


def _cjk_context(text: str) -> str:
    """The Asian font for the CJK punctuation and symbols in this text."""
    if any(_is_kana(ord(ch)) for ch in text):
        return JAPANESE
    if any(_is_hangul(ord(ch)) for ch in text):
        return KOREAN
    return CHINESE


def _cjk_font(cp: int, context: str, kana_word: bool) -> str | None:
    if _is_kana(cp):
        return JAPANESE
    if _is_hangul(cp):
        return KOREAN
    if _is_han(cp):
        # Japanese in a word with kana. Else Chinese: Adobe-GB1 has every ideograph, where Adobe-Japan1
        # lacks simplified ones and Adobe-Korea1 has a few thousand hanja only.
        return JAPANESE if kana_word else CHINESE
    if _is_cjk_common(cp):
        return context
    return None


def _invisible(ch: str, category: str) -> bool:
    cp = ord(ch)
    return (category == "Cf" or 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF
            or 0x1F3FB <= cp <= 0x1F3FF)  # emoji skin tones


def _has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)


def _has_arabic(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) == "AL" for ch in text)


@dataclass(frozen=True)
class Line:
    """One line of text ready to draw: characters in logical order, each with its font."""

    text: str
    fonts: tuple[str, ...]
    widths: tuple[float, ...]  # each character's advance at font size 1
    style: Style
    rtl: bool

    def width(self, size: float) -> float:
        return sum(self.widths) * size


@dataclass
class FontSet:
    """The registered fonts, and each style's character-to-font map, filled as characters come."""

    _coverage: dict[str, frozenset[int]]
    _cache: dict[tuple[Style, str, bool], dict[str, str | None]] = field(default_factory=dict)

    def _font_for(self, ch: str, style: Style, context: str, kana_word: bool = False) -> str | None:
        memo = self._cache.setdefault((style, context, kana_word), {})
        try:
            return memo[ch]
        except KeyError:
            pass
        cp = ord(ch)
        font = next((f for f in _CHAINS[style] if cp in self._coverage[f]), None) or _cjk_font(cp, context, kana_word)
        memo[ch] = font
        return font

    def line(self, text: str, style: Style) -> Line:
        """The text's printable characters with their fonts and widths: unprintable ones replaced."""
        text = unicodedata.normalize("NFC", text)
        if _has_arabic(text):
            text = arabic_reshaper.reshape(text)
        context = _cjk_context(text)
        kana_words = [any(_is_kana(ord(ch)) for ch in word) for word in text.split()]
        chars: list[str] = []
        fonts: list[str] = []
        word = -1
        for i, ch in enumerate(text):
            if not ch.isspace() and (i == 0 or text[i - 1].isspace()):
                word += 1
            kana_word = word >= 0 and kana_words[word]
            category = unicodedata.category(ch)
            if category in ("Cc", "Zl", "Zp"):
                ch = " "
            elif _invisible(ch, category):
                continue
            # Unassigned (as this Python's Unicode knows it) or private: no font means it, and the
            # right-to-left ordering has no class for it (python-bidi fails an assertion).
            font = self._font_for(ch, style, context, kana_word) if category not in ("Cs", "Cn", "Co") else None
            if font is None:
                ch, font = REPLACEMENT, _CHAINS[style][0]
            chars.append(ch)
            fonts.append(font)
        widths = tuple(pdfmetrics.stringWidth(ch, font, 1) for ch, font in zip(chars, fonts))
        joined = "".join(chars)
        return Line(joined, tuple(fonts), widths, style, _has_rtl(joined))

    def fit(self, text: str, style: Style, size: float, width: float, min_size: float = 10) -> tuple[Line, float]:
        """Shrinks the font down to min_size, then cuts the text with an ellipsis, to fit width."""
        line = self.line(text, style)
        total = sum(line.widths)
        while size > min_size and total * size > width:
            size -= 1
        if total * size <= width:
            return line, size
        ellipsis_font = _CHAINS[style][0]
        room = width / size - pdfmetrics.stringWidth(ELLIPSIS, ellipsis_font, 1)
        used, keep = 0.0, 0
        for w in line.widths:
            if used + w > room:
                break
            used += w
            keep += 1
        while keep and line.text[keep - 1].isspace():
            keep -= 1
        cut = Line(line.text[:keep] + ELLIPSIS, line.fonts[:keep] + (ellipsis_font,),
                   line.widths[:keep] + (pdfmetrics.stringWidth(ELLIPSIS, ellipsis_font, 1),), style, line.rtl)
        return cut, size

    def runs(self, line: Line) -> list[tuple[str, str]]:
        """(font, text) runs in visual order, left to right."""
        if line.rtl:
            # Reordering moves characters (mirroring brackets) but their fonts stay: look each up again.
            text = get_display(line.text)
            font_of = dict(zip(line.text, line.fonts))
            context = _cjk_context(line.text)
            fonts = [font_of.get(ch) or self._font_for(ch, line.style, context) or line.fonts[0] for ch in text]
        else:
            text, fonts = line.text, list(line.fonts)
        runs: list[tuple[str, str]] = []
        for ch, font in zip(text, fonts):
            if runs and runs[-1][0] == font:
                runs[-1] = (font, runs[-1][1] + ch)
            else:
                runs.append((font, ch))
        return runs

    def draw(self, canvas: Canvas, x: float, y: float, line: Line, size: float, anchor: Anchor = "left") -> None:
        if anchor == "right":
            x -= line.width(size)
        elif anchor == "centre":
            x -= line.width(size) / 2
        text = canvas.beginText(x, y)
        for font, run in self.runs(line):
            text.setFont(font, size)
            text.textOut(run)
        canvas.drawText(text)


_lock = threading.Lock()
_font_set: FontSet | None = None


def font_set() -> FontSet:
    """The fonts, registered with reportlab on the first call in the process (about 50 ms)."""
    global _font_set
    with _lock:
        if _font_set is None:
            coverage: dict[str, frozenset[int]] = {}
            for name, filename in _TTF_FILES.items():
                font = TTFont(name, str(FONT_DIR / filename))
                pdfmetrics.registerFont(font)
                coverage[name] = frozenset(font.face.charToGlyph)
            for cid in (JAPANESE, CHINESE, KOREAN):
                pdfmetrics.registerFont(UnicodeCIDFont(cid))
            _font_set = FontSet(coverage)
        return _font_set
