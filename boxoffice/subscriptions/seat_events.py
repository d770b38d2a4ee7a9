"""Wire format of seat-change notifications on the event bus.

Domain code publishes, after each commit, to ``seat_channel(show_id)``::

    {"showId": "<uuid>", "changes": [{"seatId": "123", "sectionId": "<uuid>",
      "status": "H", "version": 17, "ga": false}, ...]}

``version`` comes from the show's change counter, so versions of different
seats of one show are comparable. ``ga: true`` marks general-admission units:
they change section counts only. Kept apart from the hub so publishers can
import it without pulling in the hub.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

SEAT_STATUSES = frozenset({"A", "H", "S", "B"})  # available, held, sold, blocked


def seat_channel(show_id: str) -> str:
    return f"seats:{show_id}"


@dataclass(frozen=True, slots=True)
class PublishedSeatChange:
    seat_id: str
    section_id: str
    status: str
    version: int
    ga: bool = False


def encode_seat_event(show_id: str, changes: Iterable[PublishedSeatChange]) -> str:
    """The JSON string to publish (the bus carries str only)."""
    payload = {
        "showId": show_id,
        "changes": [
            {"seatId": c.seat_id, "sectionId": c.section_id, "status": c.status, "version": c.version, "ga": c.ga}
            for c in changes
        ],
    }
    return orjson.dumps(payload).decode()


def decode_seat_event(message: str) -> tuple[str, list[PublishedSeatChange]]:
    """Parse and validate one notification; ValueError if anything is malformed.

    All-or-nothing on purpose: a consumer that drops a bad message resynchronises
    from the database rather than applying half of it.
    """
    try:
        payload = orjson.loads(message)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ValueError("seat event must be a JSON object")
    show_id = payload.get("showId")
    raw_changes = payload.get("changes")
    if not isinstance(show_id, str) or not isinstance(raw_changes, list):
        raise ValueError("seat event needs a string showId and a changes list")
    changes = []
    for raw in raw_changes:
        if not isinstance(raw, dict):
            raise ValueError("each change must be an object")
        seat_id, section_id = raw.get("seatId"), raw.get("sectionId")
        status, version, ga = raw.get("status"), raw.get("version"), raw.get("ga", False)
        if isinstance(seat_id, int) and not isinstance(seat_id, bool):
            seat_id = str(seat_id)  # tolerate numeric ids from SQL
        if not isinstance(seat_id, str) or not isinstance(section_id, str):
            raise ValueError(f"bad seatId/sectionId in {raw!r}")
        if status not in SEAT_STATUSES:
            raise ValueError(f"bad status in {raw!r}")
        if not isinstance(version, int) or isinstance(version, bool) or not isinstance(ga, bool):
            raise ValueError(f"bad version/ga in {raw!r}")
        changes.append(PublishedSeatChange(seat_id, section_id, status, version, ga))
    return show_id, changes
