"""SimulatorService: the simulator's app plus its webhook worker, for the app's lifespan."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from .app import create_simulator_app
from .delivery import WebhookDeliveryWorker
from .store import SimulatorStore


class SimulatorService:
    """Mount `.app` at `mount_path`; call `start()` / `stop()` from the lifespan.

    Every server process builds its own service against the shared database: all
    state is in PostgreSQL, and every process's worker delivers the pending webhooks
    of its own endpoint (webhook_url).
    """

    def __init__(self, engine: AsyncEngine, *, webhook_url: str | None, webhook_secret: str,
                 public_url: str, api_keys: frozenset[str], test_mode: bool = False,
                 poll_interval: float = 0.2, mount_path: str = "/stripe-sim",
                 retry_base_s: float = 1.0, retry_cap_s: float = 300.0,
                 webhook_timeout_s: float = 10.0, latency_ms: int = 0) -> None:
        self.store = SimulatorStore(engine, webhook_url=webhook_url)
        self.app: Starlette = create_simulator_app(self.store, public_url=public_url, api_keys=api_keys,
                                                   test_mode=test_mode, mount_path=mount_path,
                                                   latency_ms=latency_ms)
        self.worker = WebhookDeliveryWorker(
            self.store.outbox, webhook_secret=webhook_secret, poll_interval=poll_interval,
            retry_base_s=retry_base_s, retry_cap_s=retry_cap_s,
            request_timeout_s=webhook_timeout_s)

    async def start(self) -> None:
        await self.store.ensure_schema()
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
