"""People, holds, orders, payments, tickets, notifications and waiting-room types of the contract."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import Private

from ..booking.after_sale.resale import listings_of_seller, open_listings_of_tickets
from ..booking.after_sale.transfers import incoming_transfers, transfers_of_tickets
from ..booking.checkout import history
from ..booking.inventory import seatmap
from ..booking.errors import BookingError
from ..booking.checkout.order_view import OrderView, OrderViewOnce
from ..booking.waiting_room.queue_store import WaitingRoomUnavailable
from ..booking.checkout.ticket_qr import qr_svg, void_svg, withheld_svg
from ..booking.waitlist.entries import WaitlistRecord, waitlist_of_user
from ..booking.records import (GALine, HoldRecord, NotificationRecord, OrderRecord, PaymentRecord, SeatView,
                               ShowRecord, TicketRecord, UserRecord, WaitingRoomView)
from .catalog_types import Info, PageInfo, Seat, Show
from .field_errors import query_error
from .enums import (HoldStatus, NotificationKind, OrderStatus, PaymentStatus, QueueStatus, Role, TicketStatus,
                    WaitlistStatus)
from .record_fields import record_field
from .viewer_marks import per_viewer

if TYPE_CHECKING:
    from .after_sale_types import ResaleListing, TicketTransfer


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

    @strawberry.field(description="Transfers offered to this user's email, pending first.", metadata=per_viewer())
    async def incoming_transfers(self, info: Info) -> list[Annotated[TicketTransfer,
                                                                      strawberry.lazy(".after_sale_types")]]:
        from .after_sale_types import TicketTransfer

        viewer = info.context.viewer
        if viewer is None or viewer.user_id != self.record.id:
            return []
        return [TicketTransfer(record=t) for t in await incoming_transfers(info.context.engine, viewer.user_id)]

    @strawberry.field(metadata=per_viewer())
    async def resale_listings(self, info: Info) -> list[Annotated[ResaleListing,
                                                                   strawberry.lazy(".after_sale_types")]]:
        from .after_sale_types import ResaleListing

        viewer = info.context.viewer
        if viewer is None or viewer.user_id != self.record.id:
            return []
        return [ResaleListing(record=r) for r in await listings_of_seller(info.context.engine, viewer.user_id)]

    # The caller's own entries (User is reached through `viewer`): per viewer, never a shared answer.
    @strawberry.field(metadata=per_viewer())
    async def waitlist(self, info: Info) -> list[WaitlistEntry]:
        viewer = info.context.viewer
        if viewer is None or viewer.user_id != self.record.id:
            return []
        return [WaitlistEntry(record=e) for e in await waitlist_of_user(info.context.engine, viewer.user_id)]


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
    seats: Private[dict[int, SeatView] | None] = None  # read with the order (booking/checkout/order_view.py)

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

    # A ticket's state is its owner's (and the door's) business: per viewer, never a shared answer.
    @strawberry.field(metadata=per_viewer())
    def status(self) -> TicketStatus:
        return {"checked_in": TicketStatus.CHECKED_IN, "void": TicketStatus.VOID}.get(self.record.status,
                                                                                        TicketStatus.VALID)

    @strawberry.field(metadata=per_viewer())
    def checked_in_at(self) -> datetime | None:
        return self.record.checked_in_at

    @strawberry.field(description="The barcode as an SVG QR code, for screens.", metadata=per_viewer())
    def qr_svg(self) -> str:
        # A void ticket keeps its (revoked) barcode, the contract's non-null; it shows no code to scan.
        # One shown to someone who does not hold it has its barcode withheld (""): no code either.
        if self.record.status == "void":
            return void_svg()
        return qr_svg(self.record.barcode) if self.record.barcode else withheld_svg()

    @strawberry.field(description="The pending or last transfer of this ticket, for its owner.",
                      metadata=per_viewer())
    async def transfer(self, info: Info) -> Annotated[TicketTransfer, strawberry.lazy(".after_sale_types")] | None:
        from .after_sale_types import TicketTransfer

        viewer = info.context.viewer
        if viewer is None:
            return None
        found = await transfers_of_tickets(info.context.engine, [self.record.id], viewer.user_id)
        record = found.get(self.record.id)
        return None if record is None else TicketTransfer(record=record)

    @strawberry.field(description="Its open resale listing, for its owner.", metadata=per_viewer())
    async def resale_listing(self, info: Info) -> Annotated[ResaleListing, strawberry.lazy(".after_sale_types")] | None:
        from .after_sale_types import ResaleListing

        viewer = info.context.viewer
        if viewer is None:
            return None
        found = await open_listings_of_tickets(info.context.engine, [self.record.id], viewer.user_id)
        record = found.get(self.record.id)
        return None if record is None else ResaleListing(record=record)


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
    # The payment as the mutation that answers this order just wrote or read it: no read for it then.
    known_payment: Private[PaymentRecord | None] = None

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
        if self.known_payment is not None:
            return Payment.of(self.known_payment)
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
        length = 0
        if show.waiting_room_enabled:
            try:
                length = await info.context.services.waiting_room.queue_length(str(show.id))
            except WaitingRoomUnavailable:  # a hint: Redis down must not take the show's page with it
                length = 0
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


@strawberry.type
class WaitlistEntry:
    """A fan waiting for places of a show (booking/waitlist/)."""

    record: Private[WaitlistRecord]

    id = record_field(strawberry.ID)

    @strawberry.field
    async def show(self, info: Info) -> Show:
        return await _show(info, self.record.show_id)

    quantity = record_field(int)

    @strawberry.field
    def price_tier_id(self) -> strawberry.ID | None:
        tier = self.record.price_tier_id
        return strawberry.ID(str(tier)) if tier is not None else None

    @strawberry.field
    def status(self) -> WaitlistStatus:
        return WaitlistStatus(self.record.status.upper())

    @strawberry.field(description="1 is next; null unless WAITING.")
    def position(self) -> int | None:
        return self.record.position

    @strawberry.field(description="The hold made for this fan while OFFERED.", metadata=per_viewer())
    async def offer(self, info: Info) -> Hold | None:
        if self.record.offer_hold_id is None:
            return None
        hold = await info.context.loaders.holds.load(self.record.offer_hold_id)
        return Hold(record=hold) if hold is not None and hold.user_id == self.record.user_id else None

    created_at = record_field(datetime)
