"""Passing a ticket to a friend: offered to an e-mail address, accepted by the account with it.

Every step locks the ticket row first, then the transfer row, so an accept, a cancel and the
door's check-in of one ticket queue on the ticket row and exactly one of them wins:

- accept re-barcodes the ticket (the old barcode goes on the revocation list, reason
  'transferred'), makes the recipient its holder and tells both sides, in one transaction;
- cancel ends the offer while the ticket is still valid;
- a check-in that commits first ends the offer too (its ticket cannot change hands any more):
  a later accept is ALREADY_CHECKED_IN, a later cancel TRANSFER_NOT_PENDING.

A barcode signs its ticket's id, so an accepted ticket is re-issued under a new id (same row, same
place and order, `holder_id` the recipient); the sender's id and barcode stay on the revocation list,
so the door refuses the old barcode (TICKET_VOID) and the sender sees their ticket VOID.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ...db import reading
from ..accounts.email_address import email_address
from ..checkout.tickets import barcode_for
from ..errors import InvalidInput, NotFound, Unauthenticated
from ..records import TicketRecord, Viewer
from .owned_tickets import owned_ticket
from .problems import TicketCheckedIn, TicketIsVoid, TicketListed, TransferAlreadyPending, TransferNotPending
from .records import TRANSFER_COLS, TransferRecord, ticket_record, transfer_record

MAX_INCOMING = 100


def _email(value: str) -> str:
    return email_address(value, field="toEmail")  # as accounts are made


# Addresses are folded as accounts are (their unique index is on PostgreSQL's lower(email)), never by
# Python's str.lower: the two differ ("İ" is "i" to one and "i" + U+0307 to the other), and an offer to
# one account's address would go to another's look-alike.
_FOLD = "SELECT lower(CAST(:e AS text))"


def _signed_in(viewer: Viewer | None) -> Viewer:
    if viewer is None:
        raise Unauthenticated("Sign in to manage your tickets.")
    return viewer


async def _notify(conn: AsyncConnection, user_id: uuid.UUID, transfer_id: uuid.UUID, show_id: uuid.UUID,
                  stage: str) -> None:
    """TICKET_TRANSFERRED through the outbox, in the caller's transaction (it exists iff the change does)."""
    await conn.execute(text(
        "INSERT INTO outbox (topic, user_id, payload) VALUES ('notification', :u, jsonb_build_object("
        "'kind', 'TICKET_TRANSFERRED', 'transferId', CAST(:x AS text), 'showId', CAST(:s AS text), "
        "'stage', CAST(:stage AS text)))"), {"u": user_id, "x": str(transfer_id), "s": str(show_id), "stage": stage})


async def _account_of(conn: AsyncConnection, email: str) -> uuid.UUID | None:
    """The account an offer to this (folded) address is for, if it has signed up."""
    found = (await conn.execute(text("SELECT id FROM users WHERE lower(email) = :e"), {"e": email})).scalar()
    return found if isinstance(found, uuid.UUID) else None


_PENDING = f"SELECT {TRANSFER_COLS} FROM ticket_transfers WHERE ticket_id = :t AND status = 'pending'"


async def transfer_ticket(engine: AsyncEngine, viewer: Viewer | None, ticket_id: uuid.UUID, to_email: str,
                          before_new_offer: Callable[[], Awaitable[None]] | None = None) -> TransferRecord:
    """Offers the caller's ticket to an e-mail address. Asking again for the same address answers the
    same pending transfer (a retried request); another address while one is pending is rejected.
    `before_new_offer` (the sender's rate limit) runs, outside any transaction, only for a request that
    may make a new offer: a retry or a mistyped address costs the sender none of their offers."""
    me = _signed_in(viewer)
    typed = _email(to_email)
    async with engine.connect() as conn:
        email = (await conn.execute(text(_FOLD), {"e": typed})).scalar_one()
        pending = (await conn.execute(text(_PENDING + " AND from_user_id = :u"),
                                      {"t": ticket_id, "u": me.user_id})).first()
    if pending is not None and pending.to_email == email:
        return transfer_record(pending)
    if before_new_offer is not None:
        await before_new_offer()
    async with engine.begin() as conn:
        ticket = await owned_ticket(conn, ticket_id, me.user_id, lock=True)
        pending = (await conn.execute(text(_PENDING), {"t": ticket_id})).first()
        if pending is not None:
            if pending.to_email == email:
                return transfer_record(pending)
            raise TransferAlreadyPending("This ticket is already offered to someone; cancel that first.",
                                         field="ticketId")
        if ticket.listed:
            raise TicketListed("This ticket is listed for resale; withdraw the listing first.", field="ticketId")
        own = (await conn.execute(text("SELECT lower(email) FROM users WHERE id = :u"), {"u": me.user_id})).scalar()
        if own == email:
            raise InvalidInput("This ticket is yours already.", field="toEmail")
        row = (await conn.execute(text(
            "INSERT INTO ticket_transfers (ticket_id, show_id, from_user_id, to_email, from_barcode) "
            f"VALUES (:t, :s, :u, :e, :b) RETURNING {TRANSFER_COLS}"),
            {"t": ticket_id, "s": ticket.show_id, "u": me.user_id, "e": email, "b": ticket.barcode})).one()
        recipient = await _account_of(conn, email)
        if recipient is not None:  # one who signs up later finds it in User.incomingTransfers
            await _notify(conn, recipient, row.id, ticket.show_id, "offered")
    return transfer_record(row)


async def _locked(conn: AsyncConnection, transfer_id: uuid.UUID) -> tuple[Any, Any]:
    """(the ticket row, the transfer row), locked in that order; the ticket None if it is void."""
    found = (await conn.execute(text("SELECT ticket_id FROM ticket_transfers WHERE id = :x"),
                                {"x": transfer_id})).first()
    if found is None:
        return None, None
    ticket = (await conn.execute(text(
        "SELECT id, order_id, show_id, place_id, seat_id, section_id, barcode, status, listed FROM tickets "
        "WHERE id = :t FOR UPDATE"), {"t": found.ticket_id})).first()
    transfer = (await conn.execute(text(
        f"SELECT {TRANSFER_COLS} FROM ticket_transfers WHERE id = :x FOR UPDATE"), {"x": transfer_id})).first()
    return ticket, transfer


async def _end(conn: AsyncConnection, transfer_id: uuid.UUID) -> None:
    await conn.execute(text("UPDATE ticket_transfers SET status = 'cancelled', ended_at = now() "
                            "WHERE id = :x AND status = 'pending'"), {"x": transfer_id})


async def accept_transfer(engine: AsyncEngine, secret: str, viewer: Viewer | None,
                          transfer_id: uuid.UUID) -> tuple[TicketRecord, uuid.UUID]:
    """The recipient takes the ticket: a new barcode, the old one void, both sides told. Accepting
    an accepted transfer again answers the ticket (a retried request). Returns it and its show."""
    me = _signed_in(viewer)
    lost: Exception | None = None
    async with engine.begin() as conn:
        email = (await conn.execute(text("SELECT lower(email) FROM users WHERE id = :u"), {"u": me.user_id})).scalar()
        ticket, transfer = await _locked(conn, transfer_id)
        if transfer is None or transfer.to_email != email:
            raise NotFound("No such transfer.", field="transferId")
        if transfer.status == "accepted":
            again = (await conn.execute(text(
                "SELECT id, order_id, seat_id, section_id, barcode, status, checked_in_at FROM tickets "
                "WHERE id = :t AND holder_id = :u"), {"t": transfer.new_ticket_id, "u": me.user_id})).first()
            if again is not None:
                return ticket_record(again), transfer.show_id
        if transfer.status != "pending":
            raise TransferNotPending("This transfer is no longer pending.", field="transferId")
        if ticket is None:
            lost = TicketIsVoid("This ticket is void: it was refunded or cancelled.", field="transferId")
        elif ticket.status != "valid":
            lost = TicketCheckedIn("This ticket was used at the door already.", field="transferId")
        if lost is not None:
            await _end(conn, transfer_id)  # committed: the offer is over, whoever asks next
        else:
            return await _hand_over(conn, secret, ticket, transfer, me.user_id), transfer.show_id
    assert lost is not None
    raise lost


async def _hand_over(conn: AsyncConnection, secret: str, ticket: Any, transfer: Any,
                     recipient: uuid.UUID) -> TicketRecord:
    """The ticket re-issued to the recipient under a new id and barcode (the barcode signs the id): the
    sender's id and barcode go on the revocation list, so the door and the sender see them VOID."""
    new_id = uuid.uuid4()
    await conn.execute(text(
        "INSERT INTO revoked_tickets (ticket_id, order_id, show_id, barcode, reason, place_id, seat_id, section_id) "
        "VALUES (:t, :o, :s, :b, 'transferred', :p, :seat, :sec)"),
        {"t": ticket.id, "o": ticket.order_id, "s": ticket.show_id, "b": ticket.barcode, "p": ticket.place_id,
         "seat": ticket.seat_id, "sec": ticket.section_id})
    row = (await conn.execute(text(
        "UPDATE tickets SET id = :n, barcode = :b, holder_id = :u WHERE id = :t AND status = 'valid' AND NOT listed "
        "RETURNING id, order_id, seat_id, section_id, barcode, status, checked_in_at"),
        {"n": new_id, "b": barcode_for(secret, new_id, ticket.show_id), "u": recipient, "t": ticket.id})).one()
    await conn.execute(text(
        "UPDATE ticket_transfers SET status = 'accepted', to_user_id = :u, new_ticket_id = :n, ended_at = now() "
        "WHERE id = :x"), {"u": recipient, "n": new_id, "x": transfer.id})
    await _notify(conn, transfer.from_user_id, transfer.id, ticket.show_id, "accepted")
    await _notify(conn, recipient, transfer.id, ticket.show_id, "received")
    return ticket_record(row)


async def cancel_transfer(engine: AsyncEngine, viewer: Viewer | None, transfer_id: uuid.UUID) -> TransferRecord:
    """The sender takes the offer back while it is pending and the ticket still valid."""
    me = _signed_in(viewer)
    async with engine.begin() as conn:
        ticket, transfer = await _locked(conn, transfer_id)
        if transfer is None or transfer.from_user_id != me.user_id:
            raise NotFound("No such transfer.", field="transferId")
        live = transfer.status == "pending" and ticket is not None and ticket.status == "valid"
        await _end(conn, transfer_id)  # a dead offer (its ticket used or void) ends as well, committed
        recipient = await _account_of(conn, transfer.to_email)
        if live and recipient is not None:  # told of the offer: told it is gone
            await _notify(conn, recipient, transfer_id, transfer.show_id, "withdrawn")
        row = (await conn.execute(text(f"SELECT {TRANSFER_COLS} FROM ticket_transfers WHERE id = :x"),
                                  {"x": transfer_id})).one()
    if not live:
        raise TransferNotPending("This transfer is no longer pending.", field="transferId")
    return transfer_record(row)


async def transfers_of_tickets(engine: AsyncEngine, ticket_ids: list[uuid.UUID],
                               owner: uuid.UUID) -> dict[uuid.UUID, TransferRecord]:
    """Each ticket's pending or last transfer, for its owner (sent by them): the Ticket.transfer loader."""
    async with reading(engine) as conn:
        rows = (await conn.execute(text(
            f"SELECT DISTINCT ON (ticket_id) {TRANSFER_COLS} FROM ticket_transfers "
            "WHERE ticket_id = ANY(:t) AND from_user_id = :u ORDER BY ticket_id, (status = 'pending') DESC, "
            "created_at DESC"), {"t": ticket_ids, "u": owner})).all()
    return {r.ticket_id: transfer_record(r) for r in rows}


async def incoming_transfers(engine: AsyncEngine, user_id: uuid.UUID) -> list[TransferRecord]:
    """Transfers offered to the user's e-mail, pending first, then accepted ones (the tickets they
    received), then cancelled ones, newest first within each: offers made and cancelled by others,
    however many, never push a received ticket out of the list."""
    async with reading(engine) as conn:
        rows = (await conn.execute(text(
            f"SELECT {', '.join('x.' + c.strip() for c in TRANSFER_COLS.split(','))} FROM ticket_transfers x "
            "JOIN users u ON lower(u.email) = x.to_email WHERE u.id = :u "
            "ORDER BY (x.status = 'pending') DESC, (x.status = 'accepted') DESC, x.created_at DESC, x.id LIMIT :n"),
            {"u": user_id, "n": MAX_INCOMING})).all()
    return [transfer_record(r) for r in rows]


async def transfer_ticket_view(engine: AsyncEngine, transfer: TransferRecord, viewer: Viewer | None) -> TicketRecord:
    """TicketTransfer.ticket, to its sender or recipient: the recipient's ticket once accepted (to
    them), else the offered one; a void one as it was; one the caller does not own, without barcode."""
    mine = viewer is not None and viewer.user_id != transfer.from_user_id
    target = transfer.new_ticket_id if transfer.new_ticket_id is not None and mine else transfer.ticket_id
    async with reading(engine) as conn:
        row = (await conn.execute(text(
            "(SELECT t.id, t.order_id, t.seat_id, t.section_id, t.barcode, t.status, t.checked_in_at, "
            "  COALESCE(t.holder_id, o.user_id) AS owner FROM tickets t JOIN orders o ON o.id = t.order_id "
            "  WHERE t.id = :t) UNION ALL "
            "(SELECT r.ticket_id, r.order_id, r.seat_id, r.section_id, r.barcode, 'void', NULL, NULL "
            "  FROM revoked_tickets r WHERE r.ticket_id = :t ORDER BY r.revoked_at DESC LIMIT 1) LIMIT 1"),
            {"t": target})).one()
    record = ticket_record(row)
    if row.status == "void" or (viewer is not None and row.owner == viewer.user_id):
        return record
    return replace(record, barcode="")
