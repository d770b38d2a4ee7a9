"""Catalog queries and the organizers' mutations."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import strawberry

from ..booking.catalog import browse as catalog
from ..booking.catalog import organize
from ..booking.errors import BookingError
from ..booking.catalog.venue_layout import RowSpec, SectionSpec
from ..schema.catalog_types import (Event, EventConnection, EventEdge, Info, PageInfo, Show, Venue, parse_id)
from ..schema.inputs import EventFilter, EventInput, ShowInput, VenueInput
from ..schema.results import EventResult, ShowResult, VenueResult
from ..schema.field_errors import query_error
from .problems import attempt, id_or_reject


def server_time() -> datetime:
    return datetime.now(timezone.utc)


async def events(info: Info, filter: EventFilter | None = None, first: int | None = 20,
                 after: str | None = None) -> EventConnection:
    f = filter or EventFilter()
    venue_id = None
    if f.venue_id is not None:
        venue_id = parse_id(f.venue_id)
        if venue_id is None:
            return EventConnection(edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None))
    flt = catalog.EventFilter(city=f.city, performer=f.performer, venue_id=venue_id, category=f.category,
                              search=f.search, starts_after=f.starts_after, starts_before=f.starts_before)
    try:
        page = await catalog.list_events(info.context.browse_engine, flt, first=20 if first is None else first, after=after)
    except BookingError as err:
        raise query_error(err) from None
    edges = [EventEdge(cursor=c, node=Event(record=e)) for c, e in page.events]
    return EventConnection(edges=edges, page_info=PageInfo(has_next_page=page.has_next_page,
                                                           end_cursor=edges[-1].cursor if edges else None))


async def event(info: Info, id: strawberry.ID) -> Event | None:
    event_id = parse_id(id)
    record = await info.context.loaders.events.load(event_id) if event_id else None
    if record is None or not catalog.can_see_event(info.context.viewer, record.status, record.organizer_id):
        return None
    return Event(record=record)


async def show(info: Info, id: strawberry.ID) -> Show | None:
    show_id = parse_id(id)
    # The process's show cache (a second old at most, cleared by this process's organizer changes),
    # not a read per request: a seat map is read thousands of times a second in an on-sale.
    record = await info.context.services.shows.get(show_id) if show_id else None
    if record is None or not catalog.can_see_event(info.context.viewer, record.event_status, record.organizer_id):
        return None
    return Show(record=record)


async def venue(info: Info, id: strawberry.ID) -> Venue | None:
    venue_id = parse_id(id)
    record = await info.context.loaders.venues.load(venue_id) if venue_id else None
    return Venue(record=record) if record else None


async def create_venue(info: Info, input: VenueInput) -> VenueResult:
    sections = [SectionSpec(name=s.name, general_admission_capacity=s.general_admission_capacity,
                            rows=None if s.rows is None else [
                                RowSpec(label=r.label, seat_count=r.seat_count,
                                        accessible_seats=list(r.accessible_seats or []),
                                        obstructed_seats=list(r.obstructed_seats or [])) for r in s.rows])
                for s in input.sections]
    return await attempt(lambda: organize.create_venue(info.context.engine, info.context.viewer, name=input.name,
                                                       city=input.city, sections=sections,
                                                       time_zone=input.time_zone),
                         lambda v: Venue(record=v))


async def create_event(info: Info, input: EventInput) -> EventResult:
    async def call() -> organize.EventRecord:
        venue_id = uuid.UUID(id_or_reject(input.venue_id, "venueId"))
        return await organize.create_event(info.context.engine, info.context.viewer, name=input.name,
                                           performer=input.performer, category=input.category,
                                           description=input.description, venue_id=venue_id)
    return await attempt(call, lambda e: Event(record=e))


async def create_show(info: Info, input: ShowInput) -> ShowResult:
    async def call() -> organize.ShowRecord:
        organize.require_organizer(info.context.viewer)
        spec = organize.ShowSpec(
            event_id=uuid.UUID(id_or_reject(input.event_id, "eventId")), starts_at=input.starts_at,
            on_sale_at=input.on_sale_at, currency=input.currency, hold_ttl_seconds=input.hold_ttl_seconds,
            max_tickets_per_user=input.max_tickets_per_user,
            price_tiers=[organize.TierSpec(t.name, t.price_cents, list(t.sections)) for t in input.price_tiers])
        return await organize.create_show(info.context.engine, info.context.viewer, spec)
    return await attempt(call, lambda s: Show(record=s))


async def publish_event(info: Info, event_id: strawberry.ID) -> EventResult:
    async def call() -> organize.EventRecord:
        organize.require_organizer(info.context.viewer)
        event = await organize.publish_event(info.context.engine, info.context.viewer,
                                             uuid.UUID(id_or_reject(event_id, "eventId")))
        info.context.services.shows.clear()
        return event
    return await attempt(call, lambda e: Event(record=e))
