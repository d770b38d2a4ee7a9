"""What transfers and resale mean at the door (issue 20), for booking/door/check_in.py.

- An accepted transfer re-issues the ticket under a new id and barcode; the sender's barcode is on
  `revoked_tickets` (reason 'transferred'), so the door's revocation check refuses it (TICKET_VOID).
- A ticket listed for resale (`tickets.listed`) is never admitted: the trigger
  `tickets_listed_not_admitted` (migration 0013) leaves its row unchanged when any statement sets
  it 'checked_in', so the door's conditional UPDATE admits nothing. Listing locks the ticket row and
  requires `status = 'valid'`, so a listing and a check-in of one ticket never both succeed.
  `is_listed` lets the door say why ("listed for resale") instead of a generic refusal.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

ADMITTABLE = "status = 'valid' AND NOT listed"  # what a check-in's UPDATE may also say explicitly


async def is_listed(conn: AsyncConnection, barcode: str) -> bool:
    """Whether the ticket with this barcode is listed for resale (the door's message: not admitted)."""
    return bool((await conn.execute(text("SELECT listed FROM tickets WHERE barcode = :b"), {"b": barcode})).scalar())
