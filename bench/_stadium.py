"""The benchmarks' show: the 50,000-seat stadium built through boxoffice.booking.catalog.organize, fan users with
tokens, and which seats a request takes."""

from __future__ import annotations

import random
import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from _db import connect_retry


def row_label(i: int) -> str:
    letters = string.ascii_uppercase
    return letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]


@dataclass
class ShowLayout:
    show_id: uuid.UUID
    version_sequence: str
    # Seat ids of every row, in map order (section by section, row by row).
    rows: list[list[int]]
    section_ids: list[str]           # reserved sections, in order
    section_of_row: list[int]        # index into section_ids for each row
    ga_section_ids: list[str] = field(default_factory=list)

    @property
    def seat_count(self) -> int:
        return sum(len(r) for r in self.rows)


@dataclass
class Venue:
    organizer_id: uuid.UUID
    event_id: uuid.UUID
    venue_id: uuid.UUID
    shows: list[ShowLayout]


async def build_stadium(db_url: str, *, sections: int = 10, rows: int = 50, seats_per_row: int = 100,
                        ga_capacity: int = 0, shows: int = 1, max_tickets_per_user: int = 100,
                        hold_ttl_seconds: int = 600) -> Venue:
    """Organizer → venue → event → `shows` shows of it → published, through boxoffice.booking.catalog.organize."""
    from sqlalchemy import text

    from boxoffice.booking.accounts import sign_in as accounts
    from boxoffice.booking.catalog import organize
    from boxoffice.booking.records import Viewer
    from boxoffice.booking.catalog.venue_layout import RowSpec, SectionSpec
    from boxoffice.db import create_engine

    engine = create_engine(db_url, pool_size=4)
    try:
        org = await accounts.create_user(engine, email=f"organizer-{secrets.token_hex(3)}@bench.test",
                                         password="bench-organizer-pass", name="Bench Promotions",
                                         role="organizer")
        viewer = Viewer(user_id=org.id, role="organizer")
        specs = [SectionSpec(name=f"Section {101 + i}",
                             rows=[RowSpec(label=row_label(r), seat_count=seats_per_row) for r in range(rows)])
                 for i in range(sections)]
        if ga_capacity:
            specs.append(SectionSpec(name="Field", general_admission_capacity=ga_capacity))
        venue = await organize.create_venue(engine, viewer, name="Bench Stadium", city="Lisbon", sections=specs)
        event = await organize.create_event(engine, viewer, name="Bench Flash Sale", performer="The Benchmarks",
                                            category="concert", description=None, venue_id=venue.id)
        now = datetime.now(timezone.utc)
        tiers = []
        if sections:
            tiers.append(organize.TierSpec("Reserved", 5_000, [f"Section {101 + i}" for i in range(sections)]))
        if ga_capacity:
            tiers.append(organize.TierSpec("Field", 4_000, ["Field"]))
        layouts = []
        for k in range(shows):
            show = await organize.create_show(engine, viewer, organize.ShowSpec(
                event_id=event.id, starts_at=now + timedelta(days=30 + k), on_sale_at=now - timedelta(hours=1),
                currency="EUR", hold_ttl_seconds=hold_ttl_seconds, max_tickets_per_user=max_tickets_per_user,
                price_tiers=tiers))
            layouts.append(show)
        await organize.publish_event(engine, viewer, event.id)
        out: list[ShowLayout] = []
        async with engine.connect() as conn:
            sec_rows = (await conn.execute(text(
                "SELECT id, general_admission FROM sections WHERE venue_id = :v ORDER BY position"),
                {"v": venue.id})).all()
            reserved = [str(r.id) for r in sec_rows if not r.general_admission]
            ga = [str(r.id) for r in sec_rows if r.general_admission]
            index = {s: i for i, s in enumerate(reserved)}
            for show in layouts:
                seat_rows = (await conn.execute(text(
                    "SELECT ss.id, vs.section_id, vs.row_label FROM show_seats ss "
                    "JOIN venue_seats vs ON vs.id = ss.venue_seat_id WHERE ss.show_id = :s "
                    "AND ss.position IS NOT NULL ORDER BY ss.position"), {"s": show.id})).all()
                grouped: list[list[int]] = []
                section_of_row: list[int] = []
                last = None
                for r in seat_rows:
                    key = (r.section_id, r.row_label)
                    if key != last:
                        grouped.append([])
                        section_of_row.append(index[str(r.section_id)])
                        last = key
                    grouped[-1].append(int(r.id))
                out.append(ShowLayout(show.id, show.version_sequence, grouped, reserved, section_of_row, ga))
        return Venue(org.id, event.id, venue.id, out)
    finally:
        await engine.dispose()


async def create_fans(db_url: str, n: int, secret: str, ttl_s: int = 6 * 3600) -> list[tuple[str, str]]:
    """Bulk-inserts n fan users with SQL; returns (user id, bearer token) pairs."""
    from boxoffice.booking.accounts.sign_in import TokenIssuer
    from boxoffice.booking.records import UserRecord

    tag = secrets.token_hex(3)
    conn = await connect_retry(db_url)
    try:
        rows = await conn.fetch(
            "INSERT INTO users (email, name, password_hash, role) SELECT 'fan-' || $1 || '-' || g || '@bench.test', "
            "'Fan ' || g, 'not-a-login', 'fan' FROM generate_series(1, $2) g RETURNING id, email, name, role",
            tag, n)
    finally:
        await conn.close()
    issuer = TokenIssuer(secret, ttl_s)
    return [(str(r["id"]), issuer.issue(UserRecord(id=r["id"], email=r["email"], name=r["name"], role=r["role"])))
            for r in rows]


# ---------------------------------------------------------------- which seats a request takes

def pick_seats(rng: random.Random, rows: list[list[int]], hot_rows: list[list[int]], hot_share: float,
               max_seats: int = 4) -> list[int]:
    """1..max_seats adjacent seats of one row; hot_share of requests go to the hot block."""
    pool = hot_rows if hot_rows and rng.random() < hot_share else rows
    row = pool[rng.randrange(len(pool))]
    n = rng.randint(1, max_seats)
    start = rng.randrange(0, len(row) - n + 1)
    return row[start:start + n]


def hot_block(layout: ShowLayout, seats: int = 200) -> list[list[int]]:
    """The first rows of the first section, `seats` seats in all (two 100-seat rows by default)."""
    out: list[list[int]] = []
    left = seats
    for row in layout.rows:
        if left <= 0:
            break
        out.append(row[:left])
        left -= len(out[-1])
    return out


def fresh_groups(layout: ShowLayout, rng: random.Random, max_seats: int = 4) -> list[list[int]]:
    """Every reserved seat once, in groups of 1..max_seats adjacent seats, shuffled: each hold hits fresh seats."""
    groups = []
    for row in layout.rows:
        i = 0
        while i < len(row):
            n = rng.randint(1, max_seats)
            groups.append(row[i:i + n])
            i += n
    rng.shuffle(groups)
    return groups


async def enable_waiting_room(db_url: str, organizer_id: uuid.UUID, show_id: uuid.UUID) -> None:
    """Turns the show's waiting room on, admitting 1 fan a minute: the server's own promoter barely
    moves the queue while a crowd enters and reads its place."""
    from boxoffice.booking.records import Viewer
    from boxoffice.booking.waiting_room.access import configure_waiting_room
    from boxoffice.db import create_engine
    engine = create_engine(db_url, pool_size=2)
    try:
        await configure_waiting_room(engine, Viewer(user_id=organizer_id, role="organizer"), show_id,
                                     enabled=True, admit_per_minute=1, admission_ttl_seconds=None)
    finally:
        await engine.dispose()
