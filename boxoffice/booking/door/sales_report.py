"""A show's sales figures, read from the rows that are the sales (never a second bookkeeping).

Places (capacity, sold, held, available) are counted on `show_seats`, check-ins on `tickets`, money
on `orders`: gross is what every order ever confirmed for the show charged, resales included,
refunded what of it Stripe has paid back since (refunds once made, not while owed, and what resales
paid back to their sellers), charged back what buyers' banks took back in disputes the box office
has not won (so net = gross - refunded - charged back); a section's gross is what those orders paid
for the places they bought in it (a resale its price, not the face value), so the sections add up
to the gross. The timeline counts orders by the time they were confirmed, refunded later or not:
it is the on-sale as it happened. One statement for the figures, one for the timeline (only when
asked for).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from ..after_sale.records import RESALE_PAID_BACK, paid_for_place
from ..errors import InvalidInput
from ..pg_calls import driver
from ..records import ShowRecord, Viewer
from .staff import organizes

MIN_BUCKET_S = 60
MAX_BUCKET_S = 366 * 86_400
MAX_BUCKETS = 5_000  # the newest this many non-empty buckets: bounds the answer, whatever the bucket size


@dataclass(frozen=True, slots=True)
class SectionSalesRecord:
    section_id: uuid.UUID
    name: str
    capacity: int
    sold: int
    checked_in: int
    gross_cents: int


@dataclass(frozen=True, slots=True)
class SalesReportRecord:
    show_id: uuid.UUID
    currency: str
    capacity: int
    sold: int
    held: int
    available: int
    checked_in: int
    gross_cents: int
    refunded_cents: int
    charged_back_cents: int
    by_section: tuple[SectionSalesRecord, ...]


@dataclass(frozen=True, slots=True)
class SalesBucketRecord:
    start: datetime
    orders: int
    tickets: int
    gross_cents: int


# An order's places are its hold's: reserved seats and general-admission units (show_seats ids). The
# show's places are read once (MATERIALIZED) and joined by hash: a show of 50,000 places costs one
# scan of them, not a lookup per place sold, whatever the planner's statistics say.
_FIGURES = (
    "WITH seats AS MATERIALIZED (SELECT id, section_id, status, hold_expires_at, price_cents, order_id "
    "  FROM show_seats WHERE show_id = $1), "
    # Sold: by a confirmed order. Once the show has started, a refunded order's places stay with it
    # (the record of who sat there), neither sold nor for sale.
    "confirmed AS (SELECT id FROM orders WHERE show_id = $1 AND status = 'confirmed'), "
    "places AS (SELECT section_id, count(*) AS capacity, count(k.id) FILTER (WHERE status = 'S') AS sold, "
    # 'W': parked for the waitlist (booking/waitlist/offers.py), nobody's to buy: counted as held.
    "  count(*) FILTER (WHERE status = 'H' AND hold_expires_at > now() OR status = 'W') AS held, "
    "  count(*) FILTER (WHERE status = 'A' OR status = 'H' AND hold_expires_at <= now()) AS available "
    "  FROM seats LEFT JOIN confirmed k ON k.id = seats.order_id GROUP BY section_id), "
    "checked AS (SELECT section_id, count(*) AS n FROM tickets WHERE show_id = $1 AND status = 'checked_in' "
    "  GROUP BY section_id), "
    f"bought AS (SELECT s.section_id, sum({paid_for_place('o', 's.price_cents')}) AS gross FROM orders o "
    "  JOIN holds h ON h.id = o.hold_id "
    "  CROSS JOIN LATERAL unnest(h.seat_ids || h.unit_ids) AS p(id) JOIN seats s ON s.id = p.id "
    "  WHERE o.show_id = $1 AND o.confirmed_at IS NOT NULL GROUP BY s.section_id), "
    # Refunded: what Stripe has paid back, not what is owed. A refund (booking/refunds/) counts once
    # it succeeded, for what it owed; an order refunded from Stripe's side (no refund of ours) for what
    # was left of its charge; and resale payouts once made.
    "money AS (SELECT coalesce(sum(o.total_cents), 0) AS gross, "
    "  coalesce(sum(CASE WHEN r.order_id IS NOT NULL THEN CASE WHEN r.status = 'succeeded' THEN r.amount_cents END "
    "    WHEN o.status = 'refunded' AND p.status = 'refunded' THEN o.total_cents - (SELECT "
    "      coalesce(sum(l.refunded_cents), 0) FROM resale_listings l WHERE l.seller_order_id = o.id "
    f"      AND l.refund_status = 'refunded') END), 0) + {RESALE_PAID_BACK} AS refunded, "
    # A dispute takes the whole charge back until the box office wins it (checkout/disputes.py).
    "  coalesce(sum(o.total_cents) FILTER (WHERE o.status = 'disputed' "
    "    AND p.dispute_status IS DISTINCT FROM 'won' AND p.dispute_status IS DISTINCT FROM 'warning_closed'), 0) "
    "    AS charged_back "
    "  FROM orders o LEFT JOIN order_refunds r ON r.order_id = o.id LEFT JOIN payments p ON p.order_id = o.id "
    "  WHERE o.show_id = $1 AND o.confirmed_at IS NOT NULL) "
    "SELECT sec.id, sec.name, p.capacity, p.sold, p.held, p.available, coalesce(c.n, 0) AS checked_in, "
    "  coalesce(b.gross, 0) AS section_gross, m.gross, m.refunded, m.charged_back "
    "FROM money m LEFT JOIN places p ON true LEFT JOIN sections sec ON sec.id = p.section_id "
    "LEFT JOIN checked c ON c.section_id = p.section_id LEFT JOIN bought b ON b.section_id = p.section_id "
    "ORDER BY sec.position, sec.id")

# Buckets are cut on the venue's clock (its midnights, as the CSV's times read), across DST too:
# the wall-clock time is binned, and each bucket's start read back as an instant in the zone.
_TIMELINE = (
    "WITH zone AS (SELECT v.time_zone AS tz FROM shows s JOIN venues v ON v.id = s.venue_id WHERE s.id = $1) "
    "SELECT start AT TIME ZONE (SELECT tz FROM zone) AS start, orders, tickets, gross FROM ("
    "  SELECT date_bin(make_interval(secs => $2), confirmed_at AT TIME ZONE (SELECT tz FROM zone), "
    "  TIMESTAMP '2000-01-01 00:00:00') AS start, count(*) AS orders, sum(ticket_count) AS tickets, "
    "  sum(total_cents) AS gross FROM orders WHERE show_id = $1 AND confirmed_at IS NOT NULL "
    "  GROUP BY 1 ORDER BY 1 DESC LIMIT $3) AS newest ORDER BY newest.start")


async def sales_report(engine: AsyncEngine, show_id: uuid.UUID, currency: str) -> SalesReportRecord:
    """The show's figures now. The caller checks who may read them (Show.salesReport)."""
    async with driver(engine) as db:
        rows = await db.fetch(_FIGURES, show_id)
    sections = tuple(SectionSalesRecord(section_id=r["id"], name=r["name"], capacity=r["capacity"], sold=r["sold"],
                                        checked_in=r["checked_in"], gross_cents=int(r["section_gross"]))
                     for r in rows if r["id"] is not None)
    first = rows[0]
    return SalesReportRecord(
        show_id=show_id, currency=currency, capacity=sum(s.capacity for s in sections),
        sold=sum(s.sold for s in sections), held=sum(r["held"] or 0 for r in rows),
        available=sum(r["available"] or 0 for r in rows), checked_in=sum(s.checked_in for s in sections),
        gross_cents=int(first["gross"]), refunded_cents=int(first["refunded"]),
        charged_back_cents=int(first["charged_back"]), by_section=sections)


async def sales_timeline(engine: AsyncEngine, show_id: uuid.UUID, bucket_seconds: int) -> list[SalesBucketRecord]:
    """Confirmed orders per bucket of `bucket_seconds` (aligned on the venue's midnights), oldest first;
    only buckets with sales, the newest MAX_BUCKETS of them."""
    if not MIN_BUCKET_S <= bucket_seconds <= MAX_BUCKET_S:
        raise InvalidInput(f"bucketSeconds is between {MIN_BUCKET_S} and {MAX_BUCKET_S:,}.", field="bucketSeconds")
    async with driver(engine) as db:
        rows = await db.fetch(_TIMELINE, show_id, float(bucket_seconds), MAX_BUCKETS)
    return [SalesBucketRecord(start=r["start"], orders=r["orders"], tickets=int(r["tickets"]),
                              gross_cents=int(r["gross"])) for r in rows]


async def report_for(engine: AsyncEngine, viewer: Viewer | None, show: ShowRecord) -> SalesReportRecord | None:
    """The figures for the show's organizer and admins; None for anyone else (no error: the field
    is simply empty for them, as the contract says)."""
    if viewer is None or not organizes(viewer, show):
        return None
    return await sales_report(engine, show.id, show.currency)
