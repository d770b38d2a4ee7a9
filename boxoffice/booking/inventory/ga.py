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
from typing import Any


from ..errors import InvalidInput, SeatsUnavailable
from ..records import ChangeSet, SeatChange, ShowRecord

class PlacesBusy(Exception):
    """Enough places exist, but other claims in flight have them locked: try again."""


_SECTION = ("SELECT sec.general_admission, ss.price_cents FROM sections sec JOIN show_sections ss "
            "ON ss.section_id = sec.id AND ss.show_id = $1 WHERE sec.id = $2")
# The places picked once, in a materialized CTE: as `id IN (SELECT ... LIMIT n)` the planner may run
# the subquery again for every row it compares (a nested-loop semi join, chosen on a new show's
# unanalysed rows), and each run skips the places locked so far: a hold of 2 took the whole section.
_CLAIM = (
    "WITH picked AS MATERIALIZED (SELECT id FROM show_seats "
    "WHERE show_id = $4 AND section_id = $5 AND position IS NULL "
    "AND (status = 'A' OR (status = 'H' AND hold_expires_at <= now())) LIMIT $6 FOR UPDATE SKIP LOCKED) "
    "UPDATE show_seats ss SET status = 'H', hold_id = $1, hold_expires_at = $2, order_id = NULL, "
    "version = nextval($3::regclass) FROM picked WHERE ss.show_id = $4 AND ss.id = picked.id "
    "RETURNING ss.id, ss.version, ss.price_cents")
_FREE = ("SELECT count(*) FROM show_seats WHERE show_id = $1 AND section_id = $2 AND position IS NULL "
         "AND (status = 'A' OR (status = 'H' AND hold_expires_at <= now()))")


async def claim_places(db: Any, show: ShowRecord, section_id: uuid.UUID, quantity: int,
                       hold_id: uuid.UUID, expires_at: datetime, changes: ChangeSet) -> tuple[list[int], int]:
    """Claims `quantity` places or raises; returns their ids and the unit price.

    `db` is the asyncpg connection of the caller's hold transaction."""
    section = await db.fetchrow(_SECTION, show.id, section_id)
    if section is None or not section["general_admission"]:
        raise InvalidInput("That is not a general admission section of this show.",
                           field="generalAdmission.sectionId")
    if section["price_cents"] is None:
        raise SeatsUnavailable("That section is not on sale.", [])
    rows = await db.fetch(_CLAIM, hold_id, expires_at, show.version_sequence, show.id, section_id, quantity)
    if len(rows) < quantity:
        # Places skipped above may belong to a claim that is about to roll back. Waiting for
        # them here could deadlock with that claim, so the caller retries the whole (short)
        # transaction instead, and says "sold out" only when the places are really gone.
        if await db.fetchval(_FREE, show.id, section_id) >= quantity:
            raise PlacesBusy()
        raise SeatsUnavailable("Not enough places left in that section.", [])
    for r in rows:
        changes.add(show.id, SeatChange(r["id"], section_id, "H", r["version"], True))
    return [r["id"] for r in rows], section["price_cents"]
