from __future__ import annotations

from datetime import datetime

import strawberry


@strawberry.input
class SignUpInput:
    email: str
    password: str
    name: str


@strawberry.input
class RowInput:
    label: str
    seat_count: int = strawberry.field(description="Seats are numbered 1..seatCount.")
    accessible_seats: list[int] | None = None
    obstructed_seats: list[int] | None = None


@strawberry.input(description="A section is either reserved seating (rows) or general admission (capacity).")
class SectionInput:
    name: str
    rows: list[RowInput] | None = None
    general_admission_capacity: int | None = None


@strawberry.input
class VenueInput:
    name: str
    city: str
    sections: list[SectionInput]
    time_zone: str | None = strawberry.field(default=None, description=(
        "IANA time zone; default UTC. An unknown zone is INVALID_INPUT."))


@strawberry.input
class EventInput:
    name: str
    performer: str
    category: str
    venue_id: strawberry.ID
    description: str | None = None


@strawberry.input
class EventFilter:
    city: str | None = None
    performer: str | None = None
    venue_id: strawberry.ID | None = None
    category: str | None = None
    search: str | None = strawberry.field(default=None, description="Free text over event name, performer and venue.")
    starts_after: datetime | None = None
    starts_before: datetime | None = None


@strawberry.input
class PriceTierInput:
    name: str
    price_cents: int
    sections: list[str] = strawberry.field(description="Names of the venue's sections priced at this tier.")


@strawberry.input
class ShowInput:
    event_id: strawberry.ID
    starts_at: datetime
    currency: str = strawberry.field(description="ISO 4217, e.g. USD.")
    price_tiers: list[PriceTierInput]
    on_sale_at: datetime | None = None
    hold_ttl_seconds: int | None = strawberry.field(default=None, description="How long a hold lasts; default 600.")
    max_tickets_per_user: int | None = strawberry.field(default=None, description="Default 8.")


@strawberry.input
class GeneralAdmissionInput:
    section_id: strawberry.ID
    quantity: int


@strawberry.input
class HoldSeatsInput:
    show_id: strawberry.ID
    idempotency_key: str = strawberry.field(
        description="Same key and same input: the same hold back. Same key, other input: IDEMPOTENCY_CONFLICT.")
    seat_ids: list[strawberry.ID] | None = None
    general_admission: list[GeneralAdmissionInput] | None = None
    admission_token: str | None = strawberry.field(default=None,
                                                   description="Required while the show's waiting room is enabled.")


@strawberry.input
class CreateOrderInput:
    hold_id: strawberry.ID
    idempotency_key: str


@strawberry.input
class ConfirmPaymentInput:
    order_id: strawberry.ID
    payment_method: str = strawberry.field(description=(
        "A Stripe PaymentMethod id; in test mode pm_card_visa, pm_card_visa_chargeDeclined, "
        "pm_card_authenticationRequired."))
    idempotency_key: str


@strawberry.input
class WaitingRoomInput:
    enabled: bool
    admit_per_minute: int
    admission_ttl_seconds: int | None = None
