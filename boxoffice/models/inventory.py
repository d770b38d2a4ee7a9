"""Per-show inventory: one row per sellable unit (a reserved seat or one GA place).

General admission is pre-materialised as one row per place so a flash sale claims
distinct rows with FOR UPDATE SKIP LOCKED instead of fighting over one counter row.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (BigInteger, CheckConstraint, DateTime, ForeignKey, Identity, Index, Integer,
                        String, Text, text)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at, uuid_pk


class ShowSeat(Base):
    __tablename__ = "show_seats"
    __table_args__ = (
        # 'W': parked for the waitlist (migration 0014_waitlist), never claimed by open sale.
        CheckConstraint("status IN ('A', 'H', 'S', 'B', 'W')", name="status"),
        CheckConstraint("(status = 'H') = (hold_id IS NOT NULL)", name="held_has_hold"),
        Index("ix_show_seats_map", "show_id", "position", postgresql_where=text("position IS NOT NULL")),
        Index("ix_show_seats_version", "show_id", "version"),
        Index("ix_show_seats_hold", "hold_id", postgresql_where=text("hold_id IS NOT NULL")),
        Index("ix_show_seats_order", "order_id", postgresql_where=text("order_id IS NOT NULL")),
        Index("ix_show_seats_ga", "show_id", "section_id", "status", postgresql_where=text("position IS NULL")),
        Index("ix_show_seats_parked", "show_id", "id", postgresql_where=text("status = 'W'")),
    )
    # Keyed by show first: every hot statement names its show (ready for sharding by show).
    show_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shows.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    section_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    venue_seat_id: Mapped[int | None] = mapped_column(BigInteger)
    # Map order of a reserved seat; NULL for a general-admission place.
    position: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(1), nullable=False, server_default="A")
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    price_cents: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # No foreign keys on the hot columns: each would cost a lookup and a lock per seat;
    # `boxoffice audit` checks them instead.
    hold_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    hold_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class Hold(Base):
    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'released', 'expired', 'converted')", name="status"),
        Index("uq_holds_user_key", "user_id", "idempotency_key", unique=True),
        Index("ix_holds_user_show", "user_id", "show_id"),
        Index("ix_holds_expiry", "expires_at", postgresql_where=text("status = 'active'")),
        # What the per-fan ticket limit sums on every hold: index-only, the fan's active holds alone.
        Index("ix_holds_user_show_active", "user_id", "show_id", postgresql_include=["expires_at", "ticket_count"],
              postgresql_where=text("status = 'active'")),
    )
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    show_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shows.id"), nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="active")
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    idempotency_key: Mapped[str] = mapped_column(Text, nullable=False)
    request_hash: Mapped[str] = mapped_column(Text, nullable=False)
    seat_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), nullable=False)
    unit_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), nullable=False)
    ga_lines: Mapped[list[dict]] = mapped_column(JSONB, nullable=False)
    ticket_count: Mapped[int] = mapped_column(Integer, nullable=False)
    total_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created_at()
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
