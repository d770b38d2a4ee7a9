"""holdSeats, releaseHold and the hold query."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import strawberry

from ..booking.inventory import hold_release
from ..booking.inventory import holds
from ..booking.records import HoldRecord, Viewer
from ..schema.booking_types import Hold
from ..schema.catalog_types import Info, parse_id
from ..schema.inputs import HoldSeatsInput
from ..schema.results import HoldResult
from .problems import attempt_hold, id_or_reject

if TYPE_CHECKING:
    from ..services import Services


async def place_hold(services: Services, viewer: Viewer | None, client_address: str, show_id: str,
                     seat_ids: list[str], general_admission: list[tuple[str, int]], idempotency_key: str,
                     admission_token: str | None) -> HoldRecord:
    """holdSeats after input coercion, shared by the schema and the fast path (resolvers/hold_fast_path.py),
    so both make the same checks in the same order."""
    request = holds.HoldRequest(show_id=uuid.UUID(id_or_reject(show_id, "showId")), seat_ids=seat_ids,
                                general_admission=general_admission, idempotency_key=idempotency_key,
                                admission_token=admission_token)
    await services.limits.check_hold(viewer, client_address)
    hold, changes = await holds.hold_seats(services.engine, viewer, request, admission=services.admission,
                                           show=await services.shows.get(request.show_id), batcher=services.holds)
    await services.live.publish(changes)
    return hold


async def hold_seats(info: Info, input: HoldSeatsInput) -> HoldResult:
    ctx = info.context

    async def call() -> HoldRecord:
        return await place_hold(ctx.services, ctx.viewer, ctx.client_address, input.show_id,
                                [str(s) for s in input.seat_ids or []],
                                [(str(g.section_id), g.quantity) for g in input.general_admission or []],
                                input.idempotency_key, input.admission_token)

    return await attempt_hold(call, lambda h: Hold(record=h))


async def release_hold(info: Info, hold_id: strawberry.ID) -> HoldResult:
    ctx = info.context

    async def call() -> HoldRecord:
        hold, changes = await hold_release.release_hold(ctx.engine, ctx.viewer, uuid.UUID(id_or_reject(hold_id, "holdId")),
                                                   ctx.services.releases)
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
