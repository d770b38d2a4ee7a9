"""Refunds of confirmed orders and show cancellations (issue 19, migration 0012_refunds)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at


class OrderRefund(Base):
    """The money owed back for one refunded order: written in the transaction that voids the order,
    settled at Stripe afterwards (one refund per order, Stripe idempotency key per order). A pending
    row is the durable promise; `next_attempt_at` is both the retry back-off and the claim of the
    process paying it back now."""

    __tablename__ = "order_refunds"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        CheckConstraint("cause IN ('fan', 'organizer', 'show_cancelled', 'dispute_won')", name="cause"),
        Index("ix_order_refunds_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_order_refunds_show", "show_id", "status"),
    )
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    show_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shows.id"), nullable=False)
    amount_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    cause: Mapped[str] = mapped_column(Text, nullable=False)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="pending")
    stripe_refund_id: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                      nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = created_at()
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ShowCancellation(Base):
    """A cancelled show's refund job: 'running' until none of its orders is confirmed or pending, no
    hold of it is active and no refund of it is pending. Its progress is read from the orders and
    refunds themselves, never counted here."""

    __tablename__ = "show_cancellations"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'done')", name="status"),
        Index("ix_show_cancellations_running", "show_id", postgresql_where=text("status = 'running'")),
    )
    show_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("shows.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="running")
    created_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
