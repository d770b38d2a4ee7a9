"""The root types: every operation of the contract, wired to its resolver."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from ..resolvers import accounts, catalog, door, holds, live, orders, waiting
from ..resolvers import waitlist
from ..resolvers import refunds
from ..resolvers import after_sale
from .after_sale_types import ResaleResult, TicketResult, TransferResult
from .booking_types import Hold, Order, User, WaitingRoomTicket
from .catalog_types import Event, EventConnection, SeatDelta, Show, Venue
from .viewer_marks import drafts_visible, per_viewer
from .results import (AuthResult, EventResult, HoldResult, OrderResult, ShowResult, VenueResult,
                      WaitingRoomResult)
from .results import CheckInResult
from .results import WaitlistResult


@strawberry.type
class Query:
    server_time: datetime = strawberry.field(
        resolver=catalog.server_time, description="The server's clock, so clients can show hold countdowns without drift.")
    # Marks (viewer_marks.py): a field whose answer depends on the caller says so, or its
    # documents' answers are shared by every caller (query_cache.py).
    viewer: User | None = strawberry.field(resolver=accounts.viewer, description="The signed-in user, or null.",
                                           metadata=per_viewer())
    events: EventConnection = strawberry.field(resolver=catalog.events,
                                               description="Published events, soonest upcoming show first.")
    event: Event | None = strawberry.field(resolver=catalog.event, metadata=drafts_visible())
    show: Show | None = strawberry.field(resolver=catalog.show, metadata=drafts_visible())
    venue: Venue | None = strawberry.field(resolver=catalog.venue)
    hold: Hold | None = strawberry.field(resolver=holds.hold,
                                         description="A hold of the signed-in user; null for anyone else's.",
                                         metadata=per_viewer())
    order: Order | None = strawberry.field(resolver=orders.order,
                                           description="An order of the signed-in user; null for anyone else's.",
                                           metadata=per_viewer())
    waiting_room_ticket: WaitingRoomTicket | None = strawberry.field(
        resolver=waiting.waiting_room_ticket,
        description="A waiting-room ticket of the signed-in user; null for anyone else's.",
        metadata=per_viewer())


@strawberry.type
class Mutation:
    sign_up: AuthResult = strawberry.mutation(resolver=accounts.sign_up)
    log_in: AuthResult = strawberry.mutation(resolver=accounts.log_in)
    log_out: bool = strawberry.mutation(
        resolver=accounts.log_out,
        description=("Ends the caller's sessions: every token issued to them so far stops working, and their "
                     "subscriptions close."))
    create_venue: VenueResult = strawberry.mutation(resolver=catalog.create_venue, description="Organizers only.")
    create_event: EventResult = strawberry.mutation(
        resolver=catalog.create_event, description="Organizers only. A new event is a draft until published.")
    create_show: ShowResult = strawberry.mutation(resolver=catalog.create_show, description="Organizers only.")
    publish_event: EventResult = strawberry.mutation(resolver=catalog.publish_event, description="Organizers only.")
    configure_waiting_room: ShowResult = strawberry.mutation(resolver=waiting.configure_waiting_room,
                                                            description="Organizers only.")
    hold_seats: HoldResult = strawberry.mutation(
        resolver=holds.hold_seats,
        description="Fans: take seats (reserved) and/or a quantity (general admission) for a bounded time.")
    release_hold: HoldResult = strawberry.mutation(resolver=holds.release_hold)
    create_order: OrderResult = strawberry.mutation(
        resolver=orders.create_order,
        description=("Turns an active hold into an order awaiting payment. The order keeps the hold's seats until "
                     "the hold's expiresAt; unpaid by then, it is cancelled and its seats go back on sale (a payment "
                     "that still succeeds later is refunded)."))
    confirm_payment: OrderResult = strawberry.mutation(
        resolver=orders.confirm_payment,
        description="Confirms the order's payment with a payment method (Stripe ids, e.g. pm_card_visa).")
    enter_waiting_room: WaitingRoomResult = strawberry.mutation(
        resolver=waiting.enter_waiting_room,
        description="Joins the show's waiting room; the same user gets the same ticket back, or a new one at the back of the queue once their admission has expired.")
    cancel_show: ShowResult = strawberry.mutation(
        resolver=refunds.cancel_show,
        description=("Organizers only. Ends sales, ends every hold, refunds every confirmed order\n"
                     "through the payment provider, voids their tickets and notifies their\n"
                     "owners. Idempotent; a crash part-way resumes where it stopped."))
    set_refund_policy: ShowResult = strawberry.mutation(resolver=refunds.set_refund_policy,
                                                        description="Organizers only.")
    refund_order: OrderResult = strawberry.mutation(
        resolver=refunds.refund_order,
        description=("The order's owner within the show's refund window, or the show's organizer\n"
                     "at any time: refunds the payment, voids the tickets, puts the seats back on\n"
                     "sale (a live seat change) and offers them to the waitlist first. The owner\n"
                     "only while every ticket is still theirs: none transferred, offered in a\n"
                     "transfer, listed for resale or used at the door (NOT_REFUNDABLE says which)."))
    add_door_staff: ShowResult = strawberry.mutation(
        resolver=door.add_door_staff, description="Organizers only: lets a user (by email) check in tickets of this show.")
    check_in_ticket: CheckInResult = strawberry.mutation(
        resolver=door.check_in_ticket,
        description=("Door staff of the ticket's show, or its organizer: admits the ticket once.\n"
                     "A second scan is ALREADY_CHECKED_IN (its message says when); a void ticket\n"
                     "is TICKET_VOID; another show's ticket is WRONG_SHOW; a forged barcode is\n"
                     "INVALID_INPUT."))
    join_waitlist: WaitlistResult = strawberry.mutation(
        resolver=waitlist.join_waitlist,
        description=("Joins the waitlist of a show (optionally one price tier). When seats come\n"
                     "back on sale, the longest-waiting entry that fits is offered them: a hold\n"
                     "made for that fan (Hold.expiresAt bounds the offer) and a WAITLIST_OFFER\n"
                     "notification. An offer not bought in time passes to the next entry."))
    leave_waitlist: WaitlistResult = strawberry.mutation(resolver=waitlist.leave_waitlist)
    transfer_ticket: TransferResult = strawberry.mutation(
        resolver=after_sale.transfer_ticket, description="The ticket's owner: offers it to another account by email.")
    accept_transfer: TicketResult = strawberry.mutation(
        resolver=after_sale.accept_transfer,
        description="The recipient: the ticket becomes theirs with a new barcode; the old one is void.")
    cancel_transfer: TransferResult = strawberry.mutation(resolver=after_sale.cancel_transfer,
                                                          description="The sender, while still pending.")
    list_for_resale: ResaleResult = strawberry.mutation(
        resolver=after_sale.list_for_resale,
        description=("The ticket's buyer: lists it at no more than the show's resale cap (a ticket\n"
                     "received by transfer is passed on by transfer: a sale pays back the buying card)."))
    withdraw_resale: ResaleResult = strawberry.mutation(resolver=after_sale.withdraw_resale)
    hold_resale_listing: HoldResult = strawberry.mutation(
        resolver=after_sale.hold_resale_listing,
        description=("Buys a listing: it becomes a hold of the buyer, then createOrder and\n"
                     "confirmPayment as usual. On payment, the buyer gets a new ticket (new\n"
                     "barcode), the seller's ticket is void and the seller's payment is refunded\n"
                     "by the listing price; a RESALE_SOLD notification tells the seller."))


@strawberry.type
class Subscription:
    @strawberry.subscription(description=(
        "Seat availability changes of a show, coalesced and throttled: each message carries every seat that "
        "changed since the previous message. With sinceVersion, changes newer than that show version are sent "
        "first."))
    async def seat_changes(self, info: strawberry.Info, show_id: strawberry.ID,
                           since_version: int | None = None) -> AsyncGenerator[SeatDelta, None]:
        async for delta in live.seat_changes(info, show_id, since_version):
            yield delta

    @strawberry.subscription(description="The caller's place in a waiting room, pushed as it moves.")
    async def waiting_room(self, info: strawberry.Info,
                           ticket_id: strawberry.ID) -> AsyncGenerator[WaitingRoomTicket, None]:
        async for ticket in waiting.waiting_room_updates(info, ticket_id):
            yield ticket

    @strawberry.subscription(description="Status changes of one of the caller's orders.")
    async def order_updates(self, info: strawberry.Info, order_id: strawberry.ID) -> AsyncGenerator[Order, None]:
        async for order in orders.order_updates(info, order_id):
            yield order
