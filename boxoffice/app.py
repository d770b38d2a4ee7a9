"""The ASGI application: explicit routes and middleware, a typed lifespan holding the services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypedDict

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL

from .booking.accounts import TokenIssuer
from .booking.availability_cache import AvailabilityCache
from .booking.guards import Guards
from .booking.holds import AdmissionCheck, release_expired_holds
from .booking.seatmap import GeometryCache
from .config import Settings, load_settings
from .db import create_engine
from .metrics import Metrics, MetricsExtension
from .resolvers.context import Context
from .schema.build import build_schema
from .subscriptions.bus import EventBus
from .subscriptions.seat_feed import SeatFeed, SeatStateReader
from .subscriptions.seat_hub import SeatHub

log = logging.getLogger("boxoffice")
MAX_BODY_BYTES = 1_000_000
FRONTEND_DIST = Path(__file__).resolve().parent.parent / "frontend-sample" / "dist"


class WaitingRoomPort:
    """What the GraphQL layer needs of the waiting room."""

    async def queue_length(self, show_id: Any) -> int:
        return 0


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    tokens: TokenIssuer
    geometry: GeometryCache
    availability: AvailabilityCache
    bus: EventBus
    hub: SeatHub
    live: SeatFeed
    limits: Guards
    admission: AdmissionCheck | None
    waiting_room: WaitingRoomPort
    metrics: Metrics


class State(TypedDict):
    services: Services


class BoxofficeGraphQL(GraphQL[Context, None]):
    async def get_context(self, request: Any, response: Any = None) -> Context:
        client = getattr(request, "client", None)
        return Context(services=request.state.services, request=request, response=response,
                       client_address=client.host if client else "unknown")

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)


class BodyLimit:
    """Refuses oversized request bodies before anything parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
                await JSONResponse({"errors": [{"message": "Request body too large.",
                                                "extensions": {"code": "INVALID_INPUT"}}]}, 413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def healthz(request: Request) -> Response:
    engine: AsyncEngine = request.state.services.engine
    try:
        async with asyncio.timeout(2):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "down"}, 503)
    return JSONResponse({"status": "ok"})


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.state.services.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def sweep_expired_holds(services: Services, stop: asyncio.Event) -> None:
    """Every server process sweeps; SKIP LOCKED keeps them from doing the same hold twice."""
    while not stop.is_set():
        try:
            while True:
                count, changes = await release_expired_holds(services.engine)
                if count:
                    services.metrics.expired_holds.inc(count)
                    await services.live.publish(changes)
                if count < 500:
                    break
        except Exception:
            log.exception("hold sweeper failed; retrying")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), services.settings.hold_sweep_interval_s)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set (`boxoffice serve` starts an embedded database for you).")
    metrics = Metrics()
    schema = build_schema([partial(MetricsExtension, metrics=metrics)])
    graphql = BoxofficeGraphQL(schema, keep_alive=True, keep_alive_interval=15,
                               allowed_origins=["*"] if not settings.production else ())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        engine = create_engine(settings.database_url or "")
        bus = EventBus(settings.redis_url)
        await bus.connect()
        reader = SeatStateReader(engine)
        hub = SeatHub(bus, load_since=reader.load_since, load_sections=reader.load_sections,
                      window_ms=settings.seat_delta_window_ms)
        availability = AvailabilityCache(engine)
        services = Services(settings=settings, engine=engine, tokens=TokenIssuer(settings.secret, settings.token_ttl_s),
                            geometry=GeometryCache(), availability=availability, bus=bus, hub=hub,
                            live=SeatFeed(bus, availability.invalidate), limits=Guards(None), admission=None,
                            waiting_room=WaitingRoomPort(), metrics=metrics)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(sweep_expired_holds(services, stop), name="hold-sweeper")]
        try:
            yield {"services": services}
        finally:
            stop.set()
            await hub.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await bus.disconnect()
            await engine.dispose()

    routes: list[BaseRoute] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/metrics", metrics_endpoint),
    ]
    if FRONTEND_DIST.is_dir():
        routes.append(Mount("/", StaticFiles(directory=FRONTEND_DIST, html=True), name="frontend"))
    middleware = [Middleware(BodyLimit)]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
