"""`boxoffice stripe-sim`: the simulator as its own process, as Stripe is another company's server.

The same app the development server mounts at /stripe-sim, served at the root of its own
address (so `STRIPE_API_BASE=http://H:P` works as api.stripe.com does), with its state in the
same PostgreSQL schema (stripe_sim) and its own webhook worker delivering to `webhook_url`.
A server given `STRIPE_API_KEY`, `STRIPE_API_BASE` and `STRIPE_WEBHOOK_SECRET` mounts nothing
and talks to this process exactly as it would to Stripe: API figures then measure the API.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from ...collection_policy import serving_collections
from ...db import create_engine
from .keys import simulator_api_key
from .service import SimulatorService

KEY_PREFIX = "sk_test_"


class KeyRefused(ValueError):
    """An API key the simulator must not answer to (not a test-mode secret key)."""


def chosen_api_key(offered: str | None, secret: str) -> str:
    """The one key this process answers: the operator's (`--api-key` or STRIPE_API_KEY), else the
    key derived from BOXOFFICE_SECRET, which is also what the mounted simulator answers to.
    Only a test-mode secret key: a live key (sk_live_…) given by mistake must never look accepted."""
    key = (offered or "").strip() or simulator_api_key(secret)
    if not key.startswith(KEY_PREFIX) or len(key) <= len(KEY_PREFIX):
        raise KeyRefused(f"the simulator's API key must be a test-mode secret key ({KEY_PREFIX}…)")
    return key


@dataclass(frozen=True)
class StandaloneSimulator:
    """What `boxoffice stripe-sim` serves, fully decided before anything starts."""

    database_url: str
    public_url: str  # where buyers' browsers reach this process (3-D Secure pages)
    api_key: str
    webhook_url: str
    webhook_secret: str
    latency_ms: int = 0
    test_mode: bool = False  # fault switches and test disputes (BOXOFFICE_STRIPE_SIM_FAULTS=1)

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("--latency-ms must not be negative")
        if not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError("--webhook-url must be an http(s) URL")
        if not self.webhook_secret:
            raise ValueError("--webhook-secret must not be empty")

    def create_app(self) -> Starlette:
        # Each call holds a connection for a millisecond or two, never across its added latency: a
        # few serve thousands of calls a second, and PostgreSQL's connections stay the API's. A burst
        # queues for one (as a PSP queues) rather than failing at once. No overflow: a connection
        # opened for a burst and closed after it costs PostgreSQL a backend's start and the first
        # planning of every statement again (under a sale, one new connection per ~7 payments).
        engine = create_engine(self.database_url, pool_size=15, max_overflow=0, pool_timeout_s=10)
        service = SimulatorService(engine, webhook_url=self.webhook_url, webhook_secret=self.webhook_secret,
                                   public_url=self.public_url, api_keys=frozenset({self.api_key}),
                                   test_mode=self.test_mode, mount_path="", latency_ms=self.latency_ms)

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await service.start()
            try:
                with serving_collections():
                    yield
            finally:
                await service.stop()
                await engine.dispose()

        return Starlette(routes=[Route("/healthz", _healthz), Mount("/", service.app)], lifespan=lifespan)


async def _healthz(request: Request) -> Response:
    """Not Stripe's: for the operator's (and the benches') readiness checks."""
    return JSONResponse({"status": "ok"})
