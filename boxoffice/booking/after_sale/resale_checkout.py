"""Buying a resale listing, and refunding its seller once it is paid.

holdResaleListing makes a hold of the buyer on the listed place (its seat stays sold: the hold
claims the listing, not the seat row), for the show's hold TTL; createOrder and confirmPayment then
work as for a primary sale. The payment settles through settle_intent() (migration 0015) as a resale:
in one transaction the seller's ticket is void, the buyer's issued, the listing SOLD and the
seller's refund recorded as pending, with both notifications in the outbox. Then, outside any
transaction, Stripe refunds the seller's payment by the listing price, with an idempotency key of
the listing, and the listing records the refund; `boxoffice reconcile` retries those still pending.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from asyncpg.exceptions import UniqueViolationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ...payments.gateway import PaymentProviderUnavailable, PaymentRequestRejected
from ..errors import IdempotencyConflict, InvalidInput, LimitExceeded, NotFound, NotOnSale, Unauthenticated
from ..inventory.holds import check_fan_key, fan_lock_key, tickets_in_use
from ..records import GALine, HoldRecord, Viewer
from .problems import ListingGone, ListingHeld, ShowIsCancelled

if TYPE_CHECKING:
    from ..checkout.payments import PaymentContext

log = logging.getLogger("boxoffice.resale")

# A listing a buyer can still buy: listed, and its ticket still valid and marked listed (a refund or a
# dispute voids the ticket without touching the listing). On `l`, a resale_listings row.
LISTING_FOR_SALE = ("(l.status = 'listed' AND EXISTS (SELECT FROM tickets t WHERE t.id = l.ticket_id AND t.listed "
                    "AND t.status = 'valid'))")
_HOLD_COLS = ("h.id, h.user_id, h.show_id, h.status, h.expires_at, h.seat_ids, h.ga_lines, h.ticket_count, "
              "h.total_cents, h.currency, h.created_at")


def hold_record(r: Any) -> HoldRecord:
    status = "expired" if r.status == "active" and r.expires_at <= datetime.now(timezone.utc) else r.status
    lines = tuple(GALine(uuid.UUID(g["sectionId"]), g["quantity"], g["priceCents"]) for g in r.ga_lines or [])
    return HoldRecord(id=r.id, user_id=r.user_id, show_id=r.show_id, status=status, expires_at=r.expires_at,
                      seat_ids=tuple(r.seat_ids), general_admission=lines, ticket_count=r.ticket_count,
                      total_cents=r.total_cents, currency=r.currency, created_at=r.created_at)


async def hold_resale_listing(engine: AsyncEngine, viewer: Viewer | None, listing_id: uuid.UUID,
                              key: str) -> HoldRecord:
    """A hold of the buyer on the listing, until the show's hold TTL. The same key answers the same
    hold; a listing held by another buyer, sold or withdrawn is SEATS_UNAVAILABLE."""
    if viewer is None:
        raise Unauthenticated("Sign in to buy tickets.")
    check_fan_key(key)
    for _ in range(2):  # a concurrent twin with the same key may win the insert: the second pass answers it
        try:
            return await _hold_once(engine, viewer, listing_id, key)
        except IntegrityError as err:
            if not isinstance(getattr(err.orig, "__cause__", None), UniqueViolationError):
                raise
    raise IdempotencyConflict("That idempotency key is in use by another request.", field="idempotencyKey")


async def _hold_once(engine: AsyncEngine, viewer: Viewer, listing_id: uuid.UUID, key: str) -> HoldRecord:
    async with engine.begin() as conn:
        same = (await conn.execute(text(
            f"SELECT {_HOLD_COLS}, r.listing_id FROM holds h LEFT JOIN resale_holds r ON r.hold_id = h.id "
            "WHERE h.user_id = :u AND h.idempotency_key = :k"), {"u": viewer.user_id, "k": key})).first()
        if same is not None:
            if same.listing_id != listing_id:
                raise IdempotencyConflict("That idempotency key was used for another hold.", field="idempotencyKey")
            return hold_record(same)
        listing = (await conn.execute(text(
            "SELECT l.id, l.show_id, l.seller_id, l.place_id, l.seat_id, l.section_id, l.price_cents, l.currency, "
            "l.hold_id, sh.hold_ttl_seconds, sh.max_tickets_per_user, sh.status AS show_status, "
            "sh.starts_at > now() AS upcoming, "
            f"{LISTING_FOR_SALE} AS for_sale "
            "FROM resale_listings l JOIN shows sh ON sh.id = l.show_id WHERE l.id = :l FOR UPDATE OF l"),
            {"l": listing_id})).first()
        if listing is None:
            raise NotFound("No such listing.", field="listingId")
        if listing.show_status == "cancelled":
            raise ShowIsCancelled("This show was cancelled.", field="listingId")
        if not listing.upcoming:
            raise NotOnSale("This show has started.", field="listingId")
        if not listing.for_sale:
            raise ListingGone("This ticket was sold or withdrawn.", field="listingId")
        if listing.seller_id == viewer.user_id:
            raise InvalidInput("This is your own listing.", field="listingId")
        current = (await conn.execute(text(
            f"SELECT {_HOLD_COLS} FROM holds h WHERE h.id = :h AND h.status = 'active' AND h.expires_at > now()"),
            {"h": listing.hold_id})).first()
        if current is not None:
            if current.user_id == viewer.user_id:
                return hold_record(current)  # the same buyer again, with another key: their hold
            raise ListingHeld("Another buyer is checking out this ticket.", field="listingId")
        # The fan's per-show lock, as holdSeats takes it, so a seat hold of theirs at the same instant
        # waits and then counts this one (a statement of its own: the count needs a snapshot after it).
        fan_lock = fan_lock_key("CAST(:u AS uuid)", "CAST(:s AS uuid)")
        await conn.execute(text(f"SELECT pg_advisory_xact_lock({fan_lock})"),
                           {"u": viewer.user_id, "s": listing.show_id})
        held = (await conn.execute(text(f"SELECT {tickets_in_use(':u', ':s')}"),
                                   {"u": viewer.user_id, "s": listing.show_id})).scalar_one()
        if held + 1 > listing.max_tickets_per_user:  # the show's per-fan limit
            raise LimitExceeded("That is more tickets than one person may hold for this show.", field="listingId")
        reserved = listing.seat_id is not None
        ga = [] if reserved else [{"sectionId": str(listing.section_id), "quantity": 1,
                                   "priceCents": listing.price_cents}]
        hold = (await conn.execute(text(
            "INSERT INTO holds AS h (user_id, show_id, expires_at, idempotency_key, request_hash, seat_ids, unit_ids, "
            "ga_lines, ticket_count, total_cents, currency) VALUES (:u, :s, now() + make_interval(secs => :ttl), :k, "
            ":hash, :seats, :units, CAST(:ga AS jsonb), 1, :price, :c) "
            f"RETURNING {_HOLD_COLS}"),
            {"u": viewer.user_id, "s": listing.show_id, "ttl": listing.hold_ttl_seconds, "k": key,
             "hash": f"resale:{listing_id}", "seats": [listing.place_id] if reserved else [],
             "units": [] if reserved else [listing.place_id], "ga": json.dumps(ga), "price": listing.price_cents,
             "c": listing.currency})).one()
        await conn.execute(text("INSERT INTO resale_holds (hold_id, listing_id) VALUES (:h, :l)"),
                           {"h": hold.id, "l": listing_id})
        await conn.execute(text("UPDATE resale_listings SET hold_id = :h WHERE id = :l"),
                           {"h": hold.id, "l": listing_id})
    return hold_record(hold)


_PENDING = ("SELECT l.id, l.price_cents, p.intent_id FROM resale_listings l "
            "JOIN payments p ON p.order_id = l.seller_order_id WHERE l.refund_status = 'pending'")


# Unless the dispute was won meanwhile: the seller's payment read FOR SHARE waits for a won
# dispute's transaction (which locks it, then makes 'disputed' payouts pending) and reads its outcome.
_PAYOUT_DISPUTED = (
    "UPDATE resale_listings l SET refund_status = 'disputed' WHERE l.id = :l AND l.refund_status = 'pending' "
    "AND coalesce((SELECT sp.dispute_status FROM payments sp WHERE sp.order_id = l.seller_order_id FOR SHARE), "
    "'') NOT IN ('won', 'warning_closed')")


async def refund_seller(engine: AsyncEngine, ctx: PaymentContext, buyer_order_id: uuid.UUID) -> bool:
    """After a resale settled: the seller's payment refunded by the listing price. False: Stripe could
    not be reached (or refused); the refund stays pending for `boxoffice reconcile`."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text(_PENDING + " AND l.buyer_order_id = :o"), {"o": buyer_order_id})).all()
    return all([await _refund(engine, ctx, r.id, r.intent_id, r.price_cents) for r in rows])


async def refund_pending_sellers(engine: AsyncEngine, ctx: PaymentContext, *, older_than_s: float = 0.0,
                                 limit: int = 500) -> int:
    """Reconciliation: retries every seller refund still pending; returns how many were made."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            _PENDING + " AND l.ended_at <= now() - make_interval(secs => :age) ORDER BY l.ended_at LIMIT :n"),
            {"age": older_than_s, "n": limit})).all()
    return sum([await _refund(engine, ctx, r.id, r.intent_id, r.price_cents) for r in rows])


async def _refund(engine: AsyncEngine, ctx: PaymentContext, listing_id: uuid.UUID, intent_id: str | None,
                  amount: int) -> bool:
    if intent_id is None:  # a confirmed order always has its intent: nothing to refund against
        log.error("resale listing %s: the seller's payment has no intent", listing_id)
        return False
    try:
        refund = await ctx.gateway.refund(intent_id, f"boxoffice-resale-refund-{listing_id}", amount_cents=amount)
    except (PaymentProviderUnavailable, PaymentRequestRejected) as err:
        if isinstance(err, PaymentRequestRejected) and err.code == "charge_disputed":
            # The seller's bank gave them the whole charge back: no payout is owed unless the box
            # office wins the dispute (checkout/disputes.py makes it pending again then).
            async with engine.begin() as conn:
                await conn.execute(text(_PAYOUT_DISPUTED), {"l": listing_id})
            log.info("resale listing %s: no payout, the seller disputed the charge", listing_id)
            return False
        log.warning("resale listing %s: seller refund not made yet (%s)", listing_id, err)
        return False
    async with engine.begin() as conn:
        await conn.execute(text(
            "UPDATE resale_listings SET refund_status = 'refunded', refund_id = :r, refunded_cents = :a "
            "WHERE id = :l AND refund_status = 'pending'"), {"r": refund.id, "a": refund.amount, "l": listing_id})
    return True


RESOLD_CENTS = ("SELECT COALESCE(sum(price_cents), 0) FROM resale_listings "
                "WHERE seller_order_id = :o AND status = 'sold'")
"""What a seller's order was already refunded (or is being refunded) for its resold tickets: a later
refund of the whole order (refundOrder, cancelShow) refunds its total less this, and voids only the
tickets still on it (the resold ones are the buyers')."""


async def resold_cents(engine: AsyncEngine, order_id: uuid.UUID) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(RESOLD_CENTS), {"o": order_id})).scalar_one())
