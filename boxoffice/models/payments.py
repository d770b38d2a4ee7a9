"""Payments (one Stripe PaymentIntent per order), issued tickets, and the webhook events seen."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at, uuid_pk


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("status IN ('requires_payment_method', 'requires_action', 'processing', 'succeeded', "
                        "'failed', 'canceled', 'refunded')", name="status"),
        Index("uq_payments_order", "order_id", unique=True),
        Index("uq_payments_intent", "intent_id", unique=True),
        Index("ix_payments_unsettled", "updated_at",
              postgresql_where=text("status NOT IN ('succeeded', 'canceled', 'refunded')")),
    )
    id: Mapped[uuid.UUID] = uuid_pk()
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), nullable=False)
    provider: Mapped[str] = mapped_column(Text, nullable=False, server_default="stripe")
    intent_id: Mapped[str | None] = mapped_column(Text)
    # The card the intent was first created and confirmed with, written before that call so its
    # creation can be repeated exactly, and the fan's key of that attempt (migration 0016,
    # booking/checkout/intent_creation.py).
    first_payment_method: Mapped[str | None] = mapped_column(Text)
    first_payment_key: Mapped[str | None] = mapped_column(Text)
    # The 3-D Secure return address it was sent with: the same request again finds its intent.
    first_return_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="requires_payment_method")
    amount_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    next_action_url: Mapped[str | None] = mapped_column(Text)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    refund_id: Mapped[str | None] = mapped_column(Text)
    # A chargeback: Stripe's dispute id and its last known status (needs_response, won, lost...).
    dispute_id: Mapped[str | None] = mapped_column(Text)
    dispute_status: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Ticket(Base):
    """A ticket that admits someone: void ones leave this table for `revoked_tickets` (migration 0010)."""

    __tablename__ = "tickets"
    __table_args__ = (Index("uq_tickets_barcode", "barcode", unique=True),
                      Index("uq_tickets_place", "show_id", "place_id", unique=True),
                      Index("ix_tickets_holder", "holder_id", postgresql_where=text("holder_id IS NOT NULL")),
                      CheckConstraint("status IN ('valid', 'checked_in')", name="status"),
                      CheckConstraint("(status = 'checked_in') = (checked_in_at IS NOT NULL)", name="checked_in_at"))
    id: Mapped[uuid.UUID] = uuid_pk()
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), nullable=False, index=True)
    show_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shows.id"), nullable=False)
    # The inventory row (reserved seat or GA place) this ticket admits to: one ticket per place.
    place_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    seat_id: Mapped[int | None] = mapped_column(BigInteger)
    section_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    barcode: Mapped[str] = mapped_column(Text, nullable=False)
    # Who owns it since a transfer (migration 0013); NULL: the order's buyer.
    holder_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # Offered for resale: the door does not admit it and it cannot be transferred (booking/after_sale/).
    listed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # Admitted once: set by one conditional UPDATE, so two doors never both admit a ticket.
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="valid")
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()


class RevokedTicket(Base):
    """A barcode that no longer admits anyone: its ticket was voided (refunded, cancelled, charged back,
    resold) or re-barcoded (transferred). The barcode still verifies, so doors check this list; keyed
    by barcode because a transferred ticket revokes its old barcode and lives on."""

    __tablename__ = "revoked_tickets"
    __table_args__ = (CheckConstraint("reason IN ('refunded', 'disputed', 'cancelled', 'transferred', 'resold')",
                                      name="reason"),
                      Index("ix_revoked_tickets_ticket", "ticket_id"),
                      Index("ix_revoked_tickets_order", "order_id"),
                      Index("ix_revoked_tickets_show", "show_id", "revoked_at"))
    barcode: Mapped[str] = mapped_column(Text, primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), nullable=False)
    show_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shows.id"), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    # Where the void ticket was, so its former owner can still be shown it.
    place_id: Mapped[int | None] = mapped_column(BigInteger)
    seat_id: Mapped[int | None] = mapped_column(BigInteger)
    section_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    revoked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class WebhookEvent(Base):
    """Every Stripe event id handled once, however often Stripe delivers it."""

    __tablename__ = "webhook_events"
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    type: Mapped[str] = mapped_column(Text, nullable=False)
    received_at: Mapped[datetime] = created_at()
