"""The DateTime scalar: strawberry's, refusing a time that has no UTC instant.

strawberry parses with dateutil's isoparse, which accepts 0001-01-01T00:00:00+14:00: a time before
the first instant a datetime can hold in UTC. Any comparison, conversion or query argument made of
it then raised OverflowError in a resolver (an unexpected error, where a typed refusal belongs). Here
such a value is refused as any unreadable DateTime is, while variables are coerced."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import dateutil.parser
from strawberry.schema.types.base_scalars import DateTimeDefinition, wrap_parser
from strawberry.types.scalar import ScalarDefinition


def _parse(value: str) -> datetime:
    parsed = dateutil.parser.isoparse(value)
    if parsed.tzinfo is not None:
        try:
            parsed.astimezone(timezone.utc)
        except OverflowError:
            raise ValueError("It has no instant in UTC (years 1 to 9999).") from None
    return parsed


DATE_TIME: ScalarDefinition = dataclasses.replace(DateTimeDefinition, parse_value=wrap_parser(_parse, "DateTime"))
