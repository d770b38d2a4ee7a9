"""Direct database helpers for domain-level tests (many users at once, a show to fight over)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.booking.catalog import organize
from boxoffice.booking.records import Viewer
from boxoffice.booking.catalog.venue_layout import RowSpec, SectionSpec


async def bulk_users(engine: AsyncEngine, n: int, role: str = "fan") -> list[Viewer]:
    """Users without the cost of n argon2 hashes (they never log in)."""
    ids = [uuid.uuid4() for _ in range(n)]
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO users (id, email, name, password_hash, role) SELECT i, i::text || '@bulk.test', 'Bulk', "
            "'x', :r FROM unnest(CAST(:ids AS uuid[])) AS i"), {"ids": ids, "r": role})
    return [Viewer(user_id=i, role=role) for i in ids]


async def make_show(engine: AsyncEngine, *, seats: int, ga: int, max_tickets: int = 8, hold_ttl: int = 600,
                    price_tiers: list[organize.TierSpec] | None = None):
    """Row A of `seats` seats in section Hot and `ga` places in Floor, one tier for both unless told;
    returns (show, seat ids in map order, Floor's section id)."""
    org = (await bulk_users(engine, 1, "organizer"))[0]
    venue = await organize.create_venue(engine, org, name="Arena", city="Lisbon", sections=[
        SectionSpec(name="Hot", rows=[RowSpec(label="A", seat_count=seats)]),
        SectionSpec(name="Floor", general_admission_capacity=ga)])
    event = await organize.create_event(engine, org, name="Flash", performer="P", category="c", description=None,
                                        venue_id=venue.id)
    show = await organize.create_show(engine, org, organize.ShowSpec(
        event_id=event.id, starts_at=datetime.now(timezone.utc) + timedelta(days=3), on_sale_at=None,
        currency="EUR", hold_ttl_seconds=hold_ttl, max_tickets_per_user=max_tickets,
        price_tiers=price_tiers or [organize.TierSpec("All", 1000, ["Hot", "Floor"])]))
    await organize.publish_event(engine, org, event.id)
    async with engine.connect() as conn:
        seat_ids = (await conn.execute(text(
            "SELECT id FROM show_seats WHERE show_id = :s AND position IS NOT NULL ORDER BY position"),
            {"s": show.id})).scalars().all()
        floor = (await conn.execute(text("SELECT id FROM sections WHERE venue_id = :v AND general_admission"),
                                    {"v": venue.id})).scalar_one()
    return show, [str(s) for s in seat_ids], str(floor)
