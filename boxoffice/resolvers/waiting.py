"""Waiting room: configureWaitingRoom, enterWaitingRoom, the ticket query and its subscription."""

from __future__ import annotations

from collections.abc import AsyncIterator

import strawberry

from ..booking.errors import InvalidInput
from ..schema.booking_types import WaitingRoomTicket
from ..schema.catalog_types import Info
from ..schema.inputs import WaitingRoomInput
from ..schema.results import ShowResult, WaitingRoomResult, rejected


async def configure_waiting_room(info: Info, show_id: strawberry.ID, input: WaitingRoomInput) -> ShowResult:
    return rejected(InvalidInput("Waiting rooms are not open yet."))


async def enter_waiting_room(info: Info, show_id: strawberry.ID) -> WaitingRoomResult:
    return rejected(InvalidInput("Waiting rooms are not open yet."))


async def waiting_room_ticket(info: Info, id: strawberry.ID) -> WaitingRoomTicket | None:
    return None


async def waiting_room_updates(info: Info, ticket_id: strawberry.ID) -> AsyncIterator[WaitingRoomTicket]:
    return
    yield  # pragma: no cover
