"""`boxoffice demo`: venues in their own time zones, shows at plausible local evening times."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import text

from boxoffice.db import create_engine
from boxoffice.demo import load_demo


async def test_demo_shows_start_in_the_evening_where_they_are(private_database_url: str) -> None:
    engine = create_engine(private_database_url, pool_size=2, max_overflow=0)
    try:
        assert (await load_demo(engine, stadium_rows=2)).startswith("demo: loaded")
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT e.name, v.city, v.time_zone, s.starts_at, s.currency FROM shows s "
                "JOIN events e ON e.id = s.event_id JOIN venues v ON v.id = s.venue_id ORDER BY s.starts_at"))).all()
    finally:
        await engine.dispose()
    zones = {r.city: r.time_zone for r in rows}
    assert zones == {"Lisbon": "Europe/Lisbon", "Porto": "Europe/Lisbon", "New York": "America/New_York"}
    local = {(r.name, r.starts_at.astimezone(ZoneInfo(r.time_zone)).strftime("%H:%M")) for r in rows}
    assert local == {("Late Night Jazz", "22:00"), ("Hamlet", "19:30"), ("Night Owls: Stadium Tour", "21:00"),
                     ("Harbour Derby", "20:15")}
    # Not "now + 20 h" in UTC any more: the club's 22:00 is 02:00 or 03:00 UTC the next day.
    jazz = next(r for r in rows if r.name == "Late Night Jazz")
    assert jazz.starts_at.astimezone(ZoneInfo("UTC")).hour in (2, 3) and jazz.currency == "USD"
