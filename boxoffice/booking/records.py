"""Plain records the domain returns; the GraphQL layer wraps them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is calling, from a verified bearer token."""

    user_id: uuid.UUID
    role: str

    @property
    def is_organizer(self) -> bool:
        return self.role in ("organizer", "admin")


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: uuid.UUID
    email: str
    name: str
    role: str
    token_version: int = 0  # tokens carry it; a newer one in the database ends older tokens


@dataclass(frozen=True, slots=True)
class VenueRecord:
    id: uuid.UUID
    name: str
    city: str
    capacity: int
    created_by: uuid.UUID
    time_zone: str = "UTC"  # IANA zone name: show times are shown in it


@dataclass(frozen=True, slots=True)
class SectionRecord:
    id: uuid.UUID
    venue_id: uuid.UUID
    name: str
    general_admission: bool
    capacity: int
    position: int


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: uuid.UUID
    venue_id: uuid.UUID
    organizer_id: uuid.UUID
    name: str
    performer: str
    category: str
    description: str | None
    status: str


@dataclass(frozen=True, slots=True)
class ShowRecord:
    id: uuid.UUID
    event_id: uuid.UUID
    venue_id: uuid.UUID
    starts_at: datetime
    on_sale_at: datetime | None
    currency: str
    hold_ttl_seconds: int
    max_tickets_per_user: int
    waiting_room_enabled: bool
    admit_per_minute: int
    admission_ttl_seconds: int
    version_sequence: str
    event_status: str
    organizer_id: uuid.UUID
    status: str = "scheduled"  # or 'cancelled' (booking/refunds/cancel_show.py)
    fan_refunds_until_hours_before: int | None = None  # fans refund until this many hours before; None: never


@dataclass(frozen=True, slots=True)
class PriceTierRecord:
    id: uuid.UUID
    name: str
    price_cents: int
    section_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True, slots=True)
class SectionCount:
    section_id: uuid.UUID
    name: str
    general_admission: bool
    capacity: int
    available: int


@dataclass(frozen=True, slots=True)
class SeatView:
    """One reserved seat of a show as the map shows it."""

    id: int
    section_id: uuid.UUID
    section: str
    row: str
    number: str
    status: str
    version: int
    price_cents: int
    accessible: bool
    obstructed: bool
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class AvailabilitySnapshot:
    version: int
    codes: str
    sections: tuple[SectionCount, ...]


@dataclass(frozen=True, slots=True)
class GALine:
    section_id: uuid.UUID
    quantity: int
    price_cents: int


@dataclass(frozen=True, slots=True)
class HoldRecord:
    id: uuid.UUID
    user_id: uuid.UUID
    show_id: uuid.UUID
    status: str  # active | released | expired | converted, as the clock says now
    expires_at: datetime
    seat_ids: tuple[int, ...]
    general_admission: tuple[GALine, ...]
    ticket_count: int
    total_cents: int
    currency: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SeatChange:
    """A committed status change, as published to live seat maps."""

    seat_id: int
    section_id: uuid.UUID
    status: str
    version: int
    ga: bool


@dataclass(slots=True)
class ChangeSet:
    """What a transaction changed, to publish after it commits."""

    by_show: dict[uuid.UUID, list[SeatChange]] = field(default_factory=dict)
    orders: set[uuid.UUID] = field(default_factory=set)  # orders whose status changed
    resold: set[uuid.UUID] = field(default_factory=set)  # resale orders just paid: their sellers are refunded next

    def add(self, show_id: uuid.UUID, change: SeatChange) -> None:
        self.by_show.setdefault(show_id, []).append(change)

    def merge(self, other: ChangeSet) -> ChangeSet:
        for show_id, changes in other.by_show.items():
            self.by_show.setdefault(show_id, []).extend(changes)
        self.orders |= other.orders
        self.resold |= other.resold
        return self


@dataclass(frozen=True, slots=True)
class OrderRecord:
    id: uuid.UUID
    user_id: uuid.UUID
    show_id: uuid.UUID
    hold_id: uuid.UUID
    status: str
    ticket_count: int
    total_cents: int
    currency: str
    expires_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    id: uuid.UUID
    order_id: uuid.UUID
    provider: str
    status: str
    amount_cents: int
    currency: str
    next_action_url: str | None
    failure_reason: str | None


@dataclass(frozen=True, slots=True)
class TicketRecord:
    id: uuid.UUID
    order_id: uuid.UUID
    seat_id: int | None
    section_id: uuid.UUID
    barcode: str
    status: str = "valid"  # 'valid' | 'checked_in' (a live row of tickets) | 'void' (only on revoked_tickets)
    checked_in_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    id: uuid.UUID
    kind: str
    subject: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WaitingRoomView:
    """A fan's place in a show's waiting room, as the GraphQL layer shows it."""

    ticket_id: str
    show_id: uuid.UUID
    user_id: uuid.UUID
    status: str  # WAITING | ADMITTED | EXPIRED
    position: int | None
    estimated_wait_seconds: int | None
    admission_token: str | None
    admission_expires_at: datetime | None
