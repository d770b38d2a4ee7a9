"""transferTicket, acceptTransfer, cancelTransfer, listForResale, withdrawResale, holdResaleListing."""

from __future__ import annotations

import uuid

import strawberry

from ..booking.after_sale import resale, resale_checkout, transfers
from ..booking.after_sale.records import ListingRecord, TransferRecord
from ..booking.records import HoldRecord, ShowRecord, TicketRecord
from ..schema.after_sale_types import (ResaleListing, ResaleResult, TicketResult, TicketTransfer,
                                       TransferResult)
from ..schema.booking_types import Hold, Ticket
from ..schema.catalog_types import Info
from ..schema.results import HoldResult
from .problems import attempt, attempt_hold, id_or_reject


def _id(value: strawberry.ID, field: str) -> uuid.UUID:
    return uuid.UUID(id_or_reject(value, field))


async def transfer_ticket(info: Info, ticket_id: strawberry.ID, to_email: str) -> TransferResult:
    ctx = info.context

    async def call() -> TransferRecord:
        ticket = _id(ticket_id, "ticketId")
        return await transfers.transfer_ticket(ctx.engine, ctx.viewer, ticket, to_email,
                                               before_new_offer=lambda: ctx.services.limits.check_transfer(ctx.viewer))

    return await attempt(call, lambda t: TicketTransfer(record=t))


async def accept_transfer(info: Info, transfer_id: strawberry.ID) -> TicketResult:
    ctx = info.context

    async def call() -> tuple[TicketRecord, ShowRecord | None]:
        record, show_id = await transfers.accept_transfer(ctx.engine, ctx.services.payments.secret, ctx.viewer,
                                                          _id(transfer_id, "transferId"))
        return record, await ctx.loaders.shows.load(show_id)

    return await attempt(call, lambda r: Ticket(record=r[0], show=r[1]))


async def cancel_transfer(info: Info, transfer_id: strawberry.ID) -> TransferResult:
    ctx = info.context

    async def call() -> TransferRecord:
        return await transfers.cancel_transfer(ctx.engine, ctx.viewer, _id(transfer_id, "transferId"))

    return await attempt(call, lambda t: TicketTransfer(record=t))


async def list_for_resale(info: Info, ticket_id: strawberry.ID, price_cents: int) -> ResaleResult:
    ctx = info.context

    async def call() -> ListingRecord:
        listing, changes = await resale.list_for_resale(ctx.engine, ctx.viewer, _id(ticket_id, "ticketId"),
                                                        price_cents)
        await ctx.services.live.publish(changes)
        return listing

    return await attempt(call, lambda r: ResaleListing(record=r))


async def withdraw_resale(info: Info, listing_id: strawberry.ID) -> ResaleResult:
    ctx = info.context

    async def call() -> ListingRecord:
        listing, changes = await resale.withdraw_resale(ctx.engine, ctx.viewer, _id(listing_id, "listingId"))
        await ctx.services.live.publish(changes)
        return listing

    return await attempt(call, lambda r: ResaleListing(record=r))


async def hold_resale_listing(info: Info, listing_id: strawberry.ID, idempotency_key: str) -> HoldResult:
    ctx = info.context

    async def call() -> HoldRecord:
        return await resale_checkout.hold_resale_listing(ctx.engine, ctx.viewer, _id(listing_id, "listingId"),
                                                         idempotency_key)

    return await attempt_hold(call, lambda h: Hold(record=h))
