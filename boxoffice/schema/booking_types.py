"""People, holds, orders, payments, tickets, notifications and waiting-room types of the contract."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import strawberry
from strawberry import Private

from ..booking import history, seatmap
from ..booking.errors import BookingError
from ..booking.order_view import OrderView, OrderViewOnce
from ..booking.records import (GALine, HoldRecord, NotificationRecord, OrderRecord, PaymentRecord, SeatView,
                               ShowRecord, TicketRecord, UserRecord, WaitingRoomView)
from .catalog_types import Info, PageInfo, Seat, Show
from .field_errors import query_error
from .enums import HoldStatus, NotificationKind, OrderStatus, PaymentStatus, QueueStatus, Role
from .record_fields import record_field


async def _show(info: Info, show_id: object) -> Show:
    show = await info.context.loaders.shows.load(show_id)  # type: ignore[arg-type]
    assert show is not None
    return Show(record=show)


async def _seats(info: Info, show: ShowRecord, seat_ids: tuple[int, ...]) -> list[Seat]:
    if not seat_ids:
        return []
    wanted = set(seat_ids)
    views = await seatmap.seats_by_id(info.context.engine, info.context.services.geometry, show, wanted)
    return [Seat.of(v) for v in views]


@strawberry.type
class Notification:
    id: strawberry.ID
    kind: NotificationKind
    subject: str
    created_at: datetime

    @classmethod
    def of(cls, r: NotificationRecord) -> Notification:
        return cls(id=strawberry.ID(str(r.id)), kind=NotificationKind(r.kind), subject=r.subject,
                   created_at=r.created_at)


@strawberry.type
class User:
    record: Private[UserRecord]

    id = record_field(strawberry.ID)
    email = record_field(str)
    name = record_field(str)
    role = record_field(Role)

    @strawberry.field
    async def orders(self, info: Info, first: int | None = 20, after: str | None = None) -> OrderConnection:
        try:
            page = await history.orders_of_user(info.context.engine, self.record.id,
                                                first=20 if first is None else first, after=after)
        except BookingError as err:
            raise query_error(err) from None
        edges = [OrderEdge(cursor=c, node=Order(record=o)) for c, o in page.orders]
        return OrderConnection(edges=edges, page_info=PageInfo(has_next_page=page.has_next_page,
                                                               end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field
    async def notifications(self, info: Info, first: int | None = 20) -> list[Notification]:
        try:
            records = await history.notifications_of_user(info.context.engine, self.record.id,
                                                          first=20 if first is None else first)
        except BookingError as err:
            raise query_error(err) from None
        return [Notification.of(n) for n in records]


@strawberry.type
class AuthPayload:
    token: str
    user: User


@strawberry.type
class GeneralAdmissionLine:
    section_id: strawberry.ID
    quantity: int
    price_cents: int

    @classmethod
    def of(cls, g: GALine) -> GeneralAdmissionLine:
        return cls(section_id=strawberry.ID(str(g.section_id)), quantity=g.quantity, price_cents=g.price_cents)


@strawberry.type
class Hold:
    record: Private[HoldRecord]

    id = record_field(strawberry.ID)

    @strawberry.field
    async def show(self, info: Info) -> Show:
        return await _show(info, self.record.show_id)

    status = record_field(HoldStatus)

    @strawberry.field
    async def seats(self, info: Info) -> list[Seat]:
        show = await info.context.loaders.shows.load(self.record.show_id)
        assert show is not None
        return await _seats(info, show, self.record.seat_ids)

    @strawberry.field
    def general_admission(self) -> list[GeneralAdmissionLine]:
        return [GeneralAdmissionLine.of(g) for g in self.record.general_admission]

    expires_at = record_field(datetime)
    total_cents = record_field(int)
    currency = record_field(str)


@strawberry.type
class Payment:
    id: strawberry.ID
    provider: str
    status: PaymentStatus
    amount_cents: int
    currency: str
    next_action_url: str | None
    failure_reason: str | None

    @classmethod
    def of(cls, p: PaymentRecord) -> Payment:
        return cls(id=strawberry.ID(str(p.id)), provider=p.provider, status=PaymentStatus(p.status),
                   amount_cents=p.amount_cents, currency=p.currency, next_action_url=p.next_action_url,
                   failure_reason=p.failure_reason)


@strawberry.type
class Ticket:
    record: Private[TicketRecord]
    show: Private[ShowRecord | None]
    seats: Private[dict[int, SeatView] | None] = None  # read with the order (booking/order_view.py)

    id = record_field(strawberry.ID)

    @strawberry.field
    async def seat(self, info: Info) -> Seat | None:
        if self.record.seat_id is None:
            return None
        if self.seats is not None:
            known = self.seats.get(self.record.seat_id)
            return None if known is None else Seat.of(known)
        assert self.show is not None
        seats = await _seats(info, self.show, (self.record.seat_id,))
        return seats[0] if seats else None

    section_id = record_field(strawberry.ID)
    barcode = record_field(str)

    @strawberry.field
    def pdf_url(self, info: Info) -> str:
        return f"{info.context.services.settings.public_url}/tickets/{self.record.id}.pdf"


@strawberry.type
class OrderItem:
    seat: Seat | None
    section_id: strawberry.ID
    price_cents: int


@strawberry.type
class Order:
    record: Private[OrderRecord]
    # Items, payment and tickets (with their seats) come from one read, made for the first of
    # them asked for (or already made by the `order` query).
    view: Private[OrderViewOnce] = dataclasses.field(default_factory=OrderViewOnce)

    id = record_field(strawberry.ID)
    status = record_field(OrderStatus)

    @strawberry.field
    async def show(self, info: Info) -> Show:
        return await _show(info, self.record.show_id)

    async def _view(self, info: Info) -> OrderView | None:
        return await self.view.get(info.context.engine, self.record.id)

    @strawberry.field
    async def items(self, info: Info) -> list[OrderItem]:
        view = await self._view(info)
        if view is None:
            return []
        seats = {i: Seat.of(v) for i, v in view.seats.items()}
        items = [OrderItem(seat=seat, section_id=seat.section_id, price_cents=seat.price_cents)
                 for seat in (seats.get(i) for i in view.hold_seat_ids) if seat is not None]
        for line in view.general_admission:
            items.extend(OrderItem(seat=None, section_id=strawberry.ID(str(line.section_id)),
                                   price_cents=line.price_cents) for _ in range(line.quantity))
        return items

    total_cents = record_field(int)
    currency = record_field(str)

    @strawberry.field
    async def payment(self, info: Info) -> Payment | None:
        view = await self._view(info)
        return Payment.of(view.payment) if view is not None and view.payment else None

    @strawberry.field(description="Issued once the order is confirmed.")
    async def tickets(self, info: Info) -> list[Ticket]:
        view = await self._view(info)
        return [] if view is None else [Ticket(record=t, show=None, seats=view.seats) for t in view.tickets]

    created_at = record_field(datetime)


@strawberry.type
class OrderEdge:
    cursor: str
    node: Order


@strawberry.type
class OrderConnection:
    edges: list[OrderEdge]
    page_info: PageInfo


@strawberry.type
class WaitingRoomSettings:
    enabled: bool
    admit_per_minute: int
    admission_ttl_seconds: int = strawberry.field(description="How long an admission token stays valid.")
    queue_length: int = strawberry.field(description="People waiting now.")

    @classmethod
    async def of(cls, info: Info, show: ShowRecord) -> WaitingRoomSettings:
        length = await info.context.services.waiting_room.queue_length(str(show.id)) if show.waiting_room_enabled else 0
        return cls(enabled=show.waiting_room_enabled, admit_per_minute=show.admit_per_minute,
                   admission_ttl_seconds=show.admission_ttl_seconds, queue_length=length)


@strawberry.type
class WaitingRoomTicket:
    id: strawberry.ID
    show_id: strawberry.ID
    status: QueueStatus
    position: int | None = strawberry.field(description="1 is next; null once admitted.")
    estimated_wait_seconds: int | None
    admission_token: str | None = strawberry.field(description="Set once admitted: pass it to holdSeats.")
    admission_expires_at: datetime | None

    @classmethod
    def of(cls, v: WaitingRoomView) -> WaitingRoomTicket:
        return cls(id=strawberry.ID(v.ticket_id), show_id=strawberry.ID(str(v.show_id)), status=QueueStatus(v.status),
                   position=v.position, estimated_wait_seconds=v.estimated_wait_seconds,
                   admission_token=v.admission_token, admission_expires_at=v.admission_expires_at)
