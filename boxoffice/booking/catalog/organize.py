"""What organizers do: create venues (with their seat geometry), events and shows, publish events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .browse import get_event, get_show, get_venue
from .currencies import why_not_chargeable, why_not_priced
from ..display_text import check_lines, display_name, display_text
from ..errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from ..records import EventRecord, ShowRecord, VenueRecord, Viewer
from .venue_layout import SectionSpec, lay_out_venue
from .venue_time import parse_time_zone

MAX_VENUE_PLACES = 200_000


def require_organizer(viewer: Viewer | None) -> Viewer:
    if viewer is None:
        raise Unauthenticated("Sign in as an organizer.")
    if not viewer.is_organizer:
        raise Forbidden("Only organizers can do that.")
    return viewer


# How far ahead a show may be listed (and sales have opened at most this long ago): every time of a
# show then has an instant in each venue's zone, and tickets and notifications can print it.
YEARS_AHEAD = timedelta(days=3653)
MAX_ORDER_CENTS = 99_999_999  # Stripe's largest amount in the smallest unit (8 digits)


def _text(value: str, field: str, *, max_len: int = 200) -> str:
    return display_text(value, field, max_len=max_len)


async def create_venue(engine: AsyncEngine, viewer: Viewer | None, *, name: str, city: str,
                       sections: list[SectionSpec], time_zone: str | None = None) -> VenueRecord:
    viewer = require_organizer(viewer)
    name, city = _text(name, "name"), _text(city, "city")
    zone_name = parse_time_zone(time_zone)
    layout = lay_out_venue(sections, max_places=MAX_VENUE_PLACES)
    venue_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO venues (id, name, city, created_by, time_zone) "
                                "VALUES (:id, :n, :c, :u, :z)"),
                           {"id": venue_id, "n": name, "c": city, "u": viewer.user_id, "z": zone_name})
        await conn.execute(
            text("INSERT INTO sections (id, venue_id, name, position, general_admission, capacity) "
                 "SELECT s.id, :v, s.name, s.pos, s.ga, s.cap FROM unnest(CAST(:ids AS uuid[]), "
                 "CAST(:names AS text[]), CAST(:pos AS int[]), CAST(:ga AS bool[]), CAST(:cap AS int[])) "
                 "AS s(id, name, pos, ga, cap)"),
            {"v": venue_id, "ids": [s.id for s in layout.sections], "names": [s.name for s in layout.sections],
             "pos": list(range(len(layout.sections))), "ga": [s.general_admission for s in layout.sections],
             "cap": [s.capacity for s in layout.sections]})
        seats = layout.seats
        if seats:
            # One statement for the whole map: a 50,000-seat venue takes well under a second.
            await conn.execute(
                text("INSERT INTO venue_seats (venue_id, section_id, row_label, number, position, x, y, "
                     "accessible, obstructed) SELECT :v, s.sec, s.row, s.num, s.pos, s.x, s.y, s.acc, s.obs "
                     "FROM unnest(CAST(:sec AS uuid[]), CAST(:row AS text[]), CAST(:num AS text[]), "
                     "CAST(:pos AS int[]), CAST(:x AS float8[]), CAST(:y AS float8[]), CAST(:acc AS bool[]), "
                     "CAST(:obs AS bool[])) AS s(sec, row, num, pos, x, y, acc, obs)"),
                {"v": venue_id, "sec": [s.section_id for s in seats], "row": [s.row for s in seats],
                 "num": [s.number for s in seats], "pos": list(range(len(seats))), "x": [s.x for s in seats],
                 "y": [s.y for s in seats], "acc": [s.accessible for s in seats],
                 "obs": [s.obstructed for s in seats]})
    return VenueRecord(id=venue_id, name=name, city=city, capacity=layout.capacity, created_by=viewer.user_id,
                       time_zone=zone_name)


async def create_event(engine: AsyncEngine, viewer: Viewer | None, *, name: str, performer: str, category: str,
                       description: str | None, venue_id: uuid.UUID) -> EventRecord:
    viewer = require_organizer(viewer)
    name, performer, category = _text(name, "name"), _text(performer, "performer"), _text(category, "category")
    if description is not None and len(description) > 10_000:
        raise InvalidInput("The description is too long (10,000 characters at most).", field="description")
    if description is not None:
        check_lines(description, "description")
    venue = await get_venue(engine, venue_id)
    if venue is None:
        raise NotFound("No such venue.", field="venueId")
    _own_venue(viewer, venue)
    async with engine.begin() as conn:
        row = (await conn.execute(
            text("INSERT INTO events (venue_id, organizer_id, name, performer, category, description) "
                 "VALUES (:v, :o, :n, :p, :c, :d) RETURNING id"),
            {"v": venue_id, "o": viewer.user_id, "n": name, "p": performer, "c": category,
             "d": description})).one()
    return EventRecord(id=row.id, venue_id=venue_id, organizer_id=viewer.user_id, name=name, performer=performer,
                       category=category, description=description, status="draft")


def _own(viewer: Viewer, organizer_id: uuid.UUID) -> None:
    if viewer.role != "admin" and viewer.user_id != organizer_id:
        raise Forbidden("That event belongs to another organizer.")


def _own_venue(viewer: Viewer, venue: VenueRecord) -> None:
    """Events and shows go on at a venue only with its owner's say (the organizer who created it)."""
    if viewer.role != "admin" and viewer.user_id != venue.created_by:
        raise Forbidden("That venue belongs to another organizer.", field="venueId")


async def publish_event(engine: AsyncEngine, viewer: Viewer | None, event_id: uuid.UUID) -> EventRecord:
    viewer = require_organizer(viewer)
    event = await get_event(engine, event_id)
    if event is None:
        raise NotFound("No such event.", field="eventId")
    _own(viewer, event.organizer_id)
    if event.status == "cancelled":
        raise InvalidInput("A cancelled event cannot be published.", field="eventId")
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE events SET status = 'published' WHERE id = :id AND status = 'draft'"),
                           {"id": event_id})
    published = await get_event(engine, event_id)
    assert published is not None
    return published


@dataclass(frozen=True)
class TierSpec:
    name: str
    price_cents: int
    sections: list[str]


@dataclass(frozen=True)
class ShowSpec:
    event_id: uuid.UUID
    starts_at: datetime
    on_sale_at: datetime | None
    currency: str
    hold_ttl_seconds: int | None
    max_tickets_per_user: int | None
    price_tiers: list[TierSpec]


async def create_show(engine: AsyncEngine, viewer: Viewer | None, spec: ShowSpec) -> ShowRecord:
    viewer = require_organizer(viewer)
    event = await get_event(engine, spec.event_id)
    if event is None:
        raise NotFound("No such event.", field="eventId")
    _own(viewer, event.organizer_id)
    venue = await get_venue(engine, event.venue_id)
    assert venue is not None  # events.venue_id is a foreign key
    _own_venue(viewer, venue)  # an event from before venues had owners' say may name anyone's
    why_not = why_not_priced(spec.currency)
    if why_not is not None:
        raise InvalidInput(why_not, field="currency")
    for moment, name in ((spec.starts_at, "startsAt"), (spec.on_sale_at, "onSaleAt")):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput("Times need a time zone offset.", field=name)
    if spec.on_sale_at is not None and spec.on_sale_at > spec.starts_at:
        raise InvalidInput("Sales must open before the show starts.", field="onSaleAt")
    now = datetime.now(timezone.utc)
    if not now < spec.starts_at <= now + YEARS_AHEAD:
        raise InvalidInput(f"A show starts in the future, within {YEARS_AHEAD.days // 365} years.",
                           field="startsAt")
    if spec.on_sale_at is not None and spec.on_sale_at < now - YEARS_AHEAD:
        raise InvalidInput(f"Sales open no earlier than {YEARS_AHEAD.days // 365} years ago.", field="onSaleAt")
    ttl = 600 if spec.hold_ttl_seconds is None else spec.hold_ttl_seconds
    if not 30 <= ttl <= 3600:
        raise InvalidInput("holdTtlSeconds is between 30 and 3600.", field="holdTtlSeconds")
    max_tickets = 8 if spec.max_tickets_per_user is None else spec.max_tickets_per_user
    if not 1 <= max_tickets <= 100:
        raise InvalidInput("maxTicketsPerUser is between 1 and 100.", field="maxTicketsPerUser")
    if not 1 <= len(spec.price_tiers) <= 50:
        raise InvalidInput("A show has 1 to 50 price tiers.", field="priceTiers")
    async with engine.connect() as conn:
        sections = {r.name: r.id for r in (await conn.execute(
            text("SELECT id, name FROM sections WHERE venue_id = :v"), {"v": event.venue_id})).all()}
    tier_ids: list[uuid.UUID] = []
    section_tier: dict[uuid.UUID, tuple[uuid.UUID, int]] = {}
    tier_names: set[str] = set()
    for tier in spec.price_tiers:
        name = _text(tier.name, "priceTiers.name").casefold()
        if name in tier_names:  # fans pick a tier by its name
            raise InvalidInput(f"Two price tiers are named {tier.name.strip()!r}.", field="priceTiers.name")
        tier_names.add(name)
        if not tier.sections:
            raise InvalidInput(f"Price tier {tier.name.strip()!r} prices no section.", field="priceTiers.sections")
        # Every order is paid through Stripe: a free ticket has no payment to confirm, and one order
        # (up to the per-fan limit) must stay within Stripe's largest charge.
        if not 1 <= tier.price_cents <= 10_000_000:
            raise InvalidInput("A price is between 1 and 10,000,000 cents.", field="priceTiers.priceCents")
        if (why_not := why_not_chargeable(spec.currency, tier.price_cents)) is not None:
            raise InvalidInput(why_not, field="priceTiers.priceCents")
        if tier.price_cents * max_tickets > MAX_ORDER_CENTS:
            raise InvalidInput(f"At {max_tickets} tickets per fan, one order at this price would pass the "
                               f"largest charge ({MAX_ORDER_CENTS:,} cents): lower the price or the limit.",
                               field="priceTiers.priceCents")
        tier_id = uuid.uuid4()
        tier_ids.append(tier_id)
        for section_name in map(display_name, tier.sections):  # as createVenue stored the names
            if section_name not in sections:
                raise InvalidInput(f"The venue has no section named {section_name!r}.", field="priceTiers.sections")
            if sections[section_name] in section_tier:
                raise InvalidInput(f"Section {section_name!r} is in two price tiers.", field="priceTiers.sections")
            section_tier[sections[section_name]] = (tier_id, tier.price_cents)
    show_id = uuid.uuid4()
    sequence = f"show_v_{show_id.hex}"
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SEQUENCE "{sequence}" AS integer CACHE 1'))
        await conn.execute(
            text("INSERT INTO shows (id, event_id, venue_id, starts_at, on_sale_at, currency, hold_ttl_seconds, "
                 "max_tickets_per_user, version_sequence) VALUES (:id, :e, :v, :s, :o, :c, :t, :m, :q)"),
            {"id": show_id, "e": event.id, "v": event.venue_id, "s": spec.starts_at, "o": spec.on_sale_at,
             "c": spec.currency, "t": ttl, "m": max_tickets, "q": sequence})
        for pos, (tier, tier_id) in enumerate(zip(spec.price_tiers, tier_ids)):
            await conn.execute(
                text("INSERT INTO price_tiers (id, show_id, name, price_cents, position) VALUES (:i, :s, :n, :p, :o)"),
                {"i": tier_id, "s": show_id, "n": tier.name.strip(), "p": tier.price_cents, "o": pos})
        await conn.execute(
            text("INSERT INTO show_sections (show_id, section_id, price_tier_id, price_cents) "
                 "SELECT :s, sec.id, t.tier, t.price FROM sections sec LEFT JOIN unnest(CAST(:sids AS uuid[]), "
                 "CAST(:tids AS uuid[]), CAST(:prices AS int[])) AS t(sid, tier, price) ON t.sid = sec.id "
                 "WHERE sec.venue_id = :v"),
            {"s": show_id, "v": event.venue_id, "sids": list(section_tier),
             "tids": [t for t, _ in section_tier.values()], "prices": [p for _, p in section_tier.values()]})
        # The whole inventory in two set-based statements: reserved seats, then GA places.
        # Unpriced sections are not on sale: their places are BLOCKED.
        await conn.execute(
            text("INSERT INTO show_seats (show_id, section_id, venue_seat_id, position, status, price_cents) "
                 "SELECT :s, vs.section_id, vs.id, vs.position, "
                 "CASE WHEN ss.price_cents IS NULL THEN 'B' ELSE 'A' END, COALESCE(ss.price_cents, 0) "
                 "FROM venue_seats vs JOIN show_sections ss ON ss.show_id = :s AND ss.section_id = vs.section_id "
                 "WHERE vs.venue_id = :v ORDER BY vs.position"),
            {"s": show_id, "v": event.venue_id})
        await conn.execute(
            text("INSERT INTO show_seats (show_id, section_id, status, price_cents) "
                 "SELECT :s, sec.id, CASE WHEN ss.price_cents IS NULL THEN 'B' ELSE 'A' END, "
                 "COALESCE(ss.price_cents, 0) FROM sections sec "
                 "JOIN show_sections ss ON ss.show_id = :s AND ss.section_id = sec.id "
                 "CROSS JOIN LATERAL generate_series(1, sec.capacity) "
                 "WHERE sec.venue_id = :v AND sec.general_admission"),
            {"s": show_id, "v": event.venue_id})
    show = await get_show(engine, show_id)
    assert show is not None
    return show
