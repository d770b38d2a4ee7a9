"""General admission: claiming places of a GA section.

Why materialised places and SKIP LOCKED: a single "remaining" counter row per section is
one row lock that every buyer of the section queues on for the length of their transaction.
With one row per place, concurrent buyers lock *different* rows (SKIP LOCKED passes over
places another transaction is claiming right now), so a GA flash sale scales like reserved
seating. held + sold can never exceed capacity: there are exactly `capacity` rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from .errors import InvalidInput, SeatsUnavailable
from .records import ChangeSet, SeatChange, ShowRecord

class PlacesBusy(Exception):
    """Enough places exist, but other claims in flight have them locked: try again."""


_CLAIM = (
    "UPDATE show_seats SET status = 'H', hold_id = :h, hold_expires_at = :e, order_id = NULL, "
    "version = nextval(CAST(:seq AS regclass)) WHERE show_id = :s AND id IN (SELECT id FROM show_seats "
    "WHERE show_id = :s AND section_id = :sec AND position IS NULL "
    "AND (status = 'A' OR (status = 'H' AND hold_expires_at <= now())) LIMIT :n FOR UPDATE SKIP LOCKED) "
    "RETURNING id, version, price_cents")


async def claim_places(conn: AsyncConnection, show: ShowRecord, section_id: uuid.UUID, quantity: int,
                       hold_id: uuid.UUID, expires_at: datetime, changes: ChangeSet) -> tuple[list[int], int]:
    """Claims `quantity` places or raises; returns their ids and the unit price."""
    section = (await conn.execute(text(
        "SELECT sec.general_admission, ss.price_cents FROM sections sec JOIN show_sections ss "
        "ON ss.section_id = sec.id AND ss.show_id = :s WHERE sec.id = :sec"),
        {"s": show.id, "sec": section_id})).first()
    if section is None or not section.general_admission:
        raise InvalidInput("That is not a general admission section of this show.",
                           field="generalAdmission.sectionId")
    params = {"h": hold_id, "e": expires_at, "seq": show.version_sequence, "s": show.id, "sec": section_id,
              "n": quantity}
    if section.price_cents is None:
        raise SeatsUnavailable("That section is not on sale.", [])
    rows = (await conn.execute(text(_CLAIM), params)).all()
    if len(rows) < quantity:
        # Places skipped above may belong to a claim that is about to roll back. Waiting for
        # them here could deadlock with that claim, so the caller retries the whole (short)
        # transaction instead, and says "sold out" only when the places are really gone.
        free = (await conn.execute(text(
            "SELECT count(*) FROM show_seats WHERE show_id = :s AND section_id = :sec AND position IS NULL "
            "AND (status = 'A' OR (status = 'H' AND hold_expires_at <= now()))"),
            {"s": show.id, "sec": section_id})).scalar_one()
        if free >= quantity:
            raise PlacesBusy()
        raise SeatsUnavailable("Not enough places left in that section.", [])
    for r in rows:
        changes.add(show.id, SeatChange(r.id, section_id, "H", r.version, True))
    return [r.id for r in rows], section.price_cents
