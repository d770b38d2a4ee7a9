"""Turns an outbox message into exactly one notification row, and an e-mail when a mailer is set.

Delivery is at-least-once upstream (relay retries, stream redelivery, consumer claims), so this
step is idempotent on the outbox id:

1. A notification row already there for the outbox id: nothing to do (the common duplicate).
   (A batch of messages reads this, the users and the context of all of them in five statements.)
2. Otherwise, in ONE transaction: INSERT … ON CONFLICT (outbox_id) DO NOTHING; if the row is new,
   send the mail, then COMMIT. A failing send rolls the row back and the delivery raises, so it is
   retried (mail and row together). A crash after the mail was accepted but before COMMIT leaves no
   row, so the retry mails again: the worst case is a DUPLICATE mail (carrying the same Message-ID),
   never a lost notification or a notification whose mail was silently dropped. A concurrent
   duplicate delivery blocks on the uncommitted unique key and then inserts nothing (no second mail).
   The trade-off: the row is locked while SMTP talks (bounded by the mailer's timeouts).
   Without a mailer, the new rows of a whole batch go in with one INSERT (all or none).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.booking.accounts.email_address import mail_address
from boxoffice.booking.catalog.venue_time import venue_when
from boxoffice.booking.checkout.tickets import format_price
from boxoffice.db import reading

from .mailer import MAIL_DOMAIN, Mailer, MailRefused

log = logging.getLogger("boxoffice.notifications")

Deliver = Callable[[int, uuid.UUID, dict[str, Any]], Awaitable[None]]
KINDS = frozenset({"ORDER_CONFIRMED", "PAYMENT_FAILED", "HOLD_EXPIRED", "ORDER_CANCELLED", "WAITLIST_OFFER",
                   "ORDER_REFUNDED", "SHOW_CANCELLED", "TICKET_TRANSFERRED", "RESALE_SOLD"})


class UndeliverableError(Exception):
    """A message no retry can deliver (unknown kind, no such user): dead-lettered at once."""


@dataclass(frozen=True, slots=True)
class ShowInfo:
    event_name: str
    performer: str
    venue_name: str
    venue_city: str
    starts_at: datetime
    venue_time_zone: str = "UTC"  # IANA: mails give the start in the venue's time
    cancelled: bool = False
    cancel_reason: str | None = None


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


def _when(show: ShowInfo) -> str:
    return venue_when(show.starts_at, show.venue_time_zone)  # e.g. "Friday 01 May 2030, 20:30 WEST"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


_VOIDING = frozenset({"SHOW_CANCELLED", "ORDER_REFUNDED", "ORDER_CANCELLED"})


def compose(kind: str, payload: dict[str, Any], *, name: str, show: ShowInfo | None,
            order: Any | None, hold: Any | None, public_url: str | None = None) -> Composed:
    """Subject and plain-text body of one notification (pure: easy to test and to translate later)."""
    event = " ".join(show.event_name.split()) if show else "your event"  # one line: it goes into the Subject
    lines: list[str] = [f"Hi {' '.join(name.split())}," if name.strip() else "Hello,", ""]
    reason = str(payload.get("reason") or "").strip()
    if payload.get("holder") and kind in _VOIDING:  # a ticket passed on to them (tickets.py tell_ticket_holders)
        subject = f"Your ticket for {event} is no longer valid"
        cause = {"SHOW_CANCELLED": f": {event} is cancelled",
                 "ORDER_REFUNDED": ": the order it came from was refunded to its buyer"}.get(kind, "")
        lines.append(f"The ticket for {event} passed on to you is no longer valid{cause}"
                     + (f" ({reason})." if reason else "."))
        lines.append("Its code no longer admits anyone. Any refund goes to whoever paid for it.")
        order = None  # the buyer's business, not the holder's
    elif kind == "ORDER_CONFIRMED":
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
    elif show is not None and show.cancelled and (
            kind == "HOLD_EXPIRED" or (kind == "ORDER_CANCELLED" and not reason)
            or (kind == "SHOW_CANCELLED" and payload.get("waitlist"))):
        # Ended by the show's cancellation (booking/refunds/cancel_show.py), not by the fan's clock.
        subject = f"{event} is cancelled"
        why = " ".join((show.cancel_reason or "").split())
        lines.append(f"We are sorry: {event} is cancelled" + (f" ({why})." if why else "."))
        if kind == "SHOW_CANCELLED":
            lines.append("You were on its waitlist; nothing is on sale any more.")
        elif kind == "HOLD_EXPIRED":
            held = _plural(hold.ticket_count, "place") if hold else "places"
            lines.append(f"Your hold on {held} has ended. You have not been charged.")
        elif payload.get("refunded"):
            lines.append("Your order was cancelled and your payment refunded; it can take a few days to appear "
                         "on your statement.")
        else:
            lines.append("Your order was cancelled before it was paid. You have not been charged.")
    elif kind == "HOLD_EXPIRED":
        subject = f"Your hold on {event} expired"
        count = f" on {_plural(hold.ticket_count, 'place')}" if hold else ""
        if hold is not None and getattr(hold, "waitlist_offer", False):  # an offer from a waitlist (booking/waitlist/)
            one = hold.ticket_count == 1
            lines.append(f"The {_plural(hold.ticket_count, 'ticket')} offered to you from the waitlist for {event} "
                         f"{'was' if one else 'were'} not bought in time: {'it' if one else 'they'} passed to the "
                         "next fan waiting.")
        else:
            lines.append(f"Your hold{count} for {event} expired before checkout, and the seats went back on sale.")
        lines.append("You can pick seats again while tickets last.")
    elif kind == "ORDER_CANCELLED":
        subject = f"Your order for {event} was cancelled"
        lines.append(f"Your order for {event} was cancelled" + (f" ({reason})." if reason else "."))
        lines.append("Its seats were released.")
        if payload.get("refunded"):
            lines.append("Your payment was refunded; it can take a few days to appear on your statement.")
    elif kind == "ORDER_REFUNDED":  # booking/refunds/refund_order.py
        subject = f"Your order for {event} was refunded"
        price = f" of {format_price(order.total_cents, order.currency)}" if order is not None else ""
        lines.append(f"Your order{price} for {event} was refunded, and its tickets are no longer valid.")
        if order is not None and _partial(payload, order):
            lines.append(f"{format_price(payload['amountCents'], order.currency)} comes back to you: the rest "
                         "was paid back when its resold tickets sold.")
        lines.append("The money goes back to the card you paid with; it can take a few days to appear on "
                     "your statement.")
    elif kind == "SHOW_CANCELLED":  # booking/refunds/cancel_show.py
        subject = f"{event} is cancelled: your order is refunded"
        lines.append(f"We are sorry: {event} is cancelled" + (f" ({reason})." if reason else "."))
        if order is not None and _partial(payload, order):
            lines.append(f"Your tickets are no longer valid, and {format_price(payload['amountCents'], order.currency)} "
                         "is refunded (the rest was paid back when its resold tickets sold); it can take a few days "
                         "to appear on your statement.")
        else:
            lines.append("Your tickets are no longer valid, and your payment is refunded in full; it can take a "
                         "few days to appear on your statement.")
    elif kind == "WAITLIST_OFFER":
        count = _plural(hold.ticket_count, "ticket") if hold else "Tickets"
        subject = f"{count} for {event} held for you"
        minutes = payload.get("offerMinutes")
        held = "is" if hold is not None and hold.ticket_count == 1 else "are"
        lines.append(f"You were next on the waitlist for {event}: {count} came back and {held} held for you"
                     + (f" for {minutes} minutes." if isinstance(minutes, int) else "."))
        lines.append("Buy them from your account before the hold ends, or they pass to the next fan waiting.")
    elif kind == "TICKET_TRANSFERRED":  # booking/after_sale/transfers.py: offered, accepted (sender), received
        if payload.get("stage") == "offered":
            subject = f"A ticket for {event} is offered to you"
            lines.append(f"Someone is passing you a ticket for {event}. Accept it in your account to make it yours.")
        elif payload.get("stage") == "withdrawn":  # taken back by its sender, or its ticket voided
            subject = f"The ticket for {event} offered to you is no longer available"
            lines.append(f"The ticket for {event} that was offered to you is no longer available: its sender "
                         "took the offer back, or the ticket is no longer valid. You were not charged.")
        elif payload.get("stage") == "accepted":
            subject = f"Your ticket for {event} was accepted"
            lines.append(f"The ticket for {event} you passed on was accepted: it is no longer yours, and its "
                         "old code no longer admits anyone.")
        else:
            subject = f"Your ticket for {event}"
            lines.append(f"A ticket for {event} is now yours, with its own new code to show at the entrance.")
    elif kind == "RESALE_SOLD":  # booking/after_sale/resale_checkout.py
        resold_for = payload.get("priceCents")
        subject = f"Your ticket for {event} was resold"
        lines.append(f"Your ticket for {event} was bought by another fan"
                     + (f" for {format_price(resold_for, order.currency)}."
                        if isinstance(resold_for, int) and order else "."))
        lines.append("That ticket is no longer valid. Your payment is refunded by the resale price; it can take a "
                     "few days to appear on your statement.")
    else:
        raise UndeliverableError(f"unknown notification kind {kind!r}")
    lines.append("")
    if show:
        lines += [f"Event: {show.event_name} ({show.performer})", f"When:  {_when(show)}",
                  f"Where: {show.venue_name}, {show.venue_city}"]
    if order is not None:
        lines.append(f"Order: {order.id}")
    if public_url:
        lines += ["", f"Your orders: {public_url.rstrip('/')}/"]
    lines += ["", "— boxoffice"]
    return Composed(kind, subject, "\n".join(lines) + "\n")


def _partial(payload: dict[str, Any], order: Any) -> bool:
    """Whether the refund told of is less than the order's total (resales of its tickets paid back the rest)."""
    amount = payload.get("amountCents")
    return isinstance(amount, int) and amount < order.total_cents


Item = tuple[int, uuid.UUID, dict[str, Any]]  # (outbox_id, user_id, payload)
DeliverBatch = Callable[[Sequence[Item]], Awaitable[list[BaseException | None]]]
_MAIL_CONCURRENCY = 8


class NotificationDeliverer:
    """The `Deliver` callable of the relay and the consumer: (outbox_id, user_id, payload) -> None, and
    `deliver_batch` for many at once (the consumer's batches): the context of the whole batch is read
    in five statements, and without a mailer the rows are stored by one."""

    def __init__(self, engine: AsyncEngine, *, mailer: Mailer | None, public_url: str | None = None,
                 mail_timeout_s: float = 60.0) -> None:
        self.engine = engine
        self.mailer = mailer
        self.public_url = public_url
        self.mail_timeout_s = mail_timeout_s

    async def __call__(self, outbox_id: int, user_id: uuid.UUID, payload: dict[str, Any]) -> None:
        outcome, = await self.deliver_batch([(outbox_id, user_id, payload)])
        if outcome is not None:
            raise outcome

    async def deliver_batch(self, items: Sequence[Item]) -> list[BaseException | None]:
        """Each item's outcome, in order: None (stored now or before), UndeliverableError, or the error
        that kept it from being stored (retry it). With a mailer each row is committed with its mail,
        item by item; without one, the new rows of the batch are stored by one statement."""
        outcomes, messages = await self._compose_all(items)
        if not messages:
            return outcomes
        if self.mailer is None:
            try:
                await self._store_all(messages)
            except Exception as exc:
                for i, *_ in messages:
                    outcomes[i] = exc
            return outcomes
        gate = asyncio.Semaphore(_MAIL_CONCURRENCY)

        async def one(i: int, outbox_id: int, user_id: uuid.UUID, email: str, message: Composed) -> None:
            async with gate:
                try:
                    await self._store_and_mail(outbox_id, user_id, email, message)
                except Exception as exc:
                    outcomes[i] = exc

        await asyncio.gather(*(one(*m) for m in messages))
        return outcomes

    async def _compose_all(self, items: Sequence[Item]) -> tuple[list[BaseException | None],
                                                                 list[tuple[int, int, uuid.UUID, str, Composed]]]:
        """The outcome so far of each item, and (index, outbox_id, user_id, email, message) of those still
        to store; an outbox id that is already a notification, or repeats in the batch, is done."""
        outcomes: list[BaseException | None] = [None] * len(items)
        refs = [tuple(_uuid(payload.get(k)) for k in ("orderId", "holdId", "showId")) for _, _, payload in items]
        async with reading(self.engine) as conn:
            done = set((await conn.execute(text("SELECT outbox_id FROM notifications WHERE outbox_id = ANY(:o)"),
                                           {"o": [i[0] for i in items]})).scalars())
            users = {r.id: r for r in await conn.execute(text("SELECT id, email, name FROM users WHERE id = ANY(:u)"),
                                                         {"u": list({i[1] for i in items})})}
            orders = (await conn.execute(text(
                "SELECT id, show_id, hold_id, ticket_count, total_cents, currency FROM orders "
                "WHERE id = ANY(:o) OR hold_id = ANY(:h)"),
                {"o": list({o for o, _, _ in refs if o}), "h": list({h for o, h, _ in refs if h and not o})})).all()
            by_id, by_hold = {o.id: o for o in orders}, {o.hold_id: o for o in orders}
            hold_ids = {h for _, h, _ in refs if h} | {o.hold_id for o in orders}
            holds = {r.id: r for r in await conn.execute(text(
                "SELECT id, show_id, ticket_count, idempotency_key LIKE 'waitlist-offer:%' AS waitlist_offer "
                "FROM holds WHERE id = ANY(:h)"), {"h": list(hold_ids)})}
            show_ids = {s for _, _, s in refs if s} | {o.show_id for o in orders} | {h.show_id for h in holds.values()}
            shows = {r.id: ShowInfo(r.event_name, r.performer, r.venue_name, r.venue_city, r.starts_at,
                                    r.time_zone, r.cancelled, r.cancel_reason)
                     for r in await conn.execute(text(
                         "SELECT sh.id, e.name AS event_name, e.performer, v.name AS venue_name, v.city AS venue_city, "
                         "sh.starts_at, v.time_zone, sh.status = 'cancelled' AS cancelled, sh.cancel_reason "
                         "FROM shows sh JOIN events e ON e.id = sh.event_id "
                         "JOIN venues v ON v.id = sh.venue_id WHERE sh.id = ANY(:s)"), {"s": list(show_ids)})}
        messages = []
        for i, ((outbox_id, user_id, payload), (order_id, hold_id, show_id)) in enumerate(zip(items, refs)):
            kind = payload.get("kind")
            if not isinstance(kind, str) or kind not in KINDS:
                outcomes[i] = UndeliverableError(f"unknown notification kind {kind!r}")
                continue
            if outbox_id in done:
                continue  # delivered before, or earlier in this batch
            user = users.get(user_id)
            if user is None:
                outcomes[i] = UndeliverableError(f"no user {user_id}")
                continue
            done.add(outbox_id)
            # As one message alone would find them: the order by its id, else by its hold.
            order = by_id.get(order_id) if order_id else by_hold.get(hold_id) if hold_id else None
            hold_id = hold_id or (order.hold_id if order is not None else None)
            hold = holds.get(hold_id) if hold_id else None
            show_id = show_id or (order.show_id if order is not None else None) or (hold.show_id if hold else None)
            message = compose(kind, payload, name=user.name, show=shows.get(show_id) if show_id else None,
                              order=order, hold=hold, public_url=self.public_url)
            messages.append((i, outbox_id, user_id, user.email, message))
        return outcomes, messages

    async def _store_all(self, messages: list[tuple[int, int, uuid.UUID, str, Composed]]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO notifications (user_id, kind, subject, body, outbox_id) "
                "SELECT * FROM unnest(CAST(:u AS uuid[]), CAST(:k AS text[]), CAST(:s AS text[]), "
                "CAST(:b AS text[]), CAST(:o AS bigint[])) ON CONFLICT (outbox_id) DO NOTHING"),
                {"u": [m[2] for m in messages], "k": [m[4].kind for m in messages],
                 "s": [m[4].subject for m in messages], "b": [m[4].body for m in messages],
                 "o": [m[1] for m in messages]})

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
            to = mail_address(email)
            if to is None:  # an account made before addresses were checked as now
                log.warning("notification %s to user %s: no mail, %r is not one e-mail address",
                            outbox_id, user_id, email)
                return
            try:
                async with asyncio.timeout(self.mail_timeout_s):
                    await self.mailer.send(to, message.subject, message.body,
                                           message_id=f"<notification-{outbox_id}@{MAIL_DOMAIN}>")
            except MailRefused as refused:  # for good, for this address: the fan reads it in the app
                log.warning("notification %s to user %s: mail refused (%s)", outbox_id, user_id, refused)
                return
            log.info("mailed notification %s (%s) to user %s", outbox_id, message.kind, user_id)
