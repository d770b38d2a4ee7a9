"""The ticket a caller owns, read (and locked) for a transfer or a listing.

The owner is `tickets.holder_id` once the ticket was transferred, else its order's buyer; only a
confirmed order's tickets are anyone's. A ticket no longer in `tickets` is void (its id is on the
revocation list): its last owner is told TICKET_VOID, anyone else NOT_FOUND (no existence leak).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ..errors import InvalidInput, NotFound
from .problems import ShowIsCancelled, TicketCheckedIn, TicketIsVoid
from .records import paid_for_place

OWNED = (
    "SELECT t.id, t.order_id, t.show_id, t.place_id, t.seat_id, t.section_id, t.barcode, t.status, t.listed, "
    "COALESCE(t.holder_id, o.user_id) AS owner_id, o.user_id AS buyer_id, o.status AS order_status, o.currency, "
    "COALESCE(ss.price_cents, 0) AS face_value_cents, sh.starts_at > now() AS upcoming, sh.status AS show_status, "
    f"{paid_for_place('o', 'COALESCE(ss.price_cents, 0)')} AS paid_cents, "
    "sh.resale_cap_percent FROM tickets t JOIN orders o ON o.id = t.order_id JOIN shows sh ON sh.id = t.show_id "
    "LEFT JOIN show_seats ss ON ss.show_id = t.show_id AND ss.id = t.place_id WHERE t.id = :t")


async def owned_ticket(conn: AsyncConnection, ticket_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool) -> Any:
    """The caller's live ticket of a confirmed order, of a show still to come and not cancelled;
    with `lock`, its row is locked for the rest of the transaction. Raises the typed rejection."""
    row = (await conn.execute(text(OWNED + (" FOR UPDATE OF t" if lock else "")), {"t": ticket_id})).first()
    if row is None or row.owner_id != user_id or row.order_status != "confirmed":
        voided = (await conn.execute(text(
            "SELECT 1 FROM revoked_tickets r JOIN orders o ON o.id = r.order_id WHERE r.ticket_id = :t "
            "AND r.reason <> 'transferred' AND o.user_id = :u LIMIT 1"), {"t": ticket_id, "u": user_id})).first()
        if row is None and voided is not None:
            raise TicketIsVoid("This ticket is void: it was refunded, cancelled or resold.", field="ticketId")
        raise NotFound("No such ticket.", field="ticketId")
    if row.show_status == "cancelled":
        raise ShowIsCancelled("This show was cancelled.", field="ticketId")
    if not row.upcoming:
        raise InvalidInput("This show has started.", field="ticketId")
    if row.status == "checked_in":
        raise TicketCheckedIn("This ticket was used at the door already.", field="ticketId")
    return row
