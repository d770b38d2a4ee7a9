"""Page cursors: an instant and an id, as the API gave them out (base64 of "<ISO instant>|<uuid>").

A cursor comes back from the client, so it is parsed here whole before any statement sees it: a
stamp PostgreSQL would refuse (no offset, out of its range, an ISO week date) is the client's error,
never a database error.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime, timezone

from .errors import InvalidInput

NOT_OURS = "That cursor is not one this API gave out."
FOREVER = "infinity"  # an event with no upcoming show sorts last


def encode_cursor(instant: datetime | None, item_id: uuid.UUID) -> str:
    raw = f"{instant.isoformat() if instant is not None else FOREVER}|{item_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str, *, field: str = "after") -> tuple[datetime | None, uuid.UUID]:
    """(the instant in UTC, or None for FOREVER; the id), or InvalidInput."""
    try:
        stamp, item_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        instant = None if stamp == FOREVER else datetime.fromisoformat(stamp)
        if instant is not None:
            if instant.tzinfo is None:
                raise ValueError("no offset")
            instant = instant.astimezone(timezone.utc)  # OverflowError past year 1 or 9999
        return instant, uuid.UUID(item_id)
    except (ValueError, UnicodeError, OverflowError, binascii.Error):
        raise InvalidInput(NOT_OURS, field=field) from None
