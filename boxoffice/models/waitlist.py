"""Fans waiting for places of a sold-out show (booking/waitlist/, migration 0014_waitlist)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at, uuid_pk


class WaitlistEntry(Base):
    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint("status IN ('waiting', 'offered', 'fulfilled', 'expired', 'left')", name="status"),
        CheckConstraint("quantity BETWEEN 1 AND 100", name="quantity"),
        CheckConstraint("status <> 'offered' OR offer_hold_id IS NOT NULL", name="offer_has_hold"),
        # FIFO per show, and the seat trigger's "anyone waiting?" probe.
        Index("ix_waitlist_entries_waiting", "show_id", "created_at", "id", postgresql_where=text("status = 'waiting'")),
        Index("ix_waitlist_entries_user", "user_id", "created_at"),
        Index("uq_waitlist_entries_live", "show_id", "user_id", unique=True,
              postgresql_where=text("status IN ('waiting', 'offered')")),
        Index("uq_waitlist_entries_offer_hold", "offer_hold_id", unique=True,
              postgresql_where=text("offer_hold_id IS NOT NULL")),
    )
    id: Mapped[uuid.UUID] = uuid_pk()
    show_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shows.id"), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    price_tier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("price_tiers.id"))
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="waiting")
    offer_hold_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("holds.id"))
    created_at: Mapped[datetime] = created_at()
    offered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
