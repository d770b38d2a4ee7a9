"""Webhook delivery worker: signs events as Stripe does and retries until a 2xx.

Any number of processes may run it against the same database. Each delivers only
to the endpoint it was configured with (whose secret it signs with); rows are leased
with FOR UPDATE SKIP LOCKED, so delivery is at-least-once (as Stripe's is).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Sequence

import aiohttp

from .outbox import ClaimedDelivery, WebhookOutbox

log = logging.getLogger(__name__)


def sign_payload(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header: t=<unix>,v1=<HMAC-SHA256(secret, "t.payload")>."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{t}.{payload}".encode("utf-8"), hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


class WebhookDeliveryWorker:
    def __init__(self, outbox: WebhookOutbox, *, webhook_secret: str, poll_interval: float = 0.2,
                 retry_base_s: float = 1.0, retry_cap_s: float = 300.0,
                 request_timeout_s: float = 10.0, batch_size: int = 50,
                 concurrency: int = 16) -> None:
        self._outbox = outbox
        self._secret = webhook_secret
        self._poll_interval = poll_interval
        self._retry_base_s = retry_base_s
        self._retry_cap_s = retry_cap_s
        self._timeout_s = request_timeout_s
        self._batch_size = batch_size
        self._concurrency = asyncio.Semaphore(concurrency)
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._last_prune = 0.0

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping.clear()
        # aiohttp, not httpx: a fraction of the CPU per delivery (one per payment event), and in
        # the development server that CPU is the API's.
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout_s))
        self._task = asyncio.create_task(self._run(), name="stripe-sim-webhooks")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    def backoff(self, attempts: int) -> float:
        """1×, 2×, 4× … retry_base_s after the n-th failed attempt, capped."""
        return float(min(self._retry_cap_s, self._retry_base_s * 2 ** max(0, attempts - 1)))

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly away; keep the worker alive
                log.exception("webhook delivery pass failed")
                busy = False
            if not busy:
                try:
                    await asyncio.wait_for(self._stopping.wait(), self._poll_interval)
                except TimeoutError:
                    pass

    async def run_once(self) -> bool:
        """One pass: release reorder-held events, claim due ones, deliver. True if a
        full batch was claimed (more may be waiting)."""
        if time.monotonic() - self._last_prune > 600:
            self._last_prune = time.monotonic()
            await self._outbox.prune()
        await self._outbox.release_held()
        batch = await self._outbox.claim_due(limit=self._batch_size,
                                             lease_s=self._timeout_s + 5)
        if batch:
            await self._deliver_batch(batch)
        return len(batch) >= self._batch_size

    async def _deliver_batch(self, batch: Sequence[ClaimedDelivery]) -> None:
        # Events about one object go out in order; different objects in parallel.
        groups: dict[str, list[ClaimedDelivery]] = {}
        for delivery in batch:
            groups.setdefault(delivery.group_key or f"#{delivery.id}", []).append(delivery)
        delivered: list[tuple[int, int]] = []
        results = await asyncio.gather(*(self._deliver_group(g, delivered) for g in groups.values()),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):  # its rows stay leased and are retried later
                log.error("webhook delivery failed unexpectedly", exc_info=result)
        # Marked once the batch is out: a crash before this only sends them again when their lease
        # ends (delivery is at-least-once, as Stripe's is).
        await self._outbox.mark_delivered(delivered)

    async def _deliver_group(self, group: list[ClaimedDelivery], delivered: list[tuple[int, int]]) -> None:
        async with self._concurrency:
            for delivery in group:
                status = await self._deliver(delivery)
                if status is not None:
                    delivered.append((delivery.id, status))

    async def _deliver(self, delivery: ClaimedDelivery) -> int | None:
        """The HTTP status if the endpoint took the event (2xx); otherwise its retry is scheduled."""
        assert self._http is not None
        status: int | None = None
        try:
            async with self._http.post(delivery.url, data=delivery.payload.encode(), headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": sign_payload(delivery.payload, self._secret),
            }) as response:
                status = response.status
                await response.read()  # the answer whole, so the connection is reused
            if 200 <= status < 300:
                return status
            error = f"HTTP {status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        delay = self.backoff(delivery.attempts)
        log.info("webhook %s attempt %d failed (%s); retrying in %.1fs",
                 delivery.event_id, delivery.attempts, error, delay)
        await self._outbox.mark_failed(delivery.id, retry_in_s=delay, http_status=status,
                                       error=error)
        return None
