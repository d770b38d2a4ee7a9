"""Notifications: transactional outbox → relay → Redis Stream → consumer group → deliverer (+ mail).

Wiring (see NotificationPipeline): every process runs an OutboxRelay; with Redis, every process
also runs a NotificationConsumer (one consumer group, one consumer name per process); without
Redis the relay delivers directly.
"""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from .consumer import DEFAULT_DEAD_LETTER_STREAM, DEFAULT_GROUP, NotificationConsumer, requeue_dead_letters
from .deliver import Deliver, DeliverBatch, NotificationDeliverer, UndeliverableError, compose
from .mailer import Mailer, SmtpMailer
from .relay import DEFAULT_STREAM, DEFAULT_TOPIC, OutboxRelay

__all__ = ["DEFAULT_DEAD_LETTER_STREAM", "DEFAULT_GROUP", "DEFAULT_STREAM", "DEFAULT_TOPIC", "Deliver", "DeliverBatch",
           "Mailer", "NotificationConsumer", "NotificationDeliverer", "NotificationPipeline", "OutboxRelay",
           "SmtpMailer", "UndeliverableError", "compose", "requeue_dead_letters"]


class NotificationPipeline:
    """The relay (and, with Redis, the consumer) as background tasks of one process.

    `redis` should be a client for this pipeline (the consumer's blocking reads hold a connection),
    built with a socket timeout above `block_ms` (e.g. Redis.from_url(url, socket_timeout=5));
    the caller closes it after `stop()`.
    """

    def __init__(self, engine: AsyncEngine, *, redis: aioredis.Redis | None, smtp_url: str | None,
                 public_url: str | None = None, relay_interval_s: float = 0.2, stream: str = DEFAULT_STREAM,
                 topic: str = DEFAULT_TOPIC, dead_letter_stream: str = DEFAULT_DEAD_LETTER_STREAM,
                 min_idle_ms: int = 30_000) -> None:
        mailer = SmtpMailer.from_url(smtp_url) if smtp_url else None
        self.deliverer = NotificationDeliverer(engine, mailer=mailer, public_url=public_url)
        self.relay = OutboxRelay(engine, redis=redis, deliver=self.deliverer, stream=stream, topic=topic)
        self.consumer = None if redis is None else NotificationConsumer(
            redis, deliver=self.deliverer, deliver_batch=self.deliverer.deliver_batch, stream=stream, dead_letter_stream=dead_letter_stream,
            min_idle_ms=min_idle_ms)
        self.relay_interval_s = relay_interval_s
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._stop.clear()
        self._tasks = [asyncio.create_task(self.relay.run(self._stop, self.relay_interval_s), name="outbox-relay")]
        if self.consumer is not None:
            self._tasks.append(asyncio.create_task(self.consumer.run(self._stop), name="notification-consumer"))

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Lets in-flight work finish (up to timeout_s), then cancels; unfinished work is redone later."""
        self._stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await self.consumer.close()
