"""Orders, and the outbox/notifications that record what happened to people."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Identity, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at, uuid_pk


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        # disputed: the buyer charged the payment back; its tickets are void.
        CheckConstraint("status IN ('pending_payment', 'confirmed', 'cancelled', 'refunded', 'disputed')",
                        name="status"),
        Index("uq_orders_user_key", "user_id", "idempotency_key", unique=True),
        Index("uq_orders_hold", "hold_id", unique=True),
        Index("ix_orders_user_created", "user_id", "created_at"),
        Index("ix_orders_pending_expiry", "expires_at", postgresql_where=text("status = 'pending_payment'")),
        # The show's sales report and export (migration 0011_door).
        Index("ix_orders_show_confirmed", "show_id", "confirmed_at", postgresql_where=text("confirmed_at IS NOT NULL")),
    )
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    show_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shows.id"), nullable=False)
    hold_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("holds.id"), nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="pending_payment")
    ticket_count: Mapped[int] = mapped_column(Integer, nullable=False)
    total_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    idempotency_key: Mapped[str] = mapped_column(Text, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = created_at()
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # Every kind of the contract's NotificationKind (migration 0012_refunds).
        CheckConstraint("kind IN ('ORDER_CONFIRMED', 'PAYMENT_FAILED', 'HOLD_EXPIRED', 'ORDER_CANCELLED', "
                        "'SHOW_CANCELLED', 'ORDER_REFUNDED', 'TICKET_TRANSFERRED', 'WAITLIST_OFFER', 'RESALE_SOLD')",
                        name="kind"),
        Index("ix_notifications_user_created", "user_id", "created_at"),
    )
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    # The outbox message it came from: delivering a message twice creates one notification.
    outbox_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[datetime] = created_at()


class OutboxMessage(Base):
    """Written in the same transaction as the state change it reports."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unrelayed", "id", postgresql_where=text("relayed_at IS NULL")),)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    topic: Mapped[str] = mapped_column(Text, nullable=False)
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    payload: Mapped[dict] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = created_at()
    relayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Until when a relay has the row (notifications/relay.py): it XADDs outside any transaction.
    relay_lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
