"""Face-value resale: a fan lists a ticket they cannot use, at no more than the show's cap.

A listed seat stays sold (its ticket is the seller's until a buyer pays), but live seat maps show it
as available again (a new version of the seat, published as 'A') and as sold when it is withdrawn
or bought. Listing locks the ticket row after the show's lock and checks it is still valid and not
offered in a transfer, so a listing, a transfer and a check-in of one ticket never both succeed.
Only the buyer resells: the sale's money is paid back to the card that bought the ticket, so a
ticket received by transfer is passed on by transfer (listing it paid its price to the sender).
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ...db import reading
from ..catalog.currencies import why_not_chargeable
from ..errors import InvalidInput, NotFound, Unauthenticated
from ..inventory.seatmap import lock_show_for_change
from ..records import ChangeSet, SeatChange, Viewer
from .owned_tickets import owned_ticket
from .problems import AboveResaleCap, ListingHeld, ListingGone, TicketListed, TransferAlreadyPending
from .records import LISTING_COLS, ListingRecord, listing_record

MAX_PRICE_CENTS = 100_000_000
MAX_LISTINGS = 100


def _signed_in(viewer: Viewer | None) -> Viewer:
    if viewer is None:
        raise Unauthenticated("Sign in to resell tickets.")
    return viewer


async def _seat_change(conn: AsyncConnection, show_id: uuid.UUID, place_id: int, status: str) -> SeatChange:
    """A new version of the place, to publish as `status` (its row stays sold)."""
    row = (await conn.execute(text(
        "UPDATE show_seats ss SET version = nextval(CAST(sh.version_sequence AS regclass)) FROM shows sh "
        "WHERE sh.id = :s AND ss.show_id = :s AND ss.id = :p "
        "RETURNING ss.id, ss.section_id, ss.version, ss.position IS NULL AS ga"), {"s": show_id, "p": place_id})).one()
    return SeatChange(row.id, row.section_id, status, row.version, row.ga)


async def list_for_resale(engine: AsyncEngine, viewer: Viewer | None, ticket_id: uuid.UUID,
                          price_cents: int) -> tuple[ListingRecord, ChangeSet]:
    """Lists the caller's ticket. Listing it again at the same price answers the same listing."""
    me = _signed_in(viewer)
    if not 1 <= price_cents <= MAX_PRICE_CENTS:
        raise InvalidInput(f"priceCents is between 1 and {MAX_PRICE_CENTS}.", field="priceCents")
    changes = ChangeSet()
    async with engine.begin() as conn:
        show_id = (await conn.execute(text("SELECT show_id FROM tickets WHERE id = :t"), {"t": ticket_id})).scalar()
        if show_id is not None:
            await lock_show_for_change(conn, show_id)
        ticket = await owned_ticket(conn, ticket_id, me.user_id, lock=True)
        if ticket.listed:
            same = (await conn.execute(text(
                f"SELECT {LISTING_COLS} FROM resale_listings WHERE ticket_id = :t AND status = 'listed'"),
                {"t": ticket_id})).first()
            if same is not None and same.price_cents == price_cents:
                return listing_record(same), changes
            raise TicketListed("This ticket is listed already; withdraw it to change the price.", field="ticketId")
        if ticket.owner_id != ticket.buyer_id:  # the sale's money goes back to the card that bought it
            raise InvalidInput("Only a ticket you bought can be resold here: its price is paid back to the card that "
                               "bought it. Pass this one on with a transfer.", field="ticketId")
        if (await conn.execute(text("SELECT 1 FROM ticket_transfers WHERE ticket_id = :t AND status = 'pending'"),
                               {"t": ticket_id})).first() is not None:
            raise TransferAlreadyPending("This ticket is offered in a transfer; cancel it first.", field="ticketId")
        cap = ticket.face_value_cents * ticket.resale_cap_percent // 100
        if price_cents > cap:
            raise AboveResaleCap(f"The most this ticket can be listed for is {cap} (cents).", field="priceCents")
        if (why_not := why_not_chargeable(ticket.currency.upper(), price_cents)) is not None:
            raise InvalidInput(why_not, field="priceCents")  # its buyer is charged this price
        # The sale is paid back to the card that bought the ticket, which can take back no more than it paid.
        if price_cents > ticket.paid_cents:
            raise AboveResaleCap(f"The most this ticket can be listed for is {ticket.paid_cents} (cents), what you "
                                 "paid for it: the sale is paid back to the card that bought it.", field="priceCents")
        row = (await conn.execute(text(
            "INSERT INTO resale_listings (ticket_id, show_id, seller_id, seller_order_id, place_id, seat_id, section_id, "
            "price_cents, face_value_cents, currency) VALUES (:t, :s, :u, :o, :p, :seat, :sec, :price, :face, :c) "
            f"RETURNING {LISTING_COLS}"),
            {"t": ticket_id, "s": ticket.show_id, "u": me.user_id, "o": ticket.order_id, "p": ticket.place_id,
             "seat": ticket.seat_id, "sec": ticket.section_id, "price": price_cents, "face": ticket.face_value_cents,
             "c": ticket.currency})).one()
        await conn.execute(text("UPDATE tickets SET listed = true WHERE id = :t"), {"t": ticket_id})
        changes.add(ticket.show_id, await _seat_change(conn, ticket.show_id, ticket.place_id, "A"))
    return listing_record(row), changes


async def withdraw_resale(engine: AsyncEngine, viewer: Viewer | None,
                          listing_id: uuid.UUID) -> tuple[ListingRecord, ChangeSet]:
    """The seller takes the listing back, unless a buyer is checking it out right now (then one of
    them fails cleanly: this one, with when to try again). Withdrawing twice answers the same."""
    me = _signed_in(viewer)
    changes = ChangeSet()
    async with engine.begin() as conn:
        show_id = (await conn.execute(text("SELECT show_id FROM resale_listings WHERE id = :l"),
                                      {"l": listing_id})).scalar()
        if show_id is None:
            raise NotFound("No such listing.", field="listingId")
        await lock_show_for_change(conn, show_id)
        listing = (await conn.execute(text(
            f"SELECT {LISTING_COLS}, place_id, hold_id FROM resale_listings WHERE id = :l FOR UPDATE"),
            {"l": listing_id})).one()
        if listing.seller_id != me.user_id:
            raise NotFound("No such listing.", field="listingId")
        if listing.status == "withdrawn":
            return listing_record(listing), changes
        if listing.status == "sold":
            raise ListingGone("This listing was sold.", field="listingId")
        held = (await conn.execute(text(
            "SELECT extract(epoch FROM expires_at - now()) AS left_s FROM holds "
            "WHERE id = :h AND status = 'active' AND expires_at > now()"), {"h": listing.hold_id})).first()
        if held is not None:
            raise ListingHeld("A buyer is checking out this ticket; try again when their hold ends.",
                              field="listingId", retry_after_s=float(held.left_s))
        row = (await conn.execute(text(
            "UPDATE resale_listings SET status = 'withdrawn', ended_at = now() WHERE id = :l "
            f"RETURNING {LISTING_COLS}"), {"l": listing_id})).one()
        await conn.execute(text("UPDATE tickets SET listed = false WHERE id = :t"), {"t": listing.ticket_id})
        changes.add(show_id, await _seat_change(conn, show_id, listing.place_id, "S"))
    return listing_record(row), changes


async def withdraw_above_cap(conn: AsyncConnection, show_id: uuid.UUID, changes: ChangeSet) -> int:
    """Withdraws the show's listings priced above its resale cap now (the organizer lowered it), in
    the caller's transaction, which holds the show's lock: the cap protects fans, whatever price a
    ticket was listed at. A buyer checking one out has their hold end now: confirmPayment refuses a
    listing no longer for sale before it charges (and a payment already under way is refunded by its
    settlement). Returns how many were withdrawn."""
    rows = (await conn.execute(text(
        "WITH over AS (SELECT l.id FROM resale_listings l JOIN shows sh ON sh.id = l.show_id "
        "  WHERE l.show_id = :s AND l.status = 'listed' "
        "  AND l.price_cents > l.face_value_cents * sh.resale_cap_percent / 100 ORDER BY l.id FOR UPDATE OF l), "
        "done AS (UPDATE resale_listings l SET status = 'withdrawn', ended_at = now() FROM over WHERE l.id = over.id "
        "  RETURNING l.ticket_id, l.place_id, l.hold_id), "
        "ended AS (UPDATE holds h SET expires_at = now() FROM done WHERE h.id = done.hold_id "
        "  AND h.status = 'active' AND h.expires_at > now()) "
        "UPDATE tickets t SET listed = false FROM done WHERE t.id = done.ticket_id RETURNING done.place_id"),
        {"s": show_id})).all()
    for row in sorted(rows, key=lambda r: r.place_id):
        changes.add(show_id, await _seat_change(conn, show_id, row.place_id, "S"))
    return len(rows)


async def open_listings_of_show(engine: AsyncEngine, show_id: uuid.UUID, first: int) -> list[ListingRecord]:
    """Show.resaleListings: listed, its ticket still live (a refund may have voided it since) and not
    held by a buyer now, cheapest first."""
    if not 0 <= first <= MAX_LISTINGS:
        raise InvalidInput(f"first is between 0 and {MAX_LISTINGS}.", field="first")
    async with reading(engine) as conn:
        rows = (await conn.execute(text(
            f"SELECT {', '.join('l.' + c.strip() for c in LISTING_COLS.split(','))} FROM resale_listings l "
            "JOIN tickets t ON t.id = l.ticket_id AND t.listed AND t.status = 'valid' "
            "LEFT JOIN holds h ON h.id = l.hold_id AND h.status = 'active' AND h.expires_at > now() "
            "WHERE l.show_id = :s AND l.status = 'listed' AND h.id IS NULL "
            "ORDER BY l.price_cents, l.created_at, l.id LIMIT :n"), {"s": show_id, "n": first})).all()
    return [listing_record(r) for r in rows]


async def listings_of_seller(engine: AsyncEngine, user_id: uuid.UUID) -> list[ListingRecord]:
    """User.resaleListings: the user's listings, open ones first, newest first within."""
    async with reading(engine) as conn:
        # A listing whose ticket was voided since (its order refunded) is over: shown as withdrawn.
        cols = ", ".join("l." + c.strip() for c in LISTING_COLS.split(",") if c.strip() != "status")
        rows = (await conn.execute(text(
            f"SELECT {cols}, CASE WHEN l.status = 'listed' AND NOT EXISTS (SELECT 1 FROM tickets t "
            "WHERE t.id = l.ticket_id) THEN 'withdrawn' ELSE l.status END AS status FROM resale_listings l "
            "WHERE l.seller_id = :u ORDER BY (l.status = 'listed') DESC, l.created_at DESC, l.id LIMIT :n"),
            {"u": user_id, "n": MAX_LISTINGS})).all()
    return [listing_record(r) for r in rows]


async def open_listings_of_tickets(engine: AsyncEngine, ticket_ids: list[uuid.UUID],
                                   seller: uuid.UUID) -> dict[uuid.UUID, ListingRecord]:
    """Ticket.resaleListing: each ticket's open listing, for its owner (the seller)."""
    async with reading(engine) as conn:
        rows = (await conn.execute(text(
            f"SELECT {LISTING_COLS} FROM resale_listings WHERE ticket_id = ANY(:t) AND seller_id = :u "
            "AND status = 'listed'"), {"t": ticket_ids, "u": seller})).all()
    return {r.ticket_id: listing_record(r) for r in rows}


async def resale_cap_of_show(engine: AsyncEngine, show_id: uuid.UUID) -> int:
    """Show.resaleCapPercent, as the organizer set it last (setRefundPolicy)."""
    async with reading(engine) as conn:
        return int((await conn.execute(text("SELECT resale_cap_percent FROM shows WHERE id = :s"),
                                       {"s": show_id})).scalar_one())
