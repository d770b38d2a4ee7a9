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
        WHERE o.status = 'confirmed' AND {show_o} GROUP BY o.show_id, p.seat_id HAVING count(*) > 1""",
    "confirmed order whose places are not all sold to it": """
        SELECT o.show_id, o.id AS order_id, p.seat_id FROM orders o JOIN holds h ON h.id = o.hold_id
        CROSS JOIN LATERAL unnest(h.seat_ids || h.unit_ids) AS p(seat_id)
        LEFT JOIN show_seats ss ON ss.show_id = o.show_id AND ss.id = p.seat_id
        WHERE o.status = 'confirmed' AND {show_o} AND (ss.status IS DISTINCT FROM 'S' OR ss.order_id <> o.id)""",
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
    "refunded order without a refunded payment": """
        SELECT o.show_id, o.id AS order_id, p.status FROM orders o LEFT JOIN payments p ON p.order_id = o.id
        WHERE o.status = 'refunded' AND {show_o} AND (p.id IS NULL OR p.status <> 'refunded')""",
    "disputed order without a captured, disputed payment": """
        SELECT o.show_id, o.id AS order_id, p.status, p.dispute_id FROM orders o
        LEFT JOIN payments p ON p.order_id = o.id
        WHERE o.status = 'disputed' AND {show_o}
          AND (p.id IS NULL OR p.status <> 'succeeded' OR p.dispute_id IS NULL)""",
    "ticket of a refunded, disputed or cancelled order": """
        SELECT o.show_id, o.id AS order_id, t.id AS ticket_id FROM tickets t JOIN orders o ON o.id = t.order_id
        WHERE o.status IN ('refunded', 'disputed', 'cancelled') AND {show_o}""",
    "revoked ticket still issued": """
        SELECT r.show_id, r.ticket_id FROM revoked_tickets r JOIN tickets t ON t.id = r.ticket_id
        JOIN orders o ON o.id = r.order_id WHERE {show_o}""",
    "confirmed order without one ticket per place": """
        SELECT o.show_id, o.id AS order_id, o.ticket_count, count(t.id) AS tickets FROM orders o
        LEFT JOIN tickets t ON t.order_id = o.id WHERE o.status = 'confirmed' AND {show_o}
        GROUP BY o.show_id, o.id, o.ticket_count HAVING count(t.id) <> o.ticket_count""",
    "captured payment of an unconfirmed order, unrefunded for over 10 minutes": """
        SELECT o.show_id, o.id AS order_id, o.status, p.intent_id FROM payments p JOIN orders o ON o.id = p.order_id
        WHERE p.status = 'succeeded' AND o.status NOT IN ('confirmed', 'disputed') AND {show_o}
          AND p.updated_at < now() - interval '10 minutes'""",
    "place both held and ordered": """
        SELECT ss.show_id, ss.id AS seat_id FROM show_seats ss
        WHERE ss.status = 'H' AND ss.order_id IS NOT NULL AND {show_ss}""",
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
