"""Payments (one Stripe PaymentIntent per order), issued tickets, and the webhook events seen."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, func, text
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
    __tablename__ = "tickets"
    __table_args__ = (Index("uq_tickets_barcode", "barcode", unique=True),
                      Index("uq_tickets_place", "show_id", "place_id", unique=True))
    id: Mapped[uuid.UUID] = uuid_pk()
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), nullable=False, index=True)
    show_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shows.id"), nullable=False)
    # The inventory row (reserved seat or GA place) this ticket admits to: one ticket per place.
    place_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    seat_id: Mapped[int | None] = mapped_column(BigInteger)
    section_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    barcode: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created_at()


class RevokedTicket(Base):
    """A voided ticket (refunded or charged back): its barcode still verifies, so doors check this list."""

    __tablename__ = "revoked_tickets"
    __table_args__ = (CheckConstraint("reason IN ('refunded', 'disputed')", name="reason"),
                      Index("uq_revoked_tickets_barcode", "barcode", unique=True),
                      Index("ix_revoked_tickets_show", "show_id", "revoked_at"))
    ticket_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), nullable=False)
    show_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shows.id"), nullable=False)
    barcode: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    revoked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class WebhookEvent(Base):
    """Every Stripe event id handled once, however often Stripe delivers it."""

    __tablename__ = "webhook_events"
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    type: Mapped[str] = mapped_column(Text, nullable=False)
    received_at: Mapped[datetime] = created_at()
