"""The organizer's sales export: one CSV row per place sold, streamed page by page.

Every order ever confirmed for the show, one row per place it bought (reserved seat or
general-admission place), with when it was confirmed in the venue's time zone and what became of it
(the order's status; the ticket valid, checked in, or void). Pages of PAGE_ORDERS orders, each its own
short statement (keyset on confirmation time and order), so a 50,000-seat export holds
neither a transaction nor more than a page in memory while a slow client reads it.

Cells are CSV-injection safe: a spreadsheet runs a cell starting with = + - @ (or a tab or carriage
return) as a formula, so such a cell gets a leading apostrophe (OWASP's advice); organizers name
sections and venues themselves.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ..after_sale.records import paid_for_place
from ..catalog.browse import get_venues
from ..catalog.venue_time import local_time, zone_abbreviation
from ..checkout.tickets import format_price
from ..pg_calls import driver
from ..records import Viewer
from .staff import organized_show

PAGE_ORDERS = 250  # an order has at most 100 places (max_tickets_per_user): a page is at most 25,000 rows
HEADER = ("order", "time", "section", "row", "seat", "price", "currency", "order_status", "ticket_status")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# A page is the next PAGE_ORDERS orders (index ix_orders_show_confirmed), then their places: each
# page costs the same however far into the show's sales it is.
_PAGE = (
    "SELECT o.id AS order_id, o.confirmed_at, o.status AS order_status, o.currency, p.n, "
    f"  sec.name AS section, vs.row_label, vs.number, {paid_for_place('o', 'ss.price_cents')} AS price_cents, "
    "  t.status AS ticket_status "
    "FROM (SELECT id, confirmed_at, status, currency, hold_id, show_id, total_cents FROM orders "
    "  WHERE show_id = $1 AND confirmed_at IS NOT NULL AND (confirmed_at, id) > ($2, $3) "
    "  ORDER BY confirmed_at, id LIMIT $4) AS o JOIN holds h ON h.id = o.hold_id "
    "CROSS JOIN LATERAL unnest(h.seat_ids || h.unit_ids) WITH ORDINALITY AS p(id, n) "
    "JOIN show_seats ss ON ss.show_id = o.show_id AND ss.id = p.id JOIN sections sec ON sec.id = ss.section_id "
    "LEFT JOIN venue_seats vs ON vs.id = ss.venue_seat_id "
    "LEFT JOIN tickets t ON t.show_id = o.show_id AND t.place_id = p.id AND t.order_id = o.id "
    "ORDER BY o.confirmed_at, o.id, p.n")
_START = (datetime.fromisoformat("1970-01-01T00:00:00+00:00"), uuid.UUID(int=0))


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _line(cells: tuple[object, ...]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([safe_cell(c) for c in cells])
    return out.getvalue()


def _row(r: Any, time_zone: str) -> tuple[object, ...]:
    local = local_time(r["confirmed_at"], time_zone)
    price = format_price(r["price_cents"], r["currency"]).rsplit(" ", 1)[0].replace(",", "")
    return (r["order_id"], f"{local.strftime('%Y-%m-%d %H:%M:%S')} {zone_abbreviation(local)}", r["section"],
            r["row_label"] or "", r["number"] or "", price, r["currency"], r["order_status"],
            r["ticket_status"] or "void")


async def sales_csv(engine: AsyncEngine, show_id: uuid.UUID, time_zone: str) -> AsyncIterator[str]:
    """The export's text, a header then a page of rows at a time."""
    yield _line(HEADER)
    after = _START
    while True:
        async with driver(engine) as db:
            rows = await db.fetch(_PAGE, show_id, *after, PAGE_ORDERS)
        if not rows:
            return
        yield "".join(_line(_row(r, time_zone)) for r in rows)
        last = rows[-1]
        after = (last["confirmed_at"], last["order_id"])
        if len({r["order_id"] for r in rows}) < PAGE_ORDERS:
            return

async def sales_export(engine: AsyncEngine, viewer: Viewer | None, show_id: uuid.UUID) -> AsyncIterator[str]:
    """The export of a show its caller organizes (NOT_FOUND / FORBIDDEN / UNAUTHENTICATED before
    anything is sent), in its venue's time zone."""
    show = await organized_show(engine, viewer, show_id)
    venue = (await get_venues(engine, [show.venue_id])).get(show.venue_id)
    return sales_csv(engine, show.id, venue.time_zone if venue is not None else "UTC")
