"""Transfers and resale listings of the contract (contract/next.graphql), and their result unions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Union

import strawberry
from strawberry import Private

from ..booking.after_sale import transfers
from ..booking.after_sale.records import ListingRecord, TransferRecord
from .booking_types import Ticket, _seats, _show
from .catalog_types import Info, Seat, Show
from .enums import ResaleStatus, TransferStatus
from .record_fields import record_field
from .results import Rejected


@strawberry.type
class TicketTransfer:
    record: Private[TransferRecord]

    id = record_field(strawberry.ID)

    @strawberry.field
    async def ticket(self, info: Info) -> Ticket:
        record = await transfers.transfer_ticket_view(info.context.engine, self.record, info.context.viewer)
        show = await info.context.loaders.shows.load(self.record.show_id)
        return Ticket(record=record, show=show)

    to_email = record_field(str)

    @strawberry.field
    def status(self) -> TransferStatus:
        return TransferStatus(self.record.status.upper())

    created_at = record_field(datetime)


@strawberry.type
class ResaleListing:
    record: Private[ListingRecord]

    id = record_field(strawberry.ID)

    @strawberry.field
    async def show(self, info: Info) -> Show:
        return await _show(info, self.record.show_id)

    @strawberry.field
    async def seat(self, info: Info) -> Seat | None:
        if self.record.seat_id is None:
            return None
        show = await info.context.loaders.shows.load(self.record.show_id)
        assert show is not None
        seats = await _seats(info, show, (self.record.seat_id,))
        return seats[0] if seats else None

    section_id = record_field(strawberry.ID)
    price_cents = record_field(int)
    face_value_cents = record_field(int)

    @strawberry.field
    def status(self) -> ResaleStatus:
        return ResaleStatus(self.record.status.upper())

    created_at = record_field(datetime)


TransferResult = Annotated[Union[TicketTransfer, Rejected], strawberry.union("TransferResult")]
TicketResult = Annotated[Union[Ticket, Rejected], strawberry.union("TicketResult")]
ResaleResult = Annotated[Union[ResaleListing, Rejected], strawberry.union("ResaleResult")]
