"""Turning domain outcomes into result-union members."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..booking.errors import BookingError, DatabaseUnavailable, InvalidInput
from ..db import database_unavailable
from ..schema.results import Rejected, SeatsUnavailable, problem, rejected

T = TypeVar("T")
R = TypeVar("R")


async def attempt(call: Callable[[], Awaitable[T]], wrap: Callable[[T], R]) -> R | Rejected:
    """Runs one domain call; expected failures become Rejected, anything else stays an exception."""
    try:
        return wrap(await call())
    except BookingError as err:
        return rejected(err)
    except Exception as err:
        if database_unavailable(err):
            return rejected(DatabaseUnavailable())
        raise


async def attempt_hold(call: Callable[[], Awaitable[T]], wrap: Callable[[T], R]) -> R | Rejected | SeatsUnavailable:
    """As attempt, for HoldResult, which can name the seats someone else has."""
    try:
        return wrap(await call())
    except BookingError as err:
        return problem(err)
    except Exception as err:
        if database_unavailable(err):
            return problem(DatabaseUnavailable())
        raise


def id_or_reject(value: str, field: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError):
        raise InvalidInput("That id does not name anything here.", field=field) from None
