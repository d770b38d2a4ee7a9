"""The inventory and money invariants, checked over the database (`boxoffice audit`).

A captured payment of a cancelled order is normal for a few minutes (its refund is on its
way, and `boxoffice reconcile` retries it); left longer, it is a failure. A refunded or disputed
order's places stay sold to it once its show has started (they went back on sale only before);
its tickets are void and on the revocation list."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Each check is a query returning the offending rows; an empty result means it holds.
CHECKS: dict[str, str] = {
    "held place without exactly one active hold of its show listing it": """
        SELECT ss.show_id, ss.id AS seat_id, ss.hold_id FROM show_seats ss
        LEFT JOIN holds h ON h.id = ss.hold_id AND h.show_id = ss.show_id AND h.status = 'active'
             AND ss.id = ANY(h.seat_ids || h.unit_ids)
        WHERE ss.status = 'H' AND {show_ss} AND h.id IS NULL""",
    "sold place not owned by a confirmed order of its show (or a voided one of a show that started)": """
        SELECT ss.show_id, ss.id AS seat_id, ss.order_id FROM show_seats ss
        LEFT JOIN orders o ON o.id = ss.order_id AND o.show_id = ss.show_id AND (o.status = 'confirmed'
             OR (o.status IN ('refunded', 'disputed')
                 AND (SELECT sh.starts_at <= now() FROM shows sh WHERE sh.id = ss.show_id)))
        WHERE ss.status = 'S' AND {show_ss} AND o.id IS NULL""",
    "place in two confirmed orders": """
        SELECT o.show_id, p.seat_id, array_agg(o.id) AS orders FROM orders o JOIN holds h ON h.id = o.hold_id
        CROSS JOIN LATERAL unnest(h.seat_ids || h.unit_ids) AS p(seat_id)
        WHERE o.status = 'confirmed' AND {show_o} AND NOT EXISTS (SELECT 1 FROM revoked_tickets rv WHERE rv.order_id = o.id AND rv.place_id = p.seat_id AND rv.reason = 'resold')
        GROUP BY o.show_id, p.seat_id HAVING count(*) > 1""",
    "confirmed order whose places are not all sold to it": """
        SELECT o.show_id, o.id AS order_id, p.seat_id FROM orders o JOIN holds h ON h.id = o.hold_id
        CROSS JOIN LATERAL unnest(h.seat_ids || h.unit_ids) AS p(seat_id)
        LEFT JOIN show_seats ss ON ss.show_id = o.show_id AND ss.id = p.seat_id
        WHERE o.status = 'confirmed' AND {show_o} AND (ss.status IS DISTINCT FROM 'S' OR ss.order_id <> o.id)
          AND NOT EXISTS (SELECT 1 FROM revoked_tickets rv WHERE rv.order_id = o.id AND rv.place_id = p.seat_id AND rv.reason = 'resold')""",
    "general admission section over capacity": """
        SELECT ss.show_id, ss.section_id, count(*) AS places, sec.capacity FROM show_seats ss
        JOIN sections sec ON sec.id = ss.section_id
        WHERE ss.position IS NULL AND {show_ss} GROUP BY ss.show_id, ss.section_id, sec.capacity
        HAVING count(*) FILTER (WHERE ss.status IN ('H', 'S')) > sec.capacity OR count(*) <> sec.capacity""",
    "confirmed order without a succeeded payment of its total": """
        SELECT o.show_id, o.id AS order_id, o.total_cents, p.status, p.amount_cents FROM orders o
        LEFT JOIN payments p ON p.order_id = o.id
        WHERE o.status = 'confirmed' AND {show_o}
          AND (p.id IS NULL OR p.status <> 'succeeded' OR p.amount_cents <> o.total_cents)""",
    # A refund owed to a voided order (booking/refunds/) is on its way until the 10-minute check below.
    "refunded order without a refunded payment or a refund on its way": """
        SELECT o.show_id, o.id AS order_id, p.status FROM orders o LEFT JOIN payments p ON p.order_id = o.id
        WHERE o.status = 'refunded' AND {show_o} AND (p.id IS NULL OR (p.status <> 'refunded' AND NOT EXISTS (
          SELECT 1 FROM order_refunds r WHERE r.order_id = o.id AND r.status = 'pending')))""",
    "cancelled show keeping a confirmed order or money, its refund job done or 10 minutes old": """
        SELECT o.show_id, o.id AS order_id, o.status, p.status AS payment FROM orders o
        JOIN shows sh ON sh.id = o.show_id LEFT JOIN show_cancellations c ON c.show_id = o.show_id
        LEFT JOIN payments p ON p.order_id = o.id
        WHERE sh.status = 'cancelled' AND {show_o}
          AND (c.status = 'done' OR sh.cancelled_at < now() - interval '10 minutes')
          AND (o.status IN ('confirmed', 'pending_payment') OR (p.status = 'succeeded' AND o.status <> 'disputed'))""",
    "disputed order without a captured, disputed payment": """
        SELECT o.show_id, o.id AS order_id, p.status, p.dispute_id FROM orders o
        LEFT JOIN payments p ON p.order_id = o.id
        WHERE o.status = 'disputed' AND {show_o}
          AND (p.id IS NULL OR p.status <> 'succeeded' OR p.dispute_id IS NULL)""",
    "ticket of a refunded, disputed or cancelled order": """
        SELECT o.show_id, o.id AS order_id, t.id AS ticket_id FROM tickets t JOIN orders o ON o.id = t.order_id
        WHERE o.status IN ('refunded', 'disputed', 'cancelled') AND {show_o}""",
    "revoked ticket still issued": """
        SELECT r.show_id, r.ticket_id FROM revoked_tickets r JOIN tickets t ON t.barcode = r.barcode
        JOIN orders o ON o.id = r.order_id WHERE {show_o}""",
    # A resold place's ticket is the buyer's; the seller's order keeps its count through the
    # revoked ('resold') ticket (booking/after_sale/). A transferred ticket stays on its order.
    "confirmed order without one ticket per place": """
        SELECT o.show_id, o.id AS order_id, o.ticket_count, count(t.id) AS tickets FROM orders o
        LEFT JOIN tickets t ON t.order_id = o.id WHERE o.status = 'confirmed' AND {show_o}
        GROUP BY o.show_id, o.id, o.ticket_count HAVING count(t.id) + (SELECT count(*) FROM revoked_tickets rv
          WHERE rv.order_id = o.id AND rv.reason = 'resold') <> o.ticket_count""",
    "ticket whose place is not sold to its order (a seat has one valid ticket or none)": """
        SELECT t.show_id, t.place_id, t.id AS ticket_id, t.order_id, ss.status, ss.order_id AS place_order
        FROM tickets t LEFT JOIN show_seats ss ON ss.show_id = t.show_id AND ss.id = t.place_id
        JOIN orders o ON o.id = t.order_id
        WHERE {show_o} AND (ss.status IS DISTINCT FROM 'S' OR ss.order_id IS DISTINCT FROM t.order_id)""",
    # Per listing: the buyer paid the listing price, and the seller got that back (or will within minutes).
    "resale money that does not add up (buyer paid = seller refunded)": """
        SELECT l.show_id, l.id AS listing_id, l.price_cents, o.total_cents, p.status, p.amount_cents,
               l.refund_status, l.refunded_cents FROM resale_listings l
        JOIN orders o ON o.id = l.buyer_order_id LEFT JOIN payments p ON p.order_id = o.id
        WHERE l.status = 'sold' AND {show_o}
          AND (o.total_cents <> l.price_cents OR p.status IS NULL OR p.status NOT IN ('succeeded', 'refunded')
               OR p.amount_cents <> l.price_cents
               OR (l.refund_status = 'refunded' AND l.refunded_cents IS DISTINCT FROM l.price_cents)
               OR (l.refund_status = 'pending' AND l.ended_at < now() - interval '10 minutes')
               -- no payout only while the seller's chargeback stands
               OR (l.refund_status = 'disputed' AND NOT EXISTS (SELECT 1 FROM payments sp
                   WHERE sp.order_id = l.seller_order_id AND sp.dispute_status IN (
                     'warning_needs_response', 'warning_under_review', 'needs_response', 'under_review', 'lost'))))""",
    "captured payment of an unconfirmed order, unrefunded for over 10 minutes": """
        SELECT o.show_id, o.id AS order_id, o.status, p.intent_id FROM payments p JOIN orders o ON o.id = p.order_id
        WHERE p.status = 'succeeded' AND o.status NOT IN ('confirmed', 'disputed') AND {show_o}
          AND p.updated_at < now() - interval '10 minutes'""",
    "place both held and ordered": """
        SELECT ss.show_id, ss.id AS seat_id FROM show_seats ss
        WHERE ss.status = 'H' AND ss.order_id IS NOT NULL AND {show_ss}""",
    # The door (booking/door/check_in.py): only a ticket of a paid order ever admits anyone.
    "checked-in ticket of an order never confirmed": """
        SELECT o.show_id, o.id AS order_id, t.id AS ticket_id FROM tickets t JOIN orders o ON o.id = t.order_id
        WHERE t.status = 'checked_in' AND (o.confirmed_at IS NULL OR t.checked_in_at < o.confirmed_at) AND {show_o}""",
    # Waitlist (booking/waitlist/offers.py): parked seats wait one offer round at most; run the audit quiet.
    "seat parked for the waitlist of a show nobody waits for": """
        SELECT ss.show_id, ss.id AS seat_id FROM show_seats ss
        WHERE ss.status = 'W' AND {show_ss} AND NOT EXISTS (SELECT 1 FROM waitlist_entries w
              WHERE w.show_id = ss.show_id AND w.status = 'waiting')""",
    "waitlist entry offered without an active hold of its fan for its show": """
        SELECT o.show_id, o.id AS entry_id, o.offer_hold_id FROM waitlist_entries o
        LEFT JOIN holds h ON h.id = o.offer_hold_id AND h.user_id = o.user_id AND h.show_id = o.show_id
             AND h.status = 'active'
        WHERE o.status = 'offered' AND {show_o} AND h.id IS NULL""",
    "place in two waitlist offers at once": """
        SELECT o.show_id, p.seat_id, array_agg(o.id) AS entries FROM waitlist_entries o
        JOIN holds h ON h.id = o.offer_hold_id AND h.status = 'active'
        CROSS JOIN LATERAL unnest(h.seat_ids || h.unit_ids) AS p(seat_id)
        WHERE o.status = 'offered' AND {show_o} GROUP BY o.show_id, p.seat_id HAVING count(*) > 1""",
}


@dataclass
class AuditReport:
    failures: dict[str, list[dict[str, object]]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.failures


async def audit(engine: AsyncEngine, show_id: uuid.UUID | None = None,
                extra_checks: dict[str, str] | None = None) -> AuditReport:
    report = AuditReport()
    checks = {**CHECKS, **(extra_checks or {})}
    filters = {"show_ss": "ss.show_id = :show" if show_id else "true",
               "show_o": "o.show_id = :show" if show_id else "true"}
    async with engine.connect() as conn:
        for name, sql in checks.items():
            rows = (await conn.execute(text(sql.format(**filters) + " LIMIT 100"),
                                       {"show": show_id} if show_id else {})).mappings().all()
            if rows:
                report.failures[name] = [dict(r) for r in rows]
    return report
