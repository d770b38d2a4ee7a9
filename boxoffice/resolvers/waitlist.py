"""joinWaitlist and leaveWaitlist (User.waitlist is a field of User, schema/booking_types.py)."""

from __future__ import annotations

import strawberry

from ..booking.waitlist import entries
from ..booking.waitlist.entries import WaitlistRecord
from ..schema.booking_types import WaitlistEntry
from ..schema.catalog_types import Info
from ..schema.results import WaitlistResult
from .problems import attempt


async def join_waitlist(info: Info, show_id: strawberry.ID, quantity: int,
                        price_tier_id: strawberry.ID | None = None) -> WaitlistResult:
    ctx = info.context

    async def call() -> WaitlistRecord:
        return await entries.join_waitlist(ctx.engine, ctx.viewer, str(show_id), quantity,
                                           None if price_tier_id is None else str(price_tier_id))

    return await attempt(call, lambda e: WaitlistEntry(record=e))


async def leave_waitlist(info: Info, entry_id: strawberry.ID) -> WaitlistResult:
    ctx = info.context

    async def call() -> WaitlistRecord:
        entry, changes = await entries.leave_waitlist(ctx.engine, ctx.viewer, str(entry_id))
        await ctx.services.live.publish(changes)
        return entry

    return await attempt(call, lambda e: WaitlistEntry(record=e))
