"""Catalog and seat-map types of the contract."""

from __future__ import annotations

import dataclasses
import uuid
from array import array
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, overload

import strawberry
from strawberry import Private

from ..booking.inventory import seatmap
from ..booking.inventory.best_available import best_seats_of_show
from ..booking.door.sales_report import report_for
from ..booking.inventory.availability_cache import SeatStates
from ..booking.after_sale.resale import open_listings_of_show, resale_cap_of_show
from ..booking.errors import BookingError
from ..booking.records import (AvailabilitySnapshot, EventRecord, PriceTierRecord, SeatView, SectionCount,
                               SectionRecord, ShowRecord, VenueRecord)
from ..resolvers.context import Context
from .enums import EventStatus, SeatStatus, ShowStatus
from .field_errors import query_error
from .leaf_rows import LeafField
from .record_fields import record_field
from .refund_types import RefundPolicy
from .viewer_marks import per_viewer

if TYPE_CHECKING:
    from .after_sale_types import ResaleListing
    from .booking_types import WaitingRoomSettings
    from .door_types import SalesReport

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

    id = record_field(strawberry.ID)
    name = record_field(str)
    city = record_field(str)
    capacity = record_field(int)

    @strawberry.field
    async def sections(self, info: Info) -> list[VenueSection]:
        return [VenueSection.of(s) for s in await info.context.loaders.sections.load(self.record.id)]

    time_zone = record_field(str, description=(
        "IANA time zone of the venue, e.g. Europe/Lisbon. Clients show show times in it."))


@strawberry.type
class Event:
    record: Private[EventRecord]

    id = record_field(strawberry.ID)
    name = record_field(str)
    performer = record_field(str)
    category = record_field(str)
    description = record_field(str | None)
    status = record_field(EventStatus)

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


class SeatRows(Sequence[Seat]):
    """Show.seats from a seat board: Seat objects one by one, or whole response rows at once
    (leaf_rows.py). The rows of the last response per section and selection are kept with the
    show's layout, and the next response reuses every row whose status and version are unchanged
    (most of them: between two renders only the seats held or sold meanwhile differ)."""

    _INT_MAX = 2**31 - 1  # GraphQL Int; past it, the usual completion reports the error

    def __init__(self, states: SeatStates, geometry: dict[int, seatmap.SeatGeometry]) -> None:
        self._states = states
        self._geometry = geometry

    def __len__(self) -> int:
        return len(self._states.positions)

    @overload
    def __getitem__(self, index: int) -> Seat: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Seat]: ...

    def __getitem__(self, index: int | slice) -> Seat | Sequence[Seat]:
        if isinstance(index, slice):
            return [self._seat(p) for p in self._states.positions[index]]
        return self._seat(self._states.positions[index])

    def _seat(self, position: int) -> Seat:
        states, layout = self._states, self._states.layout
        g = self._geometry[layout.venue_seat_ids[position]]
        return Seat.of(SeatView(layout.seat_ids[position], g.section_id, g.section, g.row, g.number,
                                chr(states.codes[position]), states.versions[position], layout.prices[position],
                                g.accessible, g.obstructed, g.x, g.y))

    def complete_rows(self, fields: tuple[LeafField, ...]) -> list[dict[str, Any]] | None:
        states, layout = self._states, self._states.layout
        if not states.positions:
            return []  # e.g. a section of another venue: nothing worth keeping
        key = ("seats", states.section_id, tuple((f.key, f.name) for f in fields))
        last = layout.renderings.get(key)
        if not isinstance(last, _Rendered):
            last = self._template(fields)
            if last is None:
                return None
        positions = states.positions
        if isinstance(positions, range):  # a section is usually one run of the map
            run = slice(positions.start, positions.stop)
            codes, versions = states.codes[run], states.versions[run]
        else:
            codes = bytes(states.codes[p] for p in positions)
            versions = array("q", (states.versions[p] for p in positions))
        if versions and max(versions) > self._INT_MAX:
            return None
        status_keys = [(f.key, {ord(s.value): f.serialize(s) for s in SeatStatus}) for f in fields
                       if f.attribute == "status"]
        version_keys = [f.key for f in fields if f.attribute == "version"]
        if not status_keys and not version_keys:
            self._keep(key, last)
            return list(last.rows)  # rows are never changed once built, so responses share them

        def changed(row: dict[str, Any], code: int, version: int) -> dict[str, Any]:
            row = row.copy()
            for status_key, names in status_keys:
                row[status_key] = names[code]
            for version_key in version_keys:
                row[version_key] = version
            return row

        rows = [row if old_code == code and old_version == version else changed(row, code, version)
                for row, old_code, old_version, code, version in zip(last.rows, last.codes, last.versions, codes,
                                                                       versions)]
        self._keep(key, _Rendered(rows, codes, versions))
        return rows

    def _template(self, fields: tuple[LeafField, ...]) -> _Rendered | None:
        """Rows of the fixed fields; status and version hold their keys' places until filled in."""
        rows = []
        for position in self._states.positions:
            seat = self._seat(position)
            row: dict[str, Any] = {}
            for f in fields:
                if f.attribute in ("status", "version"):
                    row[f.key] = None
                    continue
                value = f.serialize(getattr(seat, f.attribute) if f.attribute else None)
                if value is None and not f.nullable:
                    return None
                row[f.key] = value
            rows.append(row)
        return _Rendered(rows, bytes(len(rows)), array("q", [-1]) * len(rows))  # matches no real seat

    def _keep(self, key: Hashable, rendered: _Rendered) -> None:
        renderings = self._states.layout.renderings
        renderings.pop(key, None)
        held = sum(len(r.rows) for r in renderings.values() if isinstance(r, _Rendered))
        if held + len(rendered.rows) > 2 * len(self._states.layout.seat_ids):
            # Bounded: about twice the show's seats, then start over (other caches of the layout,
            # e.g. best_available.py's rows, stay).
            for old in [k for k, r in renderings.items() if isinstance(r, _Rendered)]:
                del renderings[old]
        renderings[key] = rendered


@dataclass(frozen=True, slots=True)
class _Rendered:
    """The rows of a response and the status code and version each shows."""

    rows: list[dict[str, Any]]
    codes: bytes
    versions: array[int]


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

    id = record_field(strawberry.ID)

    @strawberry.field
    async def event(self, info: Info) -> Event:
        event = await info.context.loaders.events.load(self.record.event_id)
        assert event is not None
        return Event(record=event)

    starts_at = record_field(datetime)
    on_sale_at = record_field(datetime | None)
    currency = record_field(str)
    hold_ttl_seconds = record_field(int)
    max_tickets_per_user = record_field(int)

    @strawberry.field
    async def price_tiers(self, info: Info) -> list[PriceTier]:
        return [PriceTier.of(t) for t in await info.context.loaders.price_tiers.load(self.record.id)]

    @strawberry.field(description=("Reserved seats in map order (sections, rows and seats as the venue lists "
                                   "them); one section when sectionId is given."))
    async def seats(self, info: Info, section_id: strawberry.ID | None = None) -> Sequence[Seat]:
        section = None
        if section_id is not None:
            section = parse_id(section_id)
            if section is None:
                return []
        services = info.context.services
        states = await services.availability.seats(self.record, section)
        try:
            info.context.list_seats(len(states.positions))
        except BookingError as err:
            raise query_error(err) from None
        # Geometry from the primary, as the board's layout: read once per venue per process, and a
        # replica may not have a new venue yet.
        return SeatRows(states, await services.geometry.for_venue(info.context.engine, self.record.venue_id))

    @strawberry.field
    async def availability(self, info: Info) -> Availability:
        snapshot = await info.context.services.availability.get(self.record)
        return Availability.of(snapshot)

    @strawberry.field(description=(
        "The best seats still available for this quantity: together in one row\n"
        "where possible, in the tier asked (any tier when null), accessible ones\n"
        "only when accessible is true. Empty when none fit. Read only: hold them\n"
        "with holdSeats."))
    async def best_available(self, info: Info, quantity: int, price_tier_id: strawberry.ID | None = None,
                             accessible: bool | None = None) -> list[Seat]:
        # Like `availability`: read from this process's seat board, the same for every caller (so
        # shared answers may serve it for their window: indicative, as every seat map is).
        services = info.context.services
        try:
            tiers = [] if price_tier_id is None else await info.context.loaders.price_tiers.load(self.record.id)
            seats = await best_seats_of_show(
                services.availability, services.geometry, info.context.engine, self.record, tiers,
                quantity=quantity, price_tier_id=price_tier_id, accessible=bool(accessible))
        except BookingError as err:
            raise query_error(err) from None
        return [Seat.of(s) for s in seats]

    @strawberry.field
    def status(self) -> ShowStatus:
        return ShowStatus.CANCELLED if self.record.status == "cancelled" else ShowStatus.SCHEDULED

    @strawberry.field(description="Open resale listings, cheapest first.")
    async def resale_listings(self, info: Info, first: int | None = 50) -> list[
            Annotated[ResaleListing, strawberry.lazy(".after_sale_types")]]:
        from .after_sale_types import ResaleListing

        try:
            records = await open_listings_of_show(info.context.engine, self.record.id, 50 if first is None else first)
        except BookingError as err:
            raise query_error(err) from None
        return [ResaleListing(record=r) for r in records]

    @strawberry.field(description="The largest resale price, as a percentage of face value; 100 = face value.")
    async def resale_cap_percent(self, info: Info) -> int:
        return await resale_cap_of_show(info.context.engine, self.record.id)

    @strawberry.field
    def refund_policy(self) -> RefundPolicy:
        return RefundPolicy(fan_refunds_until_hours_before=self.record.fan_refunds_until_hours_before)

    @strawberry.field
    async def waiting_room(self, info: Info) -> Annotated[WaitingRoomSettings, strawberry.lazy(".booking_types")]:
        from .booking_types import WaitingRoomSettings

        return await WaitingRoomSettings.of(info, self.record)

    @strawberry.field(description="The show's organizer (and admins) only; null for anyone else.",
                      metadata=per_viewer())
    async def sales_report(self, info: Info) -> Annotated[SalesReport, strawberry.lazy(".door_types")] | None:
        from .door_types import SalesReport

        report = await report_for(info.context.browse_engine, info.context.viewer, self.record)
        return None if report is None else SalesReport(record=report)


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
    # One delta goes to every subscriber of a show: its results are shared (schema/shared_events.py).
    shared_results: Private[dict[object, object]] = dataclasses.field(default_factory=dict)
