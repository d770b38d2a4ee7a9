"""An order as its fan reads it, in one statement: the order, its payment, what it holds or bought
(seats with their geometry, general-admission lines) and its tickets."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from .history import ORDER_COLS, order_record
from ..pg_calls import Attrs, decoded, driver
from ..records import GALine, OrderRecord, PaymentRecord, SeatView, TicketRecord


@dataclass(frozen=True, slots=True)
class OrderView:
    order: OrderRecord
    payment: PaymentRecord | None
    hold_seat_ids: tuple[int, ...]  # the order's reserved seats, as the fan chose them
    general_admission: tuple[GALine, ...]
    seats: dict[int, SeatView]  # the order's reserved seats and its tickets' seats, in map order
    # In map order, general admission last: the live ones still the buyer's, and VOID ones (status 'void':
    # refunded, cancelled, disputed, resold, or transferred away - the sender's old id) once each.
    tickets: tuple[TicketRecord, ...]


# A hold past its expiry is claimable now, so it reads as available (as booking/inventory/seatmap.py says).
# Tickets: the live rows the buyer still holds (holder_id NULL, or handed back to them), then each revoked
# id once as VOID - unless its id lives on, or a transfer issued it (a recipient's, never the buyer's).
# An order's void tickets are found by ix_revoked_tickets_order.
_ORDER_VIEW = (
    f"SELECT {', '.join('o.' + c.strip() for c in ORDER_COLS.split(','))}, "
    "(SELECT json_build_array(p.id, p.provider, p.status, p.amount_cents, p.currency, p.next_action_url, "
    "  p.failure_reason) FROM payments p WHERE p.order_id = o.id) AS payment, "
    "h.seat_ids AS hold_seat_ids, h.ga_lines, "
    "(SELECT json_agg(json_build_array(k.id, k.seat_id, k.section_id, k.barcode, k.status, k.checked_in_at) "
    "   ORDER BY ss.position NULLS LAST, k.id) FROM ("
    "  SELECT t.id, t.seat_id, t.section_id, t.barcode, t.status, t.checked_in_at, t.place_id FROM tickets t "
    "   WHERE t.order_id = o.id AND COALESCE(t.holder_id, o.user_id) = o.user_id "
    "  UNION ALL SELECT r.ticket_id, r.seat_id, r.section_id, r.barcode, 'void', NULL, r.place_id "
    "   FROM revoked_tickets r WHERE r.show_id = o.show_id AND r.order_id = o.id "
    "   AND NOT EXISTS (SELECT 1 FROM tickets l WHERE l.id = r.ticket_id) "
    "   AND NOT EXISTS (SELECT 1 FROM ticket_transfers x WHERE x.new_ticket_id = r.ticket_id)"
    "  ) k LEFT JOIN show_seats ss ON ss.show_id = o.show_id AND ss.id = k.place_id) AS tickets, "
    "(SELECT json_agg(json_build_array(ss.id, vs.section_id, sec.name, vs.row_label, vs.number, "
    "   CASE WHEN ss.status = 'H' AND ss.hold_expires_at <= now() THEN 'A' WHEN ss.status = 'W' THEN 'H' "
    "   ELSE ss.status END, ss.version, "
    "   ss.price_cents, vs.accessible, vs.obstructed, vs.x, vs.y) ORDER BY ss.position) "
    "  FROM show_seats ss JOIN venue_seats vs ON vs.id = ss.venue_seat_id JOIN sections sec ON sec.id = vs.section_id "
    "  WHERE ss.show_id = o.show_id AND ss.position IS NOT NULL AND ss.id = ANY(h.seat_ids || ARRAY("
    "    SELECT t.seat_id FROM tickets t WHERE t.order_id = o.id AND t.seat_id IS NOT NULL) || ARRAY("
    "    SELECT r.seat_id FROM revoked_tickets r WHERE r.show_id = o.show_id AND r.order_id = o.id "
    "    AND r.seat_id IS NOT NULL))) AS seats "
    "FROM orders o LEFT JOIN holds h ON h.id = o.hold_id WHERE o.id = $1")


async def order_view(engine: AsyncEngine, order_id: uuid.UUID) -> OrderView | None:
    async with driver(engine) as db:
        row = await db.fetchrow(_ORDER_VIEW, order_id)
    return None if row is None else _view(row)


def _view(row: Any) -> OrderView:
    order = order_record(Attrs(row))
    p = decoded(row["payment"])
    payment = None if p is None else PaymentRecord(
        id=uuid.UUID(p[0]), order_id=order.id, provider=p[1], status=p[2], amount_cents=p[3], currency=p[4],
        next_action_url=p[5], failure_reason=p[6])
    seats = {s[0]: SeatView(s[0], uuid.UUID(s[1]), s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], float(s[10]),
                            float(s[11]))
             for s in decoded(row["seats"]) or []}
    tickets = tuple(TicketRecord(id=uuid.UUID(t[0]), order_id=order.id, seat_id=t[1], section_id=uuid.UUID(t[2]),
                                 barcode=t[3], status=t[4],
                                 checked_in_at=None if t[5] is None else datetime.fromisoformat(t[5]))
                    for t in decoded(row["tickets"]) or [])
    lines = tuple(GALine(uuid.UUID(g["sectionId"]), g["quantity"], g["priceCents"])
                  for g in decoded(row["ga_lines"]) or [])
    return OrderView(order=order, payment=payment, hold_seat_ids=tuple(row["hold_seat_ids"] or ()),
                     general_admission=lines, seats=seats, tickets=tickets)


class OrderViewOnce:
    """An order's view, read at most once however many of its fields ask for it (at once, too)."""

    __slots__ = ("_read",)

    def __init__(self, view: OrderView | None = None) -> None:
        self._read: asyncio.Future[OrderView | None] | None = None
        if view is not None:
            self._read = asyncio.get_running_loop().create_future()
            self._read.set_result(view)

    async def get(self, engine: AsyncEngine, order_id: uuid.UUID) -> OrderView | None:
        if self._read is None:
            self._read = asyncio.ensure_future(order_view(engine, order_id))
        # Shielded: one field's cancellation must not cancel the read the others wait on.
        return await asyncio.shield(self._read)
