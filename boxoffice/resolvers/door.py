"""The door: addDoorStaff and checkInTicket."""

from __future__ import annotations

import uuid

import strawberry

from ..booking.door.check_in import CheckInRecord, check_in_ticket as admit
from ..booking.door.staff import add_door_staff as add_staff
from ..booking.records import ShowRecord
from ..schema.catalog_types import Info, Show
from ..schema.door_types import CheckIn
from ..schema.results import CheckInResult, ShowResult
from .problems import attempt, id_or_reject


async def add_door_staff(info: Info, show_id: strawberry.ID, email: str) -> ShowResult:
    ctx = info.context

    async def call() -> ShowRecord:
        return await add_staff(ctx.engine, ctx.viewer, uuid.UUID(id_or_reject(show_id, "showId")), email)

    return await attempt(call, lambda s: Show(record=s))


async def check_in_ticket(info: Info, show_id: strawberry.ID, barcode: str) -> CheckInResult:
    ctx = info.context

    async def call() -> CheckInRecord:
        return await admit(ctx.engine, ctx.services.shows.get, ctx.services.settings.secret, ctx.viewer,
                           uuid.UUID(id_or_reject(show_id, "showId")), barcode)

    return await attempt(call, CheckIn.of)
