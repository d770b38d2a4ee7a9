"""The services one server process shares between requests, built by the app's lifespan (app.py).

Their own module so that routes and resolvers can name them without importing the app that serves them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from .booking.accounts.guards import Guards
from .booking.accounts.sessions import Sessions
from .booking.accounts.sign_in import TokenIssuer
from .booking.catalog.browse import ShowCache
from .booking.checkout.payments import PaymentContext
from .booking.inventory.availability_cache import AvailabilityCache
from .booking.inventory.hold_batch import HoldBatcher
from .booking.inventory.holds import AdmissionCheck
from .booking.inventory.release_batch import ReleaseBatcher
from .booking.inventory.seatmap import GeometryCache
from .booking.waiting_room.room import WaitingRoom
from .config import Settings
from .metrics import Metrics
from .replica import ReplicaReads
from .subscriptions.bus import EventBus
from .subscriptions.seat_feed import SeatFeed
from .subscriptions.seat_hub import SeatHub


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    tokens: TokenIssuer
    sessions: Sessions  # whether a token still holds, and the role it has now (booking/accounts/sessions.py)
    geometry: GeometryCache
    shows: ShowCache
    availability: AvailabilityCache
    bus: EventBus
    hub: SeatHub
    live: SeatFeed
    limits: Guards
    admission: AdmissionCheck | None
    waiting_room: WaitingRoom
    payments: PaymentContext
    metrics: Metrics
    # Where browse reads go (boxoffice/replica.py): the read replica while it keeps up, else `engine`.
    reads: ReplicaReads | None = None
    holds: HoldBatcher | None = None  # group commit of reserved-seat holds (booking/inventory/hold_batch.py)
    releases: ReleaseBatcher | None = None  # and of releases (booking/inventory/release_batch.py)
