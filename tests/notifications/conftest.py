"""Fixtures of the notification pipeline tests: a real SMTP server, Redis, unique names, a fan with an order."""

from __future__ import annotations

import email
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from booking.fixtures_db import bulk_users, make_show


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """The aiosmtpd handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.messages if address in rcpt]


@dataclass
class Smtp:
    inbox: Inbox
    url: str


@pytest.fixture(scope="module")
def smtp() -> Iterator[Smtp]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Smtp(inbox, f"smtp://127.0.0.1:{port}")
    finally:
        controller.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    yield client
    await client.aclose()


@dataclass
class Names:
    stream: str
    dead: str
    topic: str


@pytest.fixture
async def names(redis: aioredis.Redis) -> AsyncIterator[Names]:
    tag = uuid.uuid4().hex[:10]
    n = Names(stream=f"test:notif:{tag}", dead=f"test:notif:{tag}:dead", topic=f"test-{tag}")
    yield n
    await redis.delete(n.stream, n.dead)


@dataclass
class Fan:
    user_id: uuid.UUID
    email: str
    show_id: uuid.UUID
    order_id: uuid.UUID
    hold_id: uuid.UUID


@pytest.fixture
async def fan(engine: AsyncEngine) -> AsyncIterator[Fan]:
    """A user with a show ("Flash" at Arena, Lisbon) and a confirmed two-ticket order of it."""
    show, _, _ = await make_show(engine, seats=2, ga=1)
    user = (await bulk_users(engine, 1))[0]
    hold_id, order_id = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO holds (id, user_id, show_id, status, expires_at, idempotency_key, request_hash, seat_ids, "
            "unit_ids, ga_lines, ticket_count, total_cents, currency) VALUES (:h, :u, :s, 'converted', "
            "now() + interval '10 minutes', :k, 'x', '{}', '{}', CAST('[]' AS jsonb), 2, 2000, 'EUR')"),
            {"h": hold_id, "u": user.user_id, "s": show.id, "k": uuid.uuid4().hex})
        await conn.execute(text(
            "INSERT INTO orders (id, user_id, show_id, hold_id, status, ticket_count, total_cents, currency, "
            "idempotency_key, expires_at) VALUES (:o, :u, :s, :h, 'confirmed', 2, 2000, 'EUR', :k, now())"),
            {"o": order_id, "u": user.user_id, "s": show.id, "h": hold_id, "k": uuid.uuid4().hex})
    yield Fan(user.user_id, f"{user.user_id}@bulk.test", show.id, order_id, hold_id)
    async with engine.begin() as conn:  # a seatless order: not one later whole-database audits should see
        await conn.execute(text("DELETE FROM orders WHERE id = :o"), {"o": order_id})
        await conn.execute(text("DELETE FROM holds WHERE id = :h"), {"h": hold_id})
