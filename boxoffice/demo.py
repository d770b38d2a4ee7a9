"""`boxoffice demo`: a stadium (50,000 reserved seats and a GA field), a theatre and a club, on sale now.

Each venue has its time zone (two in Portugal, the club in New York), and shows start at the evening
times a box office would print there (Hamlet at 19:30 in Porto, jazz at 22:00 in New York), so
venue time is visible in every client whatever the zone of the computer it runs on."""

from __future__ import annotations

import string
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .booking.accounts import sign_in as accounts
from .booking.catalog import organize
from .booking.records import VenueRecord, Viewer
from .booking.catalog.venue_layout import RowSpec, SectionSpec

ORGANIZER = ("organizer@demo.boxoffice.test", "demo-organizer-pass", "Demo Promotions")
FAN = ("fan@demo.boxoffice.test", "demo-fan-pass", "Demo Fan")


def _row_label(i: int) -> str:
    letters = string.ascii_uppercase
    return letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]


def _reserved(name: str, rows: int, seats: int) -> SectionSpec:
    return SectionSpec(name=name, rows=[
        RowSpec(label=_row_label(r), seat_count=seats,
                # Front rows have wheelchair places at the aisle; the back rows sit under an overhang.
                accessible_seats=[1, 2, seats - 1, seats] if r == 0 else [],
                obstructed_seats=list(range(1, 11)) if r == rows - 1 else [])
        for r in range(rows)])


def _local_evening(time_zone: str, days: int, at: time) -> datetime:
    """`days` from today (in the venue's zone) at the venue's local clock time `at`, as an aware time."""
    zone = ZoneInfo(time_zone)
    day: date = datetime.now(zone).date() + timedelta(days=days)
    return datetime.combine(day, at, tzinfo=zone)


async def load_demo(engine: AsyncEngine, *, stadium_rows: int = 50) -> str:
    async with engine.connect() as conn:
        exists = (await conn.execute(text("SELECT 1 FROM users WHERE lower(email) = :e"),
                                     {"e": ORGANIZER[0]})).first()
    if exists:
        return "demo: already loaded"
    org = await accounts.create_user(engine, email=ORGANIZER[0], password=ORGANIZER[1], name=ORGANIZER[2],
                                     role="organizer")
    await accounts.create_user(engine, email=FAN[0], password=FAN[1], name=FAN[2])
    viewer = Viewer(user_id=org.id, role="organizer")
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    on_sale = now - timedelta(hours=1)
    portugal, new_york = "Europe/Lisbon", "America/New_York"

    stadium = await organize.create_venue(engine, viewer, name="Harbour Stadium", city="Lisbon", sections=[
        *[_reserved(f"Section {101 + i}", stadium_rows, 100) for i in range(10)],
        SectionSpec(name="Field", general_admission_capacity=5000)], time_zone=portugal)
    theatre = await organize.create_venue(engine, viewer, name="Riverside Theatre", city="Porto", sections=[
        _reserved("Orchestra", 20, 30), _reserved("Mezzanine", 10, 30), _reserved("Balcony", 8, 25),
        SectionSpec(name="Standing", general_admission_capacity=150)], time_zone=portugal)
    club = await organize.create_venue(engine, viewer, name="Basement Club", city="New York", sections=[
        SectionSpec(name="Floor", general_admission_capacity=800)], time_zone=new_york)

    async def event(name: str, performer: str, category: str, venue: VenueRecord, description: str,
                    shows: list[tuple[int, time, list[organize.TierSpec]]], currency: str = "EUR") -> None:
        ev = await organize.create_event(engine, viewer, name=name, performer=performer, category=category,
                                         description=description, venue_id=venue.id)
        for days, at, tiers in shows:
            await organize.create_show(engine, viewer, organize.ShowSpec(
                event_id=ev.id, starts_at=_local_evening(venue.time_zone, days, at), on_sale_at=on_sale,
                currency=currency, hold_ttl_seconds=600, max_tickets_per_user=8, price_tiers=tiers))
        await organize.publish_event(engine, viewer, ev.id)

    stadium_tiers = [organize.TierSpec("Lower bowl", 12_000, [f"Section {101 + i}" for i in range(5)]),
                     organize.TierSpec("Upper bowl", 7_500, [f"Section {106 + i}" for i in range(5)]),
                     organize.TierSpec("Field", 9_000, ["Field"])]
    await event("Night Owls: Stadium Tour", "The Night Owls", "concert", stadium,
                "Two hours of synth-pop under the stars.", [(30, time(21, 0), stadium_tiers)])
    await event("Harbour Derby", "Lisbon FC vs Porto Rovers", "sports", stadium,
                "The season's big derby.", [(45, time(20, 15), stadium_tiers)])
    theatre_tiers = [organize.TierSpec("Premium", 8_500, ["Orchestra"]),
                     organize.TierSpec("Standard", 5_500, ["Mezzanine"]),
                     organize.TierSpec("Value", 3_000, ["Balcony", "Standing"])]
    await event("Hamlet", "Riverside Players", "theatre", theatre, "Shakespeare's tragedy, uncut.",
                [(days, time(19, 30), theatre_tiers) for days in (10, 11, 12)])
    await event("Late Night Jazz", "Quartet Azul", "concert", club, "Standing room only.",
                [(5, time(22, 0), [organize.TierSpec("Entry", 2_000, ["Floor"])])], currency="USD")
    return (f"demo: loaded 3 venues (stadium {stadium.capacity} places), 4 events, 6 shows; "
            f"organizer {ORGANIZER[0]} / {ORGANIZER[1]}, fan {FAN[0]} / {FAN[1]}")
