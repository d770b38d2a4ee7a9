"""What transfers and resale listings look like to the rest of the program."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..records import TicketRecord


def paid_for_place(order: str, place_price: str) -> str:
    """SQL: what the order (alias `order`, with hold_id and total_cents) paid for one of its places: a
    resale order buys one place for its whole total, a primary order paid the place's price."""
    return (f"CASE WHEN EXISTS (SELECT FROM resale_holds rh WHERE rh.hold_id = {order}.hold_id) "
            f"THEN {order}.total_cents ELSE {place_price} END")


# SQL: what resales of show $1 have paid back to their sellers so far (a payout still pending is not back).
RESALE_PAID_BACK = (
    "(SELECT coalesce(sum(l.refunded_cents), 0) FROM resale_listings l "
    " WHERE l.show_id = $1 AND l.refund_status = 'refunded')")


# SQL: what a voided order (alias r, its payment p) owes back: its charge less what resales of its
# tickets paid back already (Stripe refunds the rest). One rule for every refund's amount.
OWED_AFTER_RESALES = (
    "greatest(p.amount_cents - (SELECT coalesce(sum(l.price_cents), 0) "
    "  FROM resale_listings l WHERE l.seller_order_id = r.id AND l.status = 'sold'), 0)")


@dataclass(frozen=True, slots=True)
class TransferRecord:
    id: uuid.UUID
    ticket_id: uuid.UUID
    show_id: uuid.UUID
    from_user_id: uuid.UUID
    to_email: str
    status: str  # pending | accepted | cancelled
    created_at: datetime
    from_barcode: str  # the sender's barcode when offered (void once accepted)
    new_ticket_id: uuid.UUID | None  # the recipient's ticket, once accepted


@dataclass(frozen=True, slots=True)
class ListingRecord:
    id: uuid.UUID
    ticket_id: uuid.UUID
    show_id: uuid.UUID
    seller_id: uuid.UUID
    seat_id: int | None
    section_id: uuid.UUID
    price_cents: int
    face_value_cents: int
    currency: str
    status: str  # listed | sold | withdrawn
    created_at: datetime


TRANSFER_COLS = "id, ticket_id, show_id, from_user_id, to_email, status, created_at, from_barcode, new_ticket_id"
LISTING_COLS = ("id, ticket_id, show_id, seller_id, seat_id, section_id, price_cents, face_value_cents, currency, "
                "status, created_at")


def transfer_record(r: Any) -> TransferRecord:
    return TransferRecord(id=r.id, ticket_id=r.ticket_id, show_id=r.show_id, from_user_id=r.from_user_id,
                          to_email=r.to_email, status=r.status, created_at=r.created_at,
                          from_barcode=r.from_barcode, new_ticket_id=r.new_ticket_id)


def listing_record(r: Any) -> ListingRecord:
    return ListingRecord(id=r.id, ticket_id=r.ticket_id, show_id=r.show_id, seller_id=r.seller_id, seat_id=r.seat_id,
                         section_id=r.section_id, price_cents=r.price_cents, face_value_cents=r.face_value_cents,
                         currency=r.currency, status=r.status, created_at=r.created_at)


def ticket_record(r: Any, status: str | None = None) -> TicketRecord:
    return TicketRecord(id=r.id, order_id=r.order_id, seat_id=r.seat_id, section_id=r.section_id, barcode=r.barcode,
                        status=str(status or getattr(r, "status", "valid")), checked_in_at=getattr(r, "checked_in_at", None))
