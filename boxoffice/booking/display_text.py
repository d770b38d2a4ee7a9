"""Text that people type for others to read: names of fans, venues, sections, rows, events and price
tiers, and a cancellation's reason. It is shown on seat maps, tickets, door screens, reports and
notifications, where control characters and the bidirectional overrides and isolates (U+202A-202E,
U+2066-2069) would hide or reorder what it says. So such text is refused, in every script and
emoji otherwise; a description, the one text of several lines, keeps its line breaks and tabs.

A name is kept in Unicode's composed form (NFC), so that two spellings of the same letters are one
name, and needs at least one visible character (a letter, digit, punctuation mark or symbol): a name
of zero-width spaces or lone accents looks like nothing at all."""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidInput

# U+2028/U+2029 (line and paragraph separators) too: mail clients break lines at them.
HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_HIDDEN_IN_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
HIDDEN_MESSAGE = "may not contain control characters or direction overrides."


def display_name(value: str) -> str:
    """The value as it is stored and compared: stripped, composed (NFC)."""
    return unicodedata.normalize("NFC", value.strip())


def unreadable(value: str) -> str | None:
    """Why people could not read this text as typed (to follow the name of what it is), or None."""
    if HIDDEN.search(value):
        return HIDDEN_MESSAGE
    if not any(unicodedata.category(c)[0] in "LNPS" for c in value):
        return "needs a visible character."
    return None


def display_text(value: str, field: str, *, max_len: int) -> str:
    """The value as display_name() keeps it, of 1 to max_len characters, all readable."""
    value = display_name(value)
    if not 1 <= len(value) <= max_len:
        raise InvalidInput(f"{field} needs 1 to {max_len} characters.", field=field)
    if problem := unreadable(value):
        raise InvalidInput(f"{field} {problem}", field=field)
    return value


def check_lines(value: str, field: str) -> None:
    """Several lines of text (line breaks and tabs allowed), nothing else hidden."""
    if _HIDDEN_IN_LINES.search(value):
        raise InvalidInput(f"{field} {HIDDEN_MESSAGE}", field=field)
