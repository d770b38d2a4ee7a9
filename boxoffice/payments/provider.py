"""A payment context for tools that run outside the server (`boxoffice reconcile`)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Mount

from ..booking.checkout.payments import PaymentContext
from ..config import Settings
from .gateway import StripeGateway
from .mode import refusal, stripe_endpoint
from .simulator import SimulatorService, simulator_api_key


@contextlib.asynccontextmanager
async def payment_context(settings: Settings, engine: AsyncEngine) -> AsyncIterator[PaymentContext]:
    """Real Stripe when configured; else a private instance of the simulator on a loopback port.

    The simulator keeps its state in PostgreSQL, so this instance sees the very intents the
    servers created. It runs no webhook worker: the servers deliver webhooks.
    """
    problem = refusal(settings)
    if problem:
        raise SystemExit(problem)
    if not settings.simulated_stripe:
        api_key, api_base = stripe_endpoint(settings, "")
        gateway = StripeGateway(api_key, api_base, settings.stripe_webhook_secret or "",
                                timeout_s=settings.stripe_timeout_s)
        try:
            yield PaymentContext(gateway, settings.secret, f"{settings.public_url}/#/payment-return")
        finally:
            await gateway.aclose()
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    key = simulator_api_key(settings.secret)
    simulator = SimulatorService(engine, webhook_url=None, webhook_secret=settings.stripe_webhook_secret or "",
                                 public_url=settings.public_url, api_keys=frozenset({key}))
    await simulator.store.ensure_schema()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Mount("/stripe-sim", simulator.app)]),
                                           host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    gateway = StripeGateway(key, f"{base}/stripe-sim", settings.stripe_webhook_secret or "",
                            timeout_s=settings.stripe_timeout_s)
    try:
        yield PaymentContext(gateway, settings.secret, f"{settings.public_url}/#/payment-return")
    finally:
        await gateway.aclose()
        server.should_exit = True
        await task
