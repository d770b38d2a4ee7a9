"""Per-request GraphQL context: services from the app's lifespan, the caller, and DataLoaders.

Loaders are built per request, and each batch runs on its own pooled connection, so no
connection or session is ever shared by two concurrently resolving fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from strawberry.dataloader import DataLoader

from ..booking.accounts import sign_in as accounts
from ..booking.catalog import browse as catalog
from ..booking.inventory import holds
from ..booking.errors import InvalidInput
from ..booking.accounts.sessions import Session
from ..booking.records import (EventRecord, HoldRecord, PriceTierRecord, SectionRecord, ShowRecord, UserRecord,
                               VenueRecord, Viewer)

if TYPE_CHECKING:
    from ..services import Services

K = TypeVar("K")
V = TypeVar("V")


def _by_id(fetch: Callable[[list[K]], Awaitable[Mapping[K, V]]]) -> Callable[[list[K]], Awaitable[list[V | None]]]:
    async def load(keys: list[K]) -> list[V | None]:
        found = await fetch(list(keys))
        return [found.get(k) for k in keys]
    return load


def _browsed(fetch: Callable[[Any, list[K]], Awaitable[Mapping[K, Any]]], browse: Any,
             primary: Any) -> Callable[[list[K]], Awaitable[Mapping[K, Any]]]:
    """`fetch` on the browse engine; keys it finds nothing for are asked of the primary when that
    engine is a replica. A row committed milliseconds ago (an organizer's new show, the page a fan
    opens from its link) may not have been replayed yet: late is allowed there, missing is not."""
    async def load(keys: list[K]) -> Mapping[K, Any]:
        found = dict(await fetch(browse, keys))
        missing = [k for k in keys if not found.get(k)]
        if missing and browse is not primary:
            found.update({k: v for k, v in (await fetch(primary, missing)).items() if v})
        return found
    return load


def _grouped(fetch: Callable[[list[K]], Awaitable[Mapping[K, list[V]]]]) -> Callable[[list[K]], Awaitable[list[list[V]]]]:
    async def load(keys: list[K]) -> list[list[V]]:
        found = await fetch(list(keys))
        return [found.get(k, []) for k in keys]
    return load


def browse_engine(services: Services) -> Any:
    """The engine for browse reads: the read replica while it keeps up, else the primary."""
    return services.engine if services.reads is None else services.reads.engine


@dataclass
class Loaders:
    users: DataLoader[uuid.UUID, UserRecord | None]
    venues: DataLoader[uuid.UUID, VenueRecord | None]
    sections: DataLoader[uuid.UUID, list[SectionRecord]]
    events: DataLoader[uuid.UUID, EventRecord | None]
    shows: DataLoader[uuid.UUID, ShowRecord | None]
    shows_of_event: DataLoader[uuid.UUID, list[ShowRecord]]
    price_tiers: DataLoader[uuid.UUID, list[PriceTierRecord]]
    holds: DataLoader[uuid.UUID, HoldRecord | None]


def build_loaders(services: Services) -> Loaders:
    e = services.engine
    browse = browse_engine(services)  # the catalog may come from a read replica (boxoffice/replica.py)
    return Loaders(
        users=DataLoader(_by_id(lambda ids: accounts.get_users(e, ids))),
        venues=DataLoader(_by_id(_browsed(catalog.get_venues, browse, e))),
        sections=DataLoader(_grouped(_browsed(catalog.sections_of_venues, browse, e))),
        events=DataLoader(_by_id(_browsed(catalog.get_events, browse, e))),
        shows=DataLoader(_by_id(_browsed(catalog.get_shows, browse, e))),
        shows_of_event=DataLoader(_grouped(_browsed(catalog.shows_of_events, browse, e))),
        price_tiers=DataLoader(_grouped(_browsed(catalog.price_tiers_of_shows, browse, e))),
        holds=DataLoader(_by_id(lambda ids: holds.get_holds(e, ids))),
    )


@dataclass
class Context:
    services: Services
    request: Any = None
    response: Any = None
    # Set by strawberry from the WebSocket connection_init payload.
    connection_params: dict[str, Any] | None = None
    client_address: str = "unknown"
    # The caller, set by `authenticate()`: for HTTP requests before any resolver runs
    # (BoxofficeGraphQL.get_context), for WebSockets at connection_init (on_ws_connect).
    viewer: Viewer | None = None
    session: Session | None = None
    seats_listed: int = 0  # Show.seats rows this request has asked for so far (see list_seats)
    _loaders: Loaders | None = field(default=None, repr=False)

    def for_operation(self) -> Context:
        """A WebSocket operation's own context: strawberry keeps one per connection, but what a request
        caches (its DataLoaders) and counts (the seats it lists) are per request. Shared, one socket
        read a hold as ACTIVE after its release and kept every id it was ever asked for in memory."""
        return replace(self, seats_listed=0, _loaders=None)

    def list_seats(self, count: int) -> None:
        """Counts seats a Show.seats field is about to list; past the operator's limit for one request
        (over all its aliases) the field is refused before any seat is rendered."""
        self.seats_listed += count
        limit = self.services.settings.max_seats_per_request
        if limit and self.seats_listed > limit:
            raise InvalidInput(f"This request lists {self.seats_listed:,} seats; at most {limit:,} are listed per "
                               "request. Ask for one section at a time (seats(sectionId:)), or read "
                               "Show.availability for the whole map.", field="sectionId")

    @property
    def engine(self) -> Any:
        return self.services.engine

    @property
    def browse_engine(self) -> Any:
        """Events, venues, shows: what may be read a second late (boxoffice/replica.py)."""
        return browse_engine(self.services)

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = build_loaders(self.services)
        return self._loaders

    def authorization(self) -> str | None:
        """The caller's Authorization value: the request's header, or a WebSocket's connection_init."""
        if self.connection_params:
            value = self.connection_params.get("Authorization") or self.connection_params.get("authorization")
            return value if isinstance(value, str) else None
        headers = getattr(self.request, "headers", None)
        return headers.get("authorization") if headers is not None else None

    async def authenticate(self) -> None:
        """Who the caller is now: the token must verify and still hold (booking/accounts/sessions.py)."""
        self.session = await self.services.sessions.of_authorization(self.authorization())
        self.viewer = self.session.viewer if self.session is not None else None
