"""The ASGI application: explicit routes and middleware, a typed lifespan holding the services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, TypedDict


import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from strawberry.extensions import DisableIntrospection
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from . import http_routes
from .collection_policy import serving_collections
from .http_body import MAX_BODY_BYTES, BodyLimit
from .booking.accounts.sign_in import TokenIssuer
from .booking.accounts.sessions import Sessions
from .booking.inventory.availability_cache import AvailabilityCache
from .booking.catalog.browse import ShowCache
from .booking.accounts.guards import Guards
from .booking.inventory.hold_batch import HoldBatcher
from .booking.inventory.hold_release import release_expired_holds
from .booking.inventory.release_batch import ReleaseBatcher
from .booking.waitlist.offers import offer_round
from .booking.checkout.payments import PaymentContext
from .booking.waiting_room.promoter import InProcessPromoterLease, Promoter, RedisPromoterLease
from .booking.waiting_room.queue_store import InProcessQueueStore
from .booking.accounts.rate_limits import InProcessRateLimiter, RedisRateLimiter
from .booking.checkout.reconcile import reconcile
from .booking.refunds.refund_rounds import RefundSettings, refund_round
from .booking.waiting_room.redis_queue_store import RedisQueueStore, make_redis_client
from .booking.inventory.seatmap import GeometryCache
from .booking.waiting_room.access import admission_check, rooms_to_promote
from .booking.waiting_room.room import WaitingRoom
from .config import Settings, load_settings
from .db import create_engine
from .replica import ReplicaReads
from .failure_log import FailureStreak
from .graphiql_page import graphiql_assets
from .metrics import Metrics, MetricsExtension
from .query_cache import QueryCache, QueryCacheMiddleware, SharedAnswers
from .security_headers import SecurityHeaders
from .services import Services
from .request_lanes import LaneReader
from .shed_load import RequestSlots, ShedLoad
from .notifications import NotificationPipeline
from .payments.gateway import StripeGateway
from .payments import mode as payment_mode
from .payments.simulator import SimulatorService, simulator_api_key
from .resolvers.hold_documents import HoldDocuments
from .resolvers.hold_fast_path import HoldFastPath
from .fast_path import GraphQLFastPath
from .schema.prepared_documents import PreparedDocuments
from .resolvers.waiting import waiting_room_channel
from .graphql_view import BoxofficeGraphQL
from .schema.build import build_schema
from .schema.viewer_marks import DocumentKinds
from .subscriptions.bus import EventBus
from .subscriptions.seat_feed import SeatFeed, SeatStateReader
from .subscriptions.seat_hub import SeatHub

log = logging.getLogger("boxoffice")
FRONTEND_DIST = Path(__file__).resolve().parent.parent / "frontend-sample" / "dist"


class State(TypedDict):
    services: Services


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
    # One pool of slots for GraphQL work over HTTP (ShedLoad) and over WebSockets (transport_ws.py).
    graphql.lanes = LaneReader(schema.parsed_documents.parse)
    graphql.request_slots = RequestSlots(max_in_flight=settings.max_in_flight, max_wait_ms=settings.shed_wait_ms,
                                         max_queued=settings.shed_queue,
                                         waiting_room_in_flight=settings.waiting_room_in_flight,
                                         waiting_room_wait_ms=settings.waiting_room_wait_ms, metrics=metrics)
    # Which documents' answers signed-in callers share (query_cache.py), from the schema's marks.
    # The middleware's looks at a request's document use the schema's parse: one per distinct text.
    document_kinds = DocumentKinds(schema._schema, schema.parsed_documents.parse)
    graphql.note_write, graphql.document_kinds = query_cache.wrote, document_kinds

    simulator: SimulatorService | None = None
    sim_engine = None
    if settings.simulated_stripe:
        # Like Stripe, one service for the deployment: its state lives in PostgreSQL (schema stripe_sim).
        sim_engine = create_engine(settings.database_url, pool_size=10, max_overflow=0,  # no churn: simulator/process.py
                                   pooled=settings.database_pooled)
        simulator = SimulatorService(sim_engine, webhook_url=f"{settings.public_url}/webhooks/stripe",
                                     webhook_secret=settings.stripe_webhook_secret or "",
                                     public_url=settings.public_url,
                                     api_keys=frozenset({simulator_api_key(settings.secret)}),
                                     test_mode=settings.stripe_sim_faults and not settings.production)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        # No overflow: under a flash sale an overflow pool opens and closes connections all the time.
        engine = create_engine(settings.database_url or "", pool_size=settings.db_pool_size, max_overflow=0,
                               pooled=settings.database_pooled)
        reads = ReplicaReads(engine, create_engine(settings.database_replica_url, pool_size=settings.db_pool_size // 2,
                                                   max_overflow=0, pooled=settings.database_pooled)
                             if settings.database_replica_url else None,
                             max_lag_s=settings.replica_max_lag_s, check_s=settings.replica_check_s,
                             registry=metrics.registry)
        await reads.check()  # the first browse reads go where they should
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
        hub_engine = create_engine(settings.database_url or "", pool_size=2, max_overflow=3,
                                   pooled=settings.database_pooled)
        reader = SeatStateReader(hub_engine, reads)
        hub = SeatHub(bus, load_since=reader.load_since, load_sections=reader.load_sections,
                      load_version=reader.load_version, window_ms=settings.seat_delta_window_ms)
        availability = AvailabilityCache(engine, replicas=reads)
        tokens = TokenIssuer(settings.secret, settings.token_ttl_s, cache_size=settings.signed_in_cache)
        sessions = Sessions(engine, tokens, bus, cache_s=settings.session_cache_s,
                            remembered=settings.signed_in_cache)
        sessions.start()
        services = Services(settings=settings, engine=engine, tokens=tokens, sessions=sessions,
                            geometry=GeometryCache(), shows=ShowCache(engine, on_clear=query_cache.clear),
                            availability=availability, bus=bus,
                            hub=hub,
                            live=SeatFeed(bus, availability.apply),
                            limits=Guards(limiter, settings.limits), admission=admission_check(room),
                            waiting_room=room, payments=payments, metrics=metrics, reads=reads,
                            holds=HoldBatcher(engine, max_batch=settings.hold_batch, concurrency=settings.hold_batches,
                                              on_batch=metrics.hold_batch_size.observe)
                            if settings.hold_batch > 1 else None,
                            releases=ReleaseBatcher(engine, max_batch=settings.hold_batch,
                                                    concurrency=settings.hold_batches,
                                                    on_batch=metrics.release_batch_size.observe)
                            if settings.hold_batch > 1 else None)
        app.state.services = services  # for operators' tools and tests; requests use the lifespan state

        async def reconcile_round() -> None:
            _, changes = await reconcile(engine, payments, older_than_s=30)
            await services.live.publish(changes)

        async def waitlist_round() -> None:  # seats parked for the waitlist: offers, or open sale
            _, changes = await offer_round(engine, offer_s=settings.waitlist_offer_s,
                                           interval_s=settings.waitlist_interval_s)
            await services.live.publish(changes)

        refund_settings = RefundSettings(concurrency=settings.refund_concurrency, claim_s=settings.refund_claim_s)

        async def refunds() -> None:  # show cancellations and refunds still owed (booking/refunds/)
            report = await refund_round(engine, payments, refund_settings, services.live.publish)
            metrics.cancellation_refunds_left.set(report.left)

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
                 asyncio.create_task(run_every(settings.refund_interval_s, stop, "refunds", refunds), name="refunds"),
                 asyncio.create_task(run_every(settings.waitlist_interval_s, stop, "waitlist offers", waitlist_round),
                                     name="waitlist-offers"),
                 asyncio.create_task(promoter.run(lambda: rooms_to_promote(engine), stop), name="promoter"),
                 asyncio.create_task(reads.run(stop), name="replica-lag")]
        try:
            with serving_collections():
                yield {"services": services}
        finally:
            stop.set()
            await sessions.aclose()
            await hub.close()
            await asyncio.gather(*tasks, return_exceptions=True)
            if services.holds is not None:
                await services.holds.aclose()
            if services.releases is not None:
                await services.releases.aclose()
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
            await reads.aclose()
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
        Route("/reports/shows/{show_id}/sales.csv", http_routes.sales_csv),
    ]
    if settings.graphiql_enabled:  # off (production): its page and its assets alike
        routes.append(graphiql_assets())
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
        Middleware(ShedLoad, lanes=graphql.lanes, slots=graphql.request_slots, max_body_bytes=MAX_BODY_BYTES),
        Middleware(QueryCacheMiddleware, cache=query_cache, kinds=document_kinds)]
    if settings.hold_fast_path:  # before the query cache, which never stores holdSeats answers
        middleware.insert(-1, Middleware(HoldFastPath, documents=HoldDocuments(schema), metrics=metrics))
    # Innermost: the query cache stores what it answers. The holdSeats fast path stays ahead of it:
    # for its documents it costs about half the CPU of executing them (bench/fast_path.py).
    if settings.fast_path:
        middleware.append(Middleware(GraphQLFastPath, view=graphql, documents=PreparedDocuments(schema),
                                     metrics=metrics))
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
