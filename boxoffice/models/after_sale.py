"""After the sale (migration 0013): tickets passed to a friend, and tickets resold at face value."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at, uuid_pk


class TicketTransfer(Base):
    """A ticket offered to an e-mail address; accepted, it is the recipient's with a new barcode."""

    __tablename__ = "ticket_transfers"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'accepted', 'cancelled')", name="status"),
        Index("uq_ticket_transfers_pending", "ticket_id", unique=True, postgresql_where=text("status = 'pending'")),
        Index("ix_ticket_transfers_ticket", "ticket_id", "created_at"),
        Index("ix_ticket_transfers_to_email", "to_email", "created_at"),
        Index("ix_ticket_transfers_new_ticket", "new_ticket_id", postgresql_where=text("new_ticket_id IS NOT NULL")),
    )
    id: Mapped[uuid.UUID] = uuid_pk()
    # No foreign key: a voided ticket leaves `tickets` while its transfers stay on record.
    ticket_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    show_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shows.id"), nullable=False)
    from_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    to_email: Mapped[str] = mapped_column(Text, nullable=False)  # lower case
    # The sender's barcode when offered: what the sender still sees of the ticket once it is not theirs.
    from_barcode: Mapped[str] = mapped_column(Text, nullable=False)
    to_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # Accepted: the recipient's ticket. A transfer re-issues the ticket under a new id (its barcode
    # signs the id); the sender's id stays on the revocation list, so it reads as VOID to them.
    new_ticket_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="pending")
    created_at: Mapped[datetime] = created_at()
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ResaleListing(Base):
    """A ticket offered at no more than its show's resale cap; `hold_id` is the buyer checking out."""

    __tablename__ = "resale_listings"
    __table_args__ = (
        CheckConstraint("status IN ('listed', 'sold', 'withdrawn')", name="status"),
        CheckConstraint("price_cents > 0 AND price_cents <= face_value_cents", name="price"),
        # 'disputed': the seller charged the whole payment back, so no payout is owed (unless the box
        # office wins the dispute: then it is 'pending' again).
        CheckConstraint("refund_status IS NULL OR refund_status IN ('pending', 'refunded', 'disputed')",
                        name="refund_status"),
        CheckConstraint("(status = 'sold') = (buyer_order_id IS NOT NULL AND refund_status IS NOT NULL)",
                        name="sold"),
        Index("uq_resale_listings_open", "ticket_id", unique=True, postgresql_where=text("status = 'listed'")),
        Index("ix_resale_listings_show_price", "show_id", "price_cents", postgresql_where=text("status = 'listed'")),
        Index("ix_resale_listings_seller", "seller_id", "created_at"),
        Index("ix_resale_listings_ticket", "ticket_id", "created_at"),
        Index("ix_resale_listings_refund_pending", "ended_at", postgresql_where=text("refund_status = 'pending'")),
    )
    id: Mapped[uuid.UUID] = uuid_pk()
    ticket_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    show_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shows.id"), nullable=False)
    seller_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    seller_order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), nullable=False)
    place_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    seat_id: Mapped[int | None] = mapped_column(BigInteger)
    section_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    price_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    face_value_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="listed")
    hold_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    buyer_order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"))
    # The seller's refund by the listing price: 'pending' from the sale until Stripe made it.
    refund_status: Mapped[str | None] = mapped_column(Text)
    refund_id: Mapped[str | None] = mapped_column(Text)
    refunded_cents: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at()
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ResaleHold(Base):
    """A hold (and so an order) that buys a listing: its payment settles as a resale."""

    __tablename__ = "resale_holds"
    __table_args__ = (Index("ix_resale_holds_listing", "listing_id"),)
    hold_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("holds.id"), primary_key=True)
    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("resale_listings.id"), nullable=False)
