"""What a webhook event must look like before anything reads it: the shape Stripe's events have.

A verified signature says Stripe (or the simulator) sent the body, not that every field has the type
the reader expects: an event whose `data` was a string, or whose ids held a NUL that PostgreSQL
cannot store, ended in an exception and a 500, which Stripe retries for days. Such an event is
refused with a 400 that says what was wrong (shown in Stripe's dashboard beside the delivery).
"""

from __future__ import annotations

from typing import Any

# Stripe's ids and event types are at most 255 characters (its API reference, "Object IDs").
MAX_ID_CHARS = 255


def _bad_text(value: Any, *, required: bool) -> bool:
    if value is None:
        return required
    return not isinstance(value, str) or len(value) > MAX_ID_CHARS or "\x00" in value or (required and not value)


def event_shape_problem(event: Any) -> str | None:
    """Why a decoded event is not shaped as Stripe's are, or None: an object with an `id` and a
    `type` (non-empty strings of at most 255 characters, no NUL) and `data.object` an object whose
    `id`, if it has one, is such a string too (some objects have none)."""
    if not isinstance(event, dict):
        return "the event is not a JSON object"
    for field in ("id", "type"):
        if _bad_text(event.get(field), required=True):
            return f"the event's {field} is not a string of 1 to {MAX_ID_CHARS} characters without NUL"
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return "the event's data.object is not a JSON object"
    if _bad_text(data["object"].get("id"), required=False):
        return f"the event's data.object.id is not a string of 1 to {MAX_ID_CHARS} characters without NUL"
    return None
