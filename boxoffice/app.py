"""The ASGI application: explicit routes and middleware, a typed lifespan holding the services."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, TypedDict

import json

import orjson
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.extensions import DisableIntrospection
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from cross_web import HTTPException

from . import http_routes
from .http_body import MAX_BODY_BYTES, BodyLimit
from .booking.accounts import TokenIssuer
from .booking.sessions import Sessions
from .booking.availability_cache import AvailabilityCache
from .booking.catalog import ShowCache
from .booking.guards import Guards
from .booking.hold_batch import HoldBatcher
from .booking.hold_release import release_expired_holds
from .booking.holds import AdmissionCheck
from .booking.payments import PaymentContext
from .booking.promoter import InProcessPromoterLease, Promoter, RedisPromoterLease
from .booking.queue_store import InProcessQueueStore
from .booking.rate_limits import InProcessRateLimiter, RedisRateLimiter
from .booking.reconcile import reconcile
from .booking.redis_queue_store import RedisQueueStore, make_redis_client
from .booking.seatmap import GeometryCache
from .booking.waiting_access import admission_check, rooms_to_promote
from .booking.waiting_room import WaitingRoom
from .client_address import client_address
from .config import Settings, load_settings
from .db import create_engine
from .failure_log import FailureStreak
from .graphiql_page import graphiql_assets, graphiql_page
from .metrics import Metrics, MetricsExtension
from .query_cache import QueryCache, QueryCacheMiddleware, SharedAnswers
from .security_headers import SecurityHeaders
from .shed_load import ShedLoad
from .notifications import NotificationPipeline
from .payments.gateway import StripeGateway
from .payments import mode as payment_mode
from .payments.simulator import SimulatorService, simulator_api_key
from .resolvers.hold_documents import HoldDocuments
from .resolvers.hold_fast_path import HoldFastPath
from .fast_path import GraphQLFastPath
from .schema.prepared_documents import PreparedDocuments
from .resolvers.waiting import waiting_room_channel
from .resolvers.context import Context
from .schema.build import DOCUMENT_TOO_LONG, MAX_DOCUMENT_CHARS, build_schema, is_subscription, parse_document
from .schema.viewer_marks import DocumentKinds
from .schema.response_budget import within_budget
from .schema.shared_events import encode_message
from .schema.transport_ws import LiveTransportWSHandler
from .schema.text_rules import UNSTORABLE_TEXT, has_unstorable_text
from .subscriptions.bus import EventBus
from .subscriptions.seat_feed import SeatFeed, SeatStateReader
from .subscriptions.seat_hub import SeatHub

log = logging.getLogger("boxoffice")
FRONTEND_DIST = Path(__file__).resolve().parent.parent / "frontend-sample" / "dist"


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    tokens: TokenIssuer
    sessions: Sessions  # whether a token still holds, and the role it has now (booking/sessions.py)
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
    holds: HoldBatcher | None = None  # group commit of reserved-seat holds (booking/hold_batch.py)


class State(TypedDict):
    services: Services


class BoxofficeGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = LiveTransportWSHandler  # seat deltas written from the hub's flush

    async def get_context(self, request: Any, response: Any = None) -> Context:
        services = request.state.services
        context = Context(services=services, request=request, response=response,
                          client_address=client_address(request.scope, services.settings.trusted_proxies))
        if request.scope["type"] == "http":  # a WebSocket's caller is known at connection_init
            await context.authenticate()
        return context

    async def on_ws_connect(self, context: Context) -> Any:
        await context.authenticate()  # before the ack: no operation runs with an unknown caller
        return await super().on_ws_connect(context)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return json.loads(data)  # the stdlib's reading of edge cases (e.g. lone surrogates)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return graphiql_page()  # our build, every asset same-origin: strawberry's loads them from a CDN

    max_response_bytes = 0  # set from the settings: larger HTTP answers become a typed error

    def create_response(self, response_data: Any, sub_response: Any) -> Any:
        return within_budget(super().create_response(response_data, sub_response), self.max_response_bytes)

    def encode_json(self, data: object) -> str:
        # str, not bytes: graphql-transport-ws requires text frames on the WebSocket.
        return encode_message(data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as err:  # a refused request is still a GraphQL response, typed
            response = JSONResponse({"errors": [{"message": err.reason, "extensions": {"code": "INVALID_INPUT"}}]},
                                    status_code=err.status_code)
        await response(scope, receive, send)

    async def parse_http_body(self, request: Any) -> Any:
        try:
            data = await super().parse_http_body(request)
        except HTTPException:
            raise
        except (UnicodeError, ValueError, TypeError, AttributeError, RecursionError):
            raise HTTPException(400, "The body is not a GraphQL request: a JSON object with a query.") from None
        for item in data if isinstance(data, list) else [data]:
            if has_unstorable_text(item.variables) or has_unstorable_text(item.operation_name):
                raise HTTPException(400, UNSTORABLE_TEXT)
            if item.query and len(item.query) > MAX_DOCUMENT_CHARS:  # before anything parses it
                raise HTTPException(400, DOCUMENT_TOO_LONG)
            if item.query and is_subscription(item.query, item.operation_name):
                raise HTTPException(400, "Subscriptions are served over WebSocket at /graphql (graphql-transport-ws).")
        return data


async def sweep_expired_holds(services: Services, stop: asyncio.Event) -> None:
    """Every server process sweeps; SKIP LOCKED keeps them from doing the same hold twice."""
    streak = FailureStreak(log, "hold sweeper")
    while not stop.is_set():
        try:
            while True:
                count, changes = await release_expired_holds(services.engine)
                if count:
                    services.metrics.expired_holds.inc(count)
                    await services.live.publish(changes)
                if count < 500:
                    break
            streak.succeeded()
        except Exception as error:
            streak.failed(error)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), services.settings.hold_sweep_interval_s)


async def run_every(interval_s: float, stop: asyncio.Event, name: str, job: Callable[[], Awaitable[object]]) -> None:
    """A background job of every server process; failures are logged and retried next round."""
    streak = FailureStreak(log, name)
    while not stop.is_set():
        try:
            await job()
            streak.succeeded()
        except Exception as error:
            streak.failed(error)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


def _waiting_room_parts(settings: Settings, redis: Any) -> tuple[WaitingRoom, Any, Any, Any]:
    clock = lambda: datetime.now(timezone.utc)  # noqa: E731
    if redis is None:
        return (WaitingRoom(InProcessQueueStore(), secret=settings.secret, clock=clock), InProcessPromoterLease(),
                InProcessRateLimiter(), None)
    return (WaitingRoom(RedisQueueStore(redis), secret=settings.secret, clock=clock), RedisPromoterLease(redis),
            RedisRateLimiter(redis), redis)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set (`boxoffice serve` starts an embedded database for you).")
    refusal = payment_mode.refusal(settings)
    if refusal:
        raise SystemExit(refusal)
    metrics = Metrics()
    query_cache = QueryCache(ttl_s=settings.query_cache_ms / 1000)
    extensions: list[Callable[[], SchemaExtension]] = [partial(MetricsExtension, metrics=metrics)]
    if not settings.introspection:
        extensions.append(DisableIntrospection)  # one rule class for every request: validation stays cached
    schema = build_schema(extensions, validation_budget_ms=settings.validation_budget_ms,
                          max_response_bytes=settings.max_response_bytes)
    graphql = BoxofficeGraphQL(schema, keep_alive=True, keep_alive_interval=15,
                               allowed_origins=["*"] if not settings.production else (),
                               graphql_ide="graphiql" if settings.graphiql_enabled else None,
                               # graphql-transport-ws only: the legacy graphql-ws protocol has no
                               # connection_init deadline, so a silent socket would stay open for good.
                               subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
                               connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_s))
    graphql.max_response_bytes = settings.max_response_bytes
    # Which documents' answers signed-in callers share (query_cache.py), from the schema's marks.
    document_kinds = DocumentKinds(schema._schema, parse_document)

    simulator: SimulatorService | None = None
    sim_engine = None
    if settings.simulated_stripe:
        # Like Stripe, one service for the deployment: its state lives in PostgreSQL (schema stripe_sim).
        sim_engine = create_engine(settings.database_url, pool_size=5, max_overflow=5)
        simulator = SimulatorService(sim_engine, webhook_url=f"{settings.public_url}/webhooks/stripe",
                                     webhook_secret=settings.stripe_webhook_secret or "",
                                     public_url=settings.public_url,
                                     api_keys=frozenset({simulator_api_key(settings.secret)}),
                                     test_mode=settings.stripe_sim_faults and not settings.production)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        # No overflow: under a flash sale an overflow pool opens and closes connections all the time.
        engine = create_engine(settings.database_url or "", pool_size=settings.db_pool_size, max_overflow=0)
        bus = EventBus(settings.redis_url)
        await bus.connect()
        redis = make_redis_client(settings.redis_url) if settings.redis_url else None
        room, lease, limiter, _ = _waiting_room_parts(settings, redis)
        api_key, api_base = payment_mode.stripe_endpoint(settings, simulator_api_key(settings.secret))
        gateway = StripeGateway(api_key, api_base, settings.stripe_webhook_secret or "",
                                timeout_s=settings.stripe_timeout_s)
        payments = PaymentContext(gateway=gateway, secret=settings.secret,
                                  return_url=f"{settings.public_url}/#/payment-return")
        if simulator is not None:
            await simulator.start()
        # The hub's reads get their own small pool: they never queue behind holds for a connection.
        hub_engine = create_engine(settings.database_url or "", pool_size=2, max_overflow=3)
        reader = SeatStateReader(hub_engine)
        hub = SeatHub(bus, load_since=reader.load_since, load_sections=reader.load_sections,
                      load_version=reader.load_version, window_ms=settings.seat_delta_window_ms)
        availability = AvailabilityCache(engine)
        tokens = TokenIssuer(settings.secret, settings.token_ttl_s)
        sessions = Sessions(engine, tokens, bus, cache_s=settings.session_cache_s)
        sessions.start()
        services = Services(settings=settings, engine=engine, tokens=tokens, sessions=sessions,
                            geometry=GeometryCache(), shows=ShowCache(engine, on_clear=query_cache.clear),
                            availability=availability, bus=bus,
                            hub=hub,
                            live=SeatFeed(bus, availability.apply),
                            limits=Guards(limiter, settings.limits), admission=admission_check(room),
                            waiting_room=room, payments=payments, metrics=metrics,
                            holds=HoldBatcher(engine, max_batch=settings.hold_batch, concurrency=settings.hold_batches,
                                              on_batch=metrics.hold_batch_size.observe)
                            if settings.hold_batch > 1 else None)
        app.state.services = services  # for operators' tools and tests; requests use the lifespan state

        async def reconcile_round() -> None:
            _, changes = await reconcile(engine, payments, older_than_s=30)
            await services.live.publish(changes)

        async def announce_move(show_id: str) -> None:
            await bus.publish(waiting_room_channel(show_id), "moved")

        # Its own Redis client: the consumer's blocking reads hold a connection.
        notify_redis = (aioredis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
                        if settings.redis_url else None)
        notifications = NotificationPipeline(engine, redis=notify_redis, smtp_url=settings.smtp_url,
                                             public_url=settings.public_url)
        notifications.start()
        stop = asyncio.Event()
        promoter = Promoter(room, lease, on_moved=announce_move)
        tasks = [asyncio.create_task(sweep_expired_holds(services, stop), name="hold-sweeper"),
                 asyncio.create_task(run_every(30, stop, "reconcile", reconcile_round), name="reconciler"),
                 asyncio.create_task(promoter.run(lambda: rooms_to_promote(engine), stop), name="promoter")]
        # What start-up built (schema, caches, modules) lives as long as the process: out of the
        # collector's sight, a full collection walks only what requests made (tens of ms less each).
        gc.freeze()
        try:
            yield {"services": services}
        finally:
            stop.set()
            await sessions.aclose()
            await hub.close()
            await asyncio.gather(*tasks, return_exceptions=True)
            if services.holds is not None:
                await services.holds.aclose()
            await notifications.stop()
            if notify_redis is not None:
                await notify_redis.aclose()
            if simulator is not None:
                await simulator.stop()
            await gateway.aclose()
            await bus.disconnect()
            if redis is not None:
                await redis.aclose()
            limiter.close()
            await availability.aclose()
            await engine.dispose()
            await hub_engine.dispose()
            if sim_engine is not None:
                await sim_engine.dispose()

    routes: list[BaseRoute] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", http_routes.healthz),
        Route("/metrics", http_routes.metrics),
        Route("/webhooks/stripe", http_routes.stripe_webhook, methods=["POST"]),
        Route("/tickets/{ticket_id}.pdf", http_routes.ticket_pdf),
        graphiql_assets(),
    ]
    if simulator is not None:
        routes.append(Mount("/stripe-sim", simulator.app))
    if FRONTEND_DIST.is_dir():
        routes.append(Mount("/", StaticFiles(directory=FRONTEND_DIST, html=True), name="frontend"))
    middleware = [
        Middleware(SecurityHeaders),  # outermost: every response, refusals and shared answers too
        # The body whole, within a size and a deadline, before anything else waits on it: a stalled
        # upload holds a socket, never a load-shedding slot.
        Middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, timeout_s=settings.body_timeout_s),
        Middleware(SharedAnswers, cache=query_cache, kinds=document_kinds),  # a hit needs nothing further in
        Middleware(ShedLoad, max_in_flight=settings.max_in_flight, max_wait_ms=settings.shed_wait_ms,
                   max_queued=settings.shed_queue, waiting_room_in_flight=settings.waiting_room_in_flight,
                   waiting_room_wait_ms=settings.waiting_room_wait_ms,
                   max_body_bytes=MAX_BODY_BYTES, metrics=metrics),
        Middleware(QueryCacheMiddleware, cache=query_cache, kinds=document_kinds)]
    if settings.hold_fast_path:  # before the query cache, which never stores holdSeats answers
        middleware.insert(-1, Middleware(HoldFastPath, documents=HoldDocuments(schema), metrics=metrics))
    # Innermost: the query cache stores what it answers. The holdSeats fast path stays ahead of it:
    # for its documents it costs about half the CPU of executing them (bench/fast_path.py).
    if settings.fast_path:
        middleware.append(Middleware(GraphQLFastPath, view=graphql, documents=PreparedDocuments(schema),
                                     metrics=metrics))
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
