"""holdSeats, releaseHold and the hold query."""

from __future__ import annotations

import uuid

import strawberry

from ..booking import holds
from ..booking.records import HoldRecord
from ..schema.booking_types import Hold
from ..schema.catalog_types import Info, parse_id
from ..schema.inputs import HoldSeatsInput
from ..schema.results import HoldResult
from .problems import attempt_hold, id_or_reject


async def hold_seats(info: Info, input: HoldSeatsInput) -> HoldResult:
    ctx = info.context

    async def call() -> HoldRecord:
        request = holds.HoldRequest(
            show_id=uuid.UUID(id_or_reject(input.show_id, "showId")),
            seat_ids=[str(s) for s in input.seat_ids or []],
            general_admission=[(str(g.section_id), g.quantity) for g in input.general_admission or []],
            idempotency_key=input.idempotency_key, admission_token=input.admission_token)
        await ctx.services.limits.check_hold(ctx.viewer, ctx.client_address)
        hold, changes = await holds.hold_seats(ctx.engine, ctx.viewer, request, admission=ctx.services.admission,
                                               show=await ctx.services.shows.get(request.show_id))
        await ctx.services.live.publish(changes)
        return hold

    return await attempt_hold(call, lambda h: Hold(record=h))


async def release_hold(info: Info, hold_id: strawberry.ID) -> HoldResult:
    ctx = info.context

    async def call() -> HoldRecord:
        hold, changes = await holds.release_hold(ctx.engine, ctx.viewer, uuid.UUID(id_or_reject(hold_id, "holdId")))
        await ctx.services.live.publish(changes)
        return hold

    return await attempt_hold(call, lambda h: Hold(record=h))


async def hold(info: Info, id: strawberry.ID) -> Hold | None:
    viewer = info.context.viewer
    hold_id = parse_id(id)
    if viewer is None or hold_id is None:
        return None
    record = await info.context.loaders.holds.load(hold_id)
    return Hold(record=record) if record and record.user_id == viewer.user_id else None
