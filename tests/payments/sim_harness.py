"""The simulator test server: uvicorn in a background thread with its own event
loop and engine, serving a Starlette app that mounts two SimulatorService
instances on the same database (at /stripe-sim and /b/stripe-sim, like two server
processes) and a webhook receiver that records every delivery attempt."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from boxoffice.db import create_engine
from boxoffice.payments.simulator import SimulatorService

WEBHOOK_SECRET = "whsec_test_" + uuid.uuid4().hex
API_KEY = "sk_test_simulator_" + uuid.uuid4().hex
# A second account's key: Stripe scopes idempotency keys per account.
OTHER_ACCOUNT_KEY = "sk_test_other_account_" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@dataclass
class Delivery:
    event: dict[str, Any]
    body: bytes
    signature: str
    answered: int

    @property
    def object_id(self) -> str:
        return str(self.event["data"]["object"].get("id"))

    @property
    def payment_intent(self) -> str:
        obj = self.event["data"]["object"]
        return str(obj["id"] if obj["object"] == "payment_intent" else obj.get("payment_intent"))


class WebhookReceiver:
    """Records every attempt; can be told to answer 500 for one intent's events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._fail: dict[str, int] = {}

    def fail_next_for(self, intent_id: str, times: int) -> None:
        with self._lock:
            self._fail[intent_id] = times

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        event = json.loads(body)
        obj = event["data"]["object"]
        intent_id = obj["id"] if obj["object"] == "payment_intent" else obj.get("payment_intent")
        with self._lock:
            failing = self._fail.get(intent_id, 0) > 0
            if failing:
                self._fail[intent_id] -= 1
            self._deliveries.append(Delivery(event, body, request.headers.get(
                "stripe-signature", ""), 500 if failing else 200))
        return JSONResponse({"received": not failing}, status_code=500 if failing else 200)

    def deliveries(self, intent_id: str, *, accepted_only: bool = True) -> list[Delivery]:
        with self._lock:
            found = [d for d in self._deliveries if d.payment_intent == intent_id]
        return [d for d in found if d.answered == 200] if accepted_only else found

    async def wait_for(self, intent_id: str, check: Callable[[list[Delivery]], bool], *,
                       timeout: float = 8.0, accepted_only: bool = True) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.deliveries(intent_id, accepted_only=accepted_only)
            if check(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"webhooks for {intent_id} never satisfied the check: "
                                     f"{[(d.event['type'], d.answered) for d in found]}")
            await asyncio.sleep(0.05)


class SimulatorServer:
    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.receiver = WebhookReceiver()
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self._failure: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not (self._server and self._server.started):
            if self._failure or not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("simulator server did not start") from self._failure
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout=15)

    async def _main(self) -> None:
        engine = create_engine(self._database_url, pool_size=10, max_overflow=10)
        webhook_url = f"{self.base_url}/webhooks/stripe"

        def service(public_url: str) -> SimulatorService:
            # Short polling and retry backoff keep the webhook tests fast.
            return SimulatorService(engine, webhook_url=webhook_url, webhook_secret=WEBHOOK_SECRET,
                                    public_url=public_url, api_keys=frozenset({API_KEY, OTHER_ACCOUNT_KEY}),
                                    test_mode=True, poll_interval=0.05,
                                    retry_base_s=0.1, retry_cap_s=0.5, webhook_timeout_s=5.0)

        primary = service(self.base_url)
        secondary = service(self.base_url + "/b")
        app = Starlette(routes=[
            Route("/webhooks/stripe", self.receiver.handle, methods=["POST"]),
            Mount("/b/stripe-sim", app=secondary.app),
            Mount("/stripe-sim", app=primary.app),
        ])
        try:
            await primary.start()
            await secondary.start()
            config = uvicorn.Config(app, log_level="warning", lifespan="off",
                                    timeout_graceful_shutdown=1)
            self._server = uvicorn.Server(config)
            await self._server.serve(sockets=[self._sock])
        except BaseException as exc:
            self._failure = exc
            raise
        finally:
            await primary.stop()
            await secondary.stop()
            # Nothing left for other test servers on this database to retry at a dead port.
            async with engine.begin() as conn:
                await conn.execute(text(
                    "DELETE FROM stripe_sim.webhook_deliveries "
                    "WHERE url = :url AND status <> 'delivered'"), {"url": webhook_url})
            await engine.dispose()
