"""Venues with their static geometry, events and shows with their price tiers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, DateTime, Float, ForeignKey, Identity,
                        Index, Integer, Text, UniqueConstraint)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at, uuid_pk


class Venue(Base):
    __tablename__ = "venues"
    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    city: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = created_at()
    # IANA zone name, validated by the domain (migration 0009): show times are shown in it.
    time_zone: Mapped[str] = mapped_column(Text, nullable=False, server_default="UTC")


class Section(Base):
    __tablename__ = "sections"
    __table_args__ = (UniqueConstraint("venue_id", "name"), CheckConstraint("capacity >= 0", name="capacity"))
    id: Mapped[uuid.UUID] = uuid_pk()
    venue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("venues.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    general_admission: Mapped[bool] = mapped_column(Boolean, nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)


class VenueSeat(Base):
    """A physical seat; every show at the venue gets one inventory row per venue seat."""

    __tablename__ = "venue_seats"
    __table_args__ = (Index("ix_venue_seats_venue_position", "venue_id", "position", unique=True),)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    venue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("venues.id"), nullable=False)
    section_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sections.id"), nullable=False)
    row_label: Mapped[str] = mapped_column(Text, nullable=False)
    number: Mapped[str] = mapped_column(Text, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    x: Mapped[float] = mapped_column(Float, nullable=False)
    y: Mapped[float] = mapped_column(Float, nullable=False)
    accessible: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    obstructed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (CheckConstraint("status IN ('draft', 'published', 'cancelled')", name="status"),)
    id: Mapped[uuid.UUID] = uuid_pk()
    venue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("venues.id"), nullable=False, index=True)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    performer: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="draft")
    created_at: Mapped[datetime] = created_at()


class Show(Base):
    __tablename__ = "shows"
    __table_args__ = (
        CheckConstraint("hold_ttl_seconds BETWEEN 30 AND 3600", name="hold_ttl"),
        CheckConstraint("max_tickets_per_user BETWEEN 1 AND 100", name="max_tickets"),
        CheckConstraint("status IN ('scheduled', 'cancelled')", name="status"),
        CheckConstraint("fan_refunds_until_hours_before IS NULL OR fan_refunds_until_hours_before BETWEEN 0 AND 8760",
                        name="refund_window"),
        CheckConstraint("resale_cap_percent BETWEEN 1 AND 100", name="resale_cap"),
    )
    id: Mapped[uuid.UUID] = uuid_pk()
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id"), nullable=False, index=True)
    venue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("venues.id"), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    on_sale_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    hold_ttl_seconds: Mapped[int] = mapped_column(Integer, nullable=False, server_default="600")
    max_tickets_per_user: Mapped[int] = mapped_column(Integer, nullable=False, server_default="8")
    waiting_room_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    admit_per_minute: Mapped[int] = mapped_column(Integer, nullable=False, server_default="600")
    admission_ttl_seconds: Mapped[int] = mapped_column(Integer, nullable=False, server_default="900")
    # Name of this show's change counter (a sequence): seat versions are drawn from it, so
    # concurrent holds of one show never serialise on a counter row.
    version_sequence: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="scheduled")
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # Fans may refund their own orders until this many hours before the show; NULL: never.
    fan_refunds_until_hours_before: Mapped[int | None] = mapped_column(Integer)
    # The largest resale price, as a percentage of face value (face-value resale: at most 100).
    resale_cap_percent: Mapped[int] = mapped_column(Integer, nullable=False, server_default="100")
    created_at: Mapped[datetime] = created_at()


class PriceTier(Base):
    __tablename__ = "price_tiers"
    __table_args__ = (CheckConstraint("price_cents >= 0", name="price"),)
    id: Mapped[uuid.UUID] = uuid_pk()
    show_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shows.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    price_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)


class ShowSection(Base):
    """A section as sold at one show: its price tier (none: not on sale)."""

    __tablename__ = "show_sections"
    show_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shows.id"), primary_key=True)
    section_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sections.id"), primary_key=True)
    price_tier_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("price_tiers.id"))
    price_cents: Mapped[int | None] = mapped_column(Integer)
