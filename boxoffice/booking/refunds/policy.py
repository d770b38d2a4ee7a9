"""A show's refund policy: until when fans may refund their own orders, and its resale cap."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ..catalog.browse import get_show
from ..catalog.organize import require_organizer
from ..errors import Forbidden, InvalidInput, NotFound
from ..inventory.seatmap import lock_show_for_change
from ..after_sale.resale import withdraw_above_cap
from ..records import ChangeSet, ShowRecord, Viewer

# Bounds of the columns (migration 0010_ticket_and_show_status): a year, and 1..100 % of face value.
MAX_REFUND_HOURS = 8760
KEEP = object()  # an input left out: the setting stays as it is


def fan_refunds_until(show: ShowRecord) -> datetime | None:
    """When the fans' refund window closes; None: fans never refund."""
    hours = show.fan_refunds_until_hours_before
    return None if hours is None else show.starts_at - timedelta(hours=hours)


async def owned_show(engine: AsyncEngine, viewer: Viewer | None, show_id: uuid.UUID) -> tuple[Viewer, ShowRecord]:
    """The show, for its organizer (or an admin) only."""
    viewer = require_organizer(viewer)
    show = await get_show(engine, show_id)
    if show is None:
        raise NotFound("No such show.", field="showId")
    if viewer.role != "admin" and viewer.user_id != show.organizer_id:
        raise Forbidden("That show belongs to another organizer.")
    return viewer, show


async def set_refund_policy(engine: AsyncEngine, viewer: Viewer | None, show_id: uuid.UUID, *,
                            fan_refunds_until_hours_before: object = KEEP,
                            resale_cap_percent: object = KEEP) -> tuple[ShowRecord, ChangeSet]:
    """Sets what is given; None for the hours means fans never refund (None for the cap keeps it).
    Listings priced above a new cap are withdrawn with it (their seats' changes returned)."""
    hours, cap = fan_refunds_until_hours_before, resale_cap_percent
    if hours is not KEEP and hours is not None and (
            not isinstance(hours, int) or not 0 <= hours <= MAX_REFUND_HOURS):
        raise InvalidInput(f"fanRefundsUntilHoursBefore is between 0 and {MAX_REFUND_HOURS}, or null for never.",
                           field="fanRefundsUntilHoursBefore")
    if cap is not KEEP and cap is not None and (not isinstance(cap, int) or not 1 <= cap <= 100):
        raise InvalidInput("resaleCapPercent is between 1 and 100 (100 = face value).", field="resaleCapPercent")
    await owned_show(engine, viewer, show_id)
    changes = ChangeSet()
    lowering = cap is not KEEP and cap is not None
    async with engine.begin() as conn:
        if lowering:  # the show's lock first, as a cancellation takes it before the show's row
            await lock_show_for_change(conn, show_id)
        await conn.execute(text(
            "UPDATE shows SET fan_refunds_until_hours_before = CASE WHEN :set_hours THEN CAST(:hours AS int) "
            "  ELSE fan_refunds_until_hours_before END, "
            "resale_cap_percent = COALESCE(CAST(:cap AS int), resale_cap_percent) WHERE id = :s"),
            {"set_hours": hours is not KEEP, "hours": None if hours is KEEP else hours,
             "cap": None if cap is KEEP else cap, "s": show_id})
        if lowering:
            await withdraw_above_cap(conn, show_id, changes)
    updated = await get_show(engine, show_id)
    assert updated is not None
    return updated, changes
