"""Turns an outbox message into exactly one notification row, and an e-mail when a mailer is set.

Delivery is at-least-once upstream (relay retries, stream redelivery, consumer claims), so this
step is idempotent on the outbox id:

1. A notification row already there for the outbox id: nothing to do (the common duplicate).
2. Otherwise, in ONE transaction: INSERT … ON CONFLICT (outbox_id) DO NOTHING; if the row is new,
   send the mail, then COMMIT. A failing send rolls the row back and the delivery raises, so it is
   retried (mail and row together). A crash after the mail was accepted but before COMMIT leaves no
   row, so the retry mails again: the worst case is a DUPLICATE mail (carrying the same Message-ID),
   never a lost notification or a notification whose mail was silently dropped. A concurrent
   duplicate delivery blocks on the uncommitted unique key and then inserts nothing (no second mail).
   The trade-off: the row is locked while SMTP talks (bounded by the mailer's timeouts).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from boxoffice.booking.tickets import format_price

from .mailer import MAIL_DOMAIN, Mailer

log = logging.getLogger("boxoffice.notifications")

Deliver = Callable[[int, uuid.UUID, dict[str, Any]], Awaitable[None]]
KINDS = frozenset({"ORDER_CONFIRMED", "PAYMENT_FAILED", "HOLD_EXPIRED", "ORDER_CANCELLED"})


class UndeliverableError(Exception):
    """A message no retry can deliver (unknown kind, no such user): dead-lettered at once."""


@dataclass(frozen=True, slots=True)
class ShowInfo:
    event_name: str
    performer: str
    venue_name: str
    venue_city: str
    starts_at: datetime


@dataclass(frozen=True, slots=True)
class Composed:
    kind: str
    subject: str
    body: str


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _when(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%A %d %B %Y, %H:%M UTC")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def compose(kind: str, payload: dict[str, Any], *, name: str, show: ShowInfo | None,
            order: Any | None, hold: Any | None, public_url: str | None = None) -> Composed:
    """Subject and plain-text body of one notification (pure: easy to test and to translate later)."""
    event = " ".join(show.event_name.split()) if show else "your event"  # one line: it goes into the Subject
    lines: list[str] = [f"Hi {' '.join(name.split())}," if name.strip() else "Hello,", ""]
    reason = str(payload.get("reason") or "").strip()
    if kind == "ORDER_CONFIRMED":
        subject = f"Your tickets for {event} are confirmed"
        if order is not None:
            price = format_price(order.total_cents, order.currency)
            lines.append(f"Your order for {event} is confirmed: {_plural(order.ticket_count, 'ticket')}, {price}.")
        else:
            lines.append(f"Your order for {event} is confirmed.")
        lines.append("Your tickets, with the codes to show at the entrance, are in your account.")
    elif kind == "PAYMENT_FAILED":
        subject = "Payment failed for your order"
        lines.append(f"The payment for your order for {event} did not go through"
                     + (f" ({reason})." if reason else "."))
        lines.append("You have not been charged. You can try again with another payment method while "
                     "your seats are still held.")
    elif kind == "HOLD_EXPIRED":
        subject = f"Your hold on {event} expired"
        count = f" on {_plural(hold.ticket_count, 'place')}" if hold else ""
        lines.append(f"Your hold{count} for {event} expired before checkout, and the seats went back on sale.")
        lines.append("You can pick seats again while tickets last.")
    elif kind == "ORDER_CANCELLED":
        subject = f"Your order for {event} was cancelled"
        lines.append(f"Your order for {event} was cancelled" + (f" ({reason})." if reason else "."))
        lines.append("Its seats were released.")
        if payload.get("refunded"):
            lines.append("Your payment was refunded; it can take a few days to appear on your statement.")
    else:
        raise UndeliverableError(f"unknown notification kind {kind!r}")
    lines.append("")
    if show:
        lines += [f"Event: {show.event_name} ({show.performer})", f"When:  {_when(show.starts_at)}",
                  f"Where: {show.venue_name}, {show.venue_city}"]
    if order is not None:
        lines.append(f"Order: {order.id}")
    if public_url:
        lines += ["", f"Your orders: {public_url.rstrip('/')}/"]
    lines += ["", "— boxoffice"]
    return Composed(kind, subject, "\n".join(lines) + "\n")


class NotificationDeliverer:
    """The `Deliver` callable of the relay and the consumer: (outbox_id, user_id, payload) -> None."""

    def __init__(self, engine: AsyncEngine, *, mailer: Mailer | None, public_url: str | None = None,
                 mail_timeout_s: float = 60.0) -> None:
        self.engine = engine
        self.mailer = mailer
        self.public_url = public_url
        self.mail_timeout_s = mail_timeout_s

    async def __call__(self, outbox_id: int, user_id: uuid.UUID, payload: dict[str, Any]) -> None:
        kind = payload.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            raise UndeliverableError(f"unknown notification kind {kind!r}")
        async with self.engine.connect() as conn:
            if (await conn.execute(text("SELECT 1 FROM notifications WHERE outbox_id = :o"),
                                   {"o": outbox_id})).first() is not None:
                return  # delivered before
            user = (await conn.execute(text("SELECT email, name FROM users WHERE id = :u"),
                                       {"u": user_id})).first()
            if user is None:
                raise UndeliverableError(f"no user {user_id}")
            show, order, hold = await self._context(conn, payload)
        message = compose(kind, payload, name=user.name, show=show, order=order, hold=hold,
                          public_url=self.public_url)
        await self._store_and_mail(outbox_id, user_id, user.email, message)

    async def _context(self, conn: AsyncConnection, payload: dict[str, Any]) -> tuple[ShowInfo | None, Any, Any]:
        order_id, hold_id, show_id = (_uuid(payload.get(k)) for k in ("orderId", "holdId", "showId"))
        order = hold = None
        if order_id or hold_id:
            order = (await conn.execute(text(
                "SELECT id, show_id, hold_id, ticket_count, total_cents, currency FROM orders "
                "WHERE id = :o OR (CAST(:o AS uuid) IS NULL AND hold_id = :h)"),
                {"o": order_id, "h": hold_id})).first()
        hold_id = hold_id or (order.hold_id if order is not None else None)
        if hold_id is not None:
            hold = (await conn.execute(text("SELECT id, show_id, ticket_count FROM holds WHERE id = :h"),
                                       {"h": hold_id})).first()
        show_id = show_id or (order.show_id if order is not None else None) or (hold.show_id if hold else None)
        if show_id is None:
            return None, order, hold
        row = (await conn.execute(text(
            "SELECT e.name AS event_name, e.performer, v.name AS venue_name, v.city AS venue_city, sh.starts_at "
            "FROM shows sh JOIN events e ON e.id = sh.event_id JOIN venues v ON v.id = sh.venue_id "
            "WHERE sh.id = :s"), {"s": show_id})).first()
        show = None if row is None else ShowInfo(row.event_name, row.performer, row.venue_name, row.venue_city,
                                                 row.starts_at)
        return show, order, hold

    async def _store_and_mail(self, outbox_id: int, user_id: uuid.UUID, email: str, message: Composed) -> None:
        async with self.engine.begin() as conn:
            if self.mailer is not None:
                # The transaction stays open while SMTP talks: allow that, for this transaction only.
                await conn.execute(text("SELECT set_config('idle_in_transaction_session_timeout', :ms, true)"),
                                   {"ms": str(int((self.mail_timeout_s + 30) * 1000))})
            inserted = (await conn.execute(text(
                "INSERT INTO notifications (user_id, kind, subject, body, outbox_id) VALUES (:u, :k, :s, :b, :o) "
                "ON CONFLICT (outbox_id) DO NOTHING RETURNING id"),
                {"u": user_id, "k": message.kind, "s": message.subject, "b": message.body,
                 "o": outbox_id})).first()
            if inserted is None or self.mailer is None:
                return
            async with asyncio.timeout(self.mail_timeout_s):
                await self.mailer.send(email, message.subject, message.body,
                                       message_id=f"<notification-{outbox_id}@{MAIL_DOMAIN}>")
            log.info("mailed notification %s (%s) to user %s", outbox_id, message.kind, user_id)
