"""Venue time: a venue's IANA zone, and show times as its fans read them (tickets, mails).

Times are stored in UTC; everything a fan sees outside the browser is written in the venue's zone
with its abbreviation ("Saturday 14 March 2026, 20:00 WET"), so a ticket printed in another
country still says when the doors open where the show is.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from ..errors import InvalidInput

DEFAULT_TIME_ZONE = "UTC"
MAX_ZONE_CHARS = 64  # the longest tzdata name is about 32 characters
# tzdata ships these, but they name no place: "Factory" is a placeholder, "localtime" the server's own.
_NOT_PLACES = frozenset({"Factory", "localtime"})


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_PLACES


def parse_time_zone(value: str | None, *, field: str = "timeZone") -> str:
    """The venue's zone name as given (None: UTC); an unknown one (or "") is InvalidInput."""
    if value is None:
        return DEFAULT_TIME_ZONE
    name = value.strip()
    if len(name) > MAX_ZONE_CHARS or name not in _known_zones():
        raise InvalidInput("timeZone is an IANA time zone name such as Europe/Lisbon or America/New_York.",
                           field=field)
    return name


def zone(name: str) -> ZoneInfo | timezone:
    """The zone of a stored name; UTC for one this server's tzdata no longer knows (never an error
    on a ticket or a mail: the time is still right, only written in UTC)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def local_time(at: datetime, time_zone: str) -> datetime:
    return at.astimezone(zone(time_zone))


def zone_abbreviation(local: datetime) -> str:
    """WET, EST, CEST...; zones without a letter abbreviation give an offset such as +03."""
    return local.tzname() or local.strftime("%z")


def venue_date(at: datetime, time_zone: str) -> str:
    return local_time(at, time_zone).strftime("%A %d %B %Y")


def venue_clock(at: datetime, time_zone: str) -> str:
    local = local_time(at, time_zone)
    return f"{local.strftime('%H:%M')} {zone_abbreviation(local)}"


def venue_when(at: datetime, time_zone: str) -> str:
    """e.g. "Saturday 14 March 2026, 20:00 WET"."""
    return f"{venue_date(at, time_zone)}, {venue_clock(at, time_zone)}"
