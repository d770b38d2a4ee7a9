"""Issued tickets: signed barcodes a venue scanner can check offline, and what a ticket prints.

Barcode format (uppercase RFC 4648 base32, no padding; every character is in the QR
alphanumeric set, so the QR code stays small):

    BX1.<ticket id: 26 chars>.<first 5 bytes of the show id: 8 chars>.<MAC: 16 chars>

The MAC is HMAC-SHA256 over the version tag and the raw ticket-id and show-prefix bytes, truncated
to 80 bits, under a key derived from BOXOFFICE_SECRET for this purpose only. A scanner holding that
key (`barcode_key`) verifies a barcode without a database; it then checks that the show prefix is
the show it admits to (`BarcodeClaims.is_for_show`) and, online or after syncing, that the ticket
was not already scanned. Barcodes are unique because they embed the (random, unique) ticket id.

A signature stays valid forever, so a refunded or charged-back ticket is put on the revocation list
(`revoked_tickets`) in the transaction that voids it. The door checks both: `verify_ticket_barcode`
online, or `verify_barcode_with_key` against the show's `revoked_barcodes`, synced like its scans.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..catalog.currencies import ZERO_DECIMAL
from ..records import TicketRecord

VERSION = "BX1"
SHOW_PREFIX_BYTES = 5
MAC_BYTES = 10
_KEY_LABEL = b"ticket-barcode-v1"
_TICKET_CHARS = 26  # 16 bytes of base32 without padding
_SHOW_CHARS = 8     # 5 bytes
_MAC_CHARS = 16     # 10 bytes


class TicketConflict(RuntimeError):
    """A place of the order already has a ticket of another order (the caller's transaction must roll back)."""


@dataclass(frozen=True, slots=True)
class BarcodeClaims:
    ticket_id: uuid.UUID
    show_id_prefix: str  # base32 of the show id's first 5 bytes, as printed in the barcode

    def is_for_show(self, show_id: uuid.UUID) -> bool:
        return hmac.compare_digest(self.show_id_prefix, _b32(show_id.bytes[:SHOW_PREFIX_BYTES]))


@dataclass(frozen=True, slots=True)
class TicketDocument:
    """Everything printed on a ticket."""

    ticket_id: uuid.UUID
    order_id: uuid.UUID
    show_id: uuid.UUID
    barcode: str
    event_name: str
    performer: str
    venue_name: str
    venue_city: str
    starts_at: datetime
    section_name: str
    row: str | None  # None for a general-admission place
    seat_number: str | None
    price_cents: int
    currency: str
    holder_name: str
    venue_time_zone: str = "UTC"  # IANA: the ticket shows the start in the venue's time
    bought: bool = True  # False: passed on to its holder, who sees none of the buyer's order (id, price)

    @property
    def general_admission(self) -> bool:
        return self.row is None

    @property
    def place_label(self) -> str:
        if self.row is None:
            return "General admission"
        return f"Row {self.row}, Seat {self.seat_number}"


def format_price(cents: int, currency: str) -> str:
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return f"{cents:,} {code}"
    return f"{cents / 100:,.2f} {code}"


def barcode_key(secret: str) -> bytes:
    """The key scanners hold: derived from the server secret, good for barcodes only."""
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def _unb32(part: str, chars: int) -> bytes | None:
    if len(part) != chars:
        return None
    try:
        raw = base64.b32decode(part + "=" * (-len(part) % 8), casefold=False)
    except (binascii.Error, ValueError):
        return None
    return raw if _b32(raw) == part else None  # one spelling per value (no stray trailing bits)


def _mac(key: bytes, ticket: bytes, show_prefix: bytes) -> bytes:
    return hmac.new(key, VERSION.encode() + b"\x00" + ticket + show_prefix, hashlib.sha256).digest()[:MAC_BYTES]


def barcode_for(secret: str, ticket_id: uuid.UUID, show_id: uuid.UUID) -> str:
    prefix = show_id.bytes[:SHOW_PREFIX_BYTES]
    mac = _mac(barcode_key(secret), ticket_id.bytes, prefix)
    return f"{VERSION}.{_b32(ticket_id.bytes)}.{_b32(prefix)}.{_b32(mac)}"


def verify_barcode(secret: str, barcode: str) -> BarcodeClaims | None:
    """The claims of a genuine barcode; None for anything forged, altered, truncated or garbled."""
    return verify_barcode_with_key(barcode_key(secret), barcode)


def verify_barcode_with_key(key: bytes, barcode: str) -> BarcodeClaims | None:
    """As verify_barcode, for a scanner that holds only `barcode_key(secret)`."""
    if not isinstance(barcode, str) or len(barcode) > 64:
        return None
    parts = barcode.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        return None
    ticket = _unb32(parts[1], _TICKET_CHARS)
    prefix = _unb32(parts[2], _SHOW_CHARS)
    mac = _unb32(parts[3], _MAC_CHARS)
    if ticket is None or prefix is None or mac is None:
        return None
    if not hmac.compare_digest(mac, _mac(key, ticket, prefix)):
        return None
    return BarcodeClaims(ticket_id=uuid.UUID(bytes=ticket), show_id_prefix=parts[2])


async def lock_order_tickets(conn: AsyncConnection, order_ids: list[uuid.UUID]) -> None:
    """The orders' tickets locked in key order, before their seats: a resale's settlement locks the
    listed ticket and then its seat (migration 0015 sell_listing), so voiding the other way round
    (seats, then tickets) deadlocked with it."""
    await conn.execute(text("SELECT 1 FROM tickets WHERE order_id = ANY(CAST(:o AS uuid[])) ORDER BY id FOR UPDATE"),
                       {"o": order_ids})


async def end_listing_holds(conn: AsyncConnection, order_ids: list[uuid.UUID]) -> None:
    """A buyer's hold on a listing of the orders' tickets lapses now, with the tickets (voided): their
    createOrder is refused at once and the ticket stops counting toward their limit. The sweeper then
    ends it as any lapsed hold, telling the buyer and cancelling a pending order of it (which
    confirmPayment already refuses to charge). Taken after the tickets and seats, as a resale's
    settlement takes it."""
    await conn.execute(text(
        "UPDATE holds h SET expires_at = now() FROM resale_listings l "
        "WHERE l.seller_order_id = ANY(CAST(:o AS uuid[])) AND l.status = 'listed' AND h.id = l.hold_id "
        "AND h.status = 'active' AND h.expires_at > now()"), {"o": order_ids})


async def tell_ticket_holders(conn: AsyncConnection, order_ids: list[uuid.UUID], kind: str, reason: str | None) -> None:
    """Whoever holds a ticket of these orders passed on to them (a transfer's recipient) is told it is
    void, through the outbox, in the caller's transaction and before the tickets are revoked: its buyer
    is told apart, with their refund. No order details go to the holder: they are the buyer's."""
    await conn.execute(text(
        "INSERT INTO outbox (topic, user_id, payload) SELECT DISTINCT 'notification', t.holder_id, jsonb_build_object("
        "'kind', CAST(:k AS text), 'showId', t.show_id::text, 'holder', true, 'reason', CAST(:r AS text)) "
        "FROM tickets t JOIN orders o ON o.id = t.order_id WHERE t.order_id = ANY(CAST(:o AS uuid[])) "
        "AND t.holder_id IS NOT NULL AND t.holder_id <> o.user_id"), {"o": order_ids, "k": kind, "r": reason})


async def end_ticket_offers(conn: AsyncConnection, order_ids: list[uuid.UUID]) -> None:
    """Pending transfers of these orders' tickets (about to be voided) end, and the fans they were
    offered to are told, in the caller's transaction (the tickets locked): an offer of a void ticket
    stayed PENDING, and its recipient learnt nothing until accepting it failed."""
    await conn.execute(text(
        "WITH ended AS (UPDATE ticket_transfers x SET status = 'cancelled', ended_at = now() FROM tickets t "
        "  WHERE t.order_id = ANY(CAST(:o AS uuid[])) AND x.ticket_id = t.id AND x.status = 'pending' "
        "  RETURNING x.id, x.show_id, x.to_email) "
        "INSERT INTO outbox (topic, user_id, payload) SELECT 'notification', u.id, jsonb_build_object("
        "'kind', 'TICKET_TRANSFERRED', 'transferId', e.id::text, 'showId', e.show_id::text, 'stage', 'withdrawn') "
        "FROM ended e JOIN users u ON lower(u.email) = e.to_email"), {"o": order_ids})


async def revoke_order_tickets(conn: AsyncConnection, order_id: uuid.UUID, reason: str) -> int:
    """Voids every ticket of the order, in the caller's transaction: each goes on the revocation list
    (so its barcode no longer admits anyone) and off the order (so its place can be ticketed again).
    One statement, so no ticket is ever gone without being revoked. Returns how many."""
    return len((await conn.execute(text(
        "WITH voided AS (DELETE FROM tickets WHERE order_id = :o "
        "  RETURNING id, order_id, show_id, barcode, place_id, seat_id, section_id) "
        "INSERT INTO revoked_tickets (ticket_id, order_id, show_id, barcode, reason, place_id, seat_id, section_id) "
        "SELECT id, order_id, show_id, barcode, :r, place_id, seat_id, section_id FROM voided "
        "ON CONFLICT (barcode) DO NOTHING RETURNING ticket_id"),
        {"o": order_id, "r": reason})).all())


async def is_barcode_revoked(conn: AsyncConnection, barcode: str) -> bool:
    return (await conn.execute(text("SELECT 1 FROM revoked_tickets WHERE barcode = :b"),
                               {"b": barcode})).first() is not None


async def verify_ticket_barcode(engine: AsyncEngine, secret: str, barcode: str) -> BarcodeClaims | None:
    """The door's online check: a genuine barcode (signature) of a ticket not revoked since."""
    claims = verify_barcode(secret, barcode)
    if claims is None:
        return None
    async with engine.connect() as conn:
        return None if await is_barcode_revoked(conn, barcode) else claims


async def revoked_barcodes(engine: AsyncEngine, show_id: uuid.UUID) -> list[str]:
    """The show's revocation list, for scanners that check barcodes offline."""
    async with engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT barcode FROM revoked_tickets WHERE show_id = :s ORDER BY revoked_at, ticket_id"),
            {"s": show_id})).scalars().all())


def signed_tickets(secret: str, show_id: uuid.UUID | None, count: int) -> tuple[list[uuid.UUID], list[str]]:
    """Fresh ticket ids and their signed barcodes, made before the settlement's one database call
    (settle_intent(), migration 0015) so that the key never reaches SQL."""
    if show_id is None:
        return [], []
    ids = [uuid.uuid4() for _ in range(count)]
    return ids, [barcode_for(secret, t, show_id) for t in ids]


async def issue_tickets(conn: AsyncConnection, *, secret: str, order_id: uuid.UUID, show_id: uuid.UUID,
                        places: list[tuple[int, int | None, uuid.UUID]]) -> int:
    """One ticket per place of a confirmed order, in the caller's transaction; returns how many are new.

    places: (place_id = show_seats.id, seat_id (= place_id for a reserved seat, None for GA), section_id).
    Idempotent: a place that already has this order's ticket keeps it. A place ticketed for another
    order raises TicketConflict (a resold place whose old ticket was not voided): never a silent gap.
    """
    if not places:
        return 0
    ticket_ids = [uuid.uuid4() for _ in places]
    inserted = (await conn.execute(text(
        "INSERT INTO tickets (id, order_id, show_id, place_id, seat_id, section_id, barcode) "
        "SELECT t.id, :o, :s, t.place, t.seat, t.section, t.barcode FROM unnest(CAST(:ids AS uuid[]), "
        "CAST(:places AS bigint[]), CAST(:seats AS bigint[]), CAST(:sections AS uuid[]), CAST(:codes AS text[])) "
        "AS t(id, place, seat, section, barcode) ON CONFLICT (show_id, place_id) DO NOTHING RETURNING id"),
        {"o": order_id, "s": show_id, "ids": ticket_ids, "places": [p[0] for p in places],
         "seats": [p[1] for p in places], "sections": [p[2] for p in places],
         "codes": [barcode_for(secret, t, show_id) for t in ticket_ids]})).all()
    if len(inserted) < len(places):
        foreign = (await conn.execute(text(
            "SELECT place_id FROM tickets WHERE show_id = :s AND place_id = ANY(:p) AND order_id <> :o"),
            {"s": show_id, "p": [p[0] for p in places], "o": order_id})).scalars().all()
        if foreign:
            raise TicketConflict(f"Places {sorted(foreign)} of show {show_id} are ticketed for another order.")
    return len(inserted)


async def tickets_of_order(engine: AsyncEngine, order_id: uuid.UUID) -> list[TicketRecord]:
    """The order's tickets still its buyer's (a transferred one is its recipient's)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT t.id, t.order_id, t.seat_id, t.section_id, t.barcode FROM tickets t "
            "LEFT JOIN show_seats ss ON ss.show_id = t.show_id AND ss.id = t.place_id "
            "WHERE t.order_id = :o AND t.holder_id IS NULL ORDER BY ss.position NULLS LAST, t.id"),
            {"o": order_id})).all()
    return [TicketRecord(id=r.id, order_id=r.order_id, seat_id=r.seat_id, section_id=r.section_id,
                         barcode=r.barcode) for r in rows]


def _document(r: Any) -> TicketDocument:
    return TicketDocument(
        ticket_id=r.id, order_id=r.order_id, show_id=r.show_id, barcode=r.barcode, event_name=r.event_name,
        performer=r.performer, venue_name=r.venue_name, venue_city=r.venue_city, starts_at=r.starts_at,
        section_name=r.section_name, row=r.row_label, seat_number=r.number, price_cents=r.price_cents,
        currency=r.currency, holder_name=r.holder_name, venue_time_zone=r.venue_time_zone, bought=r.bought)


async def ticket_document(engine: AsyncEngine, ticket_id: uuid.UUID, user_id: uuid.UUID) -> TicketDocument | None:
    """The ticket as printed; None unless it is user_id's (its holder since a transfer, else its order's
    buyer) and its order confirmed (no existence leak)."""
    async with engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT t.id, t.order_id, t.show_id, t.barcode, e.name AS event_name, e.performer, "
            "v.name AS venue_name, v.city AS venue_city, v.time_zone AS venue_time_zone, sh.starts_at, "
            "sec.name AS section_name, "
            "vs.row_label, vs.number, COALESCE(ss.price_cents, 0) AS price_cents, o.currency, "
            "u.name AS holder_name, u.id = o.user_id AS bought FROM tickets t "
            "JOIN orders o ON o.id = t.order_id AND o.status = 'confirmed' "
            "JOIN users u ON u.id = COALESCE(t.holder_id, o.user_id) AND u.id = :u JOIN shows sh ON sh.id = t.show_id "
            "JOIN events e ON e.id = sh.event_id JOIN venues v ON v.id = sh.venue_id "
            "JOIN sections sec ON sec.id = t.section_id "
            "LEFT JOIN show_seats ss ON ss.show_id = t.show_id AND ss.id = t.place_id "
            "LEFT JOIN venue_seats vs ON vs.id = ss.venue_seat_id AND t.seat_id IS NOT NULL "
            "WHERE t.id = :t"), {"t": ticket_id, "u": user_id})).first()
    return None if row is None else _document(row)
