"""Catalog and seat-map types of the contract."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import Private

from ..booking import seatmap
from ..booking.records import (AvailabilitySnapshot, EventRecord, PriceTierRecord, SeatView, SectionCount,
                               SectionRecord, ShowRecord, VenueRecord)
from ..resolvers.context import Context
from .enums import EventStatus, SeatStatus

if TYPE_CHECKING:
    from .booking_types import WaitingRoomSettings

Info = strawberry.Info[Context, None]


def parse_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


@strawberry.type
class VenueSection:
    id: strawberry.ID
    name: str
    general_admission: bool
    capacity: int

    @classmethod
    def of(cls, r: SectionRecord) -> VenueSection:
        return cls(id=strawberry.ID(str(r.id)), name=r.name, general_admission=r.general_admission,
                   capacity=r.capacity)


@strawberry.type
class Venue:
    record: Private[VenueRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.record.id))

    @strawberry.field
    def name(self) -> str:
        return self.record.name

    @strawberry.field
    def city(self) -> str:
        return self.record.city

    @strawberry.field
    def capacity(self) -> int:
        return self.record.capacity

    @strawberry.field
    async def sections(self, info: Info) -> list[VenueSection]:
        return [VenueSection.of(s) for s in await info.context.loaders.sections.load(self.record.id)]


@strawberry.type
class Event:
    record: Private[EventRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.record.id))

    @strawberry.field
    def name(self) -> str:
        return self.record.name

    @strawberry.field
    def performer(self) -> str:
        return self.record.performer

    @strawberry.field
    def category(self) -> str:
        return self.record.category

    @strawberry.field
    def description(self) -> str | None:
        return self.record.description

    @strawberry.field
    def status(self) -> EventStatus:
        return EventStatus(self.record.status)

    @strawberry.field
    async def venue(self, info: Info) -> Venue:
        venue = await info.context.loaders.venues.load(self.record.venue_id)
        assert venue is not None
        return Venue(record=venue)

    @strawberry.field
    async def shows(self, info: Info) -> list[Show]:
        return [Show(record=s) for s in await info.context.loaders.shows_of_event.load(self.record.id)]


@strawberry.type
class PriceTier:
    id: strawberry.ID
    name: str
    price_cents: int
    section_ids: list[strawberry.ID]

    @classmethod
    def of(cls, r: PriceTierRecord) -> PriceTier:
        return cls(id=strawberry.ID(str(r.id)), name=r.name, price_cents=r.price_cents,
                   section_ids=[strawberry.ID(str(s)) for s in r.section_ids])


@strawberry.type
class Seat:
    id: strawberry.ID
    section_id: strawberry.ID
    section: str
    row: str
    number: str
    status: SeatStatus
    version: int = strawberry.field(description="Grows on every status change of this seat; a client keeps the newest it has seen.")
    price_cents: int
    accessible: bool
    obstructed_view: bool
    x: float
    y: float

    @classmethod
    def of(cls, s: SeatView) -> Seat:
        return cls(id=strawberry.ID(str(s.id)), section_id=strawberry.ID(str(s.section_id)), section=s.section,
                   row=s.row, number=s.number, status=SeatStatus(s.status), version=s.version,
                   price_cents=s.price_cents, accessible=s.accessible, obstructed_view=s.obstructed, x=s.x, y=s.y)


@strawberry.type
class SectionAvailability:
    section_id: strawberry.ID
    name: str
    general_admission: bool
    capacity: int
    available: int

    @classmethod
    def of(cls, c: SectionCount) -> SectionAvailability:
        return cls(section_id=strawberry.ID(str(c.section_id)), name=c.name, general_admission=c.general_admission,
                   capacity=c.capacity, available=c.available)


@strawberry.type
class Availability:
    version: int = strawberry.field(description="The show's change counter when this snapshot was read.")
    codes: str = strawberry.field(description=(
        "One character per seat, in the order of Show.seats with no sectionId:\n"
        "A available, H held, S sold, B blocked. Indicative: only a hold is a promise."))
    sections: list[SectionAvailability]

    @classmethod
    def of(cls, a: AvailabilitySnapshot) -> Availability:
        return cls(version=a.version, codes=a.codes, sections=[SectionAvailability.of(s) for s in a.sections])


@strawberry.type
class Show:
    record: Private[ShowRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.record.id))

    @strawberry.field
    async def event(self, info: Info) -> Event:
        event = await info.context.loaders.events.load(self.record.event_id)
        assert event is not None
        return Event(record=event)

    @strawberry.field
    def starts_at(self) -> datetime:
        return self.record.starts_at

    @strawberry.field
    def on_sale_at(self) -> datetime | None:
        return self.record.on_sale_at

    @strawberry.field
    def currency(self) -> str:
        return self.record.currency

    @strawberry.field
    def hold_ttl_seconds(self) -> int:
        return self.record.hold_ttl_seconds

    @strawberry.field
    def max_tickets_per_user(self) -> int:
        return self.record.max_tickets_per_user

    @strawberry.field
    async def price_tiers(self, info: Info) -> list[PriceTier]:
        return [PriceTier.of(t) for t in await info.context.loaders.price_tiers.load(self.record.id)]

    @strawberry.field(description=("Reserved seats in map order (sections, rows and seats as the venue lists "
                                   "them); one section when sectionId is given."))
    async def seats(self, info: Info, section_id: strawberry.ID | None = None) -> list[Seat]:
        section = None
        if section_id is not None:
            section = parse_id(section_id)
            if section is None:
                return []
        views = await seatmap.show_seats(info.context.engine, info.context.services.geometry, self.record.id,
                                         self.record.venue_id, section)
        return [Seat.of(v) for v in views]

    @strawberry.field
    async def availability(self, info: Info) -> Availability:
        snapshot = await info.context.services.availability.get(self.record)
        return Availability.of(snapshot)

    @strawberry.field
    async def waiting_room(self, info: Info) -> Annotated[WaitingRoomSettings, strawberry.lazy(".booking_types")]:
        from .booking_types import WaitingRoomSettings

        return await WaitingRoomSettings.of(info, self.record)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class EventEdge:
    cursor: str
    node: Event


@strawberry.type
class EventConnection:
    edges: list[EventEdge]
    page_info: PageInfo


@strawberry.type
class SeatChange:
    seat_id: strawberry.ID
    status: SeatStatus
    version: int


@strawberry.type
class SeatDelta:
    show_id: strawberry.ID
    version: int = strawberry.field(description="The show's change counter after the changes in this message.")
    seats: list[SeatChange]
    sections: list[SectionAvailability]
