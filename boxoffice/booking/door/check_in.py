"""Admitting a ticket at the door: once, whichever door scans it first.

The checks follow the ticket's life: a genuine signature (forged or altered: INVALID_INPUT), not on
the revocation list (refunded, cancelled, charged back, transferred away, resold: TICKET_VOID), a
ticket of this show (WRONG_SHOW), then one conditional UPDATE that admits it only while it is still
'valid' (a second scan, at this door or any other: ALREADY_CHECKED_IN, saying when). Who may scan
(the show's organizer, admins, its door staff), the revocation list, the ticket and the admission
are one statement: one round trip per scan, and two doors scanning the same ticket at the same
instant serialise on the ticket's row, so exactly one of them admits it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ..catalog.venue_time import local_time, zone_abbreviation
from ..checkout.tickets import verify_barcode
from ..errors import BookingError, Forbidden, InvalidInput, NotFound, Unauthenticated
from ..pg_calls import driver
from ..records import ShowRecord, TicketRecord, Viewer
from .staff import organizes


class AlreadyCheckedIn(BookingError):
    code = "ALREADY_CHECKED_IN"


class TicketVoid(BookingError):
    code = "TICKET_VOID"


class WrongShow(BookingError):
    code = "WRONG_SHOW"


@dataclass(frozen=True, slots=True)
class CheckInRecord:
    ticket: TicketRecord
    show: ShowRecord
    place: str  # "Orchestra, row C, seat 10", or the general-admission section's name
    checked_in_at: datetime


_VOID_WORDS = {"refunded": "was refunded", "disputed": "was charged back", "cancelled": "was cancelled with its show",
               "transferred": "was transferred (its new holder has a new barcode)", "resold": "was resold"}

# $1 show, $2 caller, $3 whether the barcode's signature is genuine, $4 the barcode, $5 whether the
# caller organizes the show. A ticket is found by its barcode, never by the id in the claims: a
# transferred ticket keeps its id under a new barcode (issue 20). The outer SELECT reads the ticket
# as the statement started; `admitted` says whether this statement's UPDATE took it. A ticket
# listed for resale is refused by a trigger (migration 0013); read through to_jsonb so this
# statement does not depend on that column.
_SCAN = (
    "WITH staff AS (SELECT $5::boolean OR EXISTS (SELECT 1 FROM door_staff WHERE show_id = $1 AND user_id = $2) AS ok), "
    "void AS (SELECT reason, revoked_at FROM revoked_tickets WHERE barcode = $4 AND $3::boolean AND show_id = $1), "
    # A cancelled show admits nobody from the moment it is cancelled, not once the refund job has
    # reached each order and voided its tickets.
    "cancelled AS (SELECT cancelled_at FROM shows WHERE id = $1 AND status = 'cancelled'), "
    "admitted AS (UPDATE tickets SET status = 'checked_in', checked_in_at = now() "
    "  WHERE barcode = $4 AND $3::boolean AND show_id = $1 AND status = 'valid' "
    "  AND (SELECT ok FROM staff) AND NOT EXISTS (SELECT 1 FROM void) AND NOT EXISTS (SELECT 1 FROM cancelled) "
    "  RETURNING checked_in_at) "
    "SELECT (SELECT ok FROM staff) AS allowed, (SELECT reason FROM void) AS void_reason, "
    "  (SELECT cancelled_at FROM cancelled) AS show_cancelled_at, "
    "  (SELECT revoked_at FROM void) AS revoked_at, (SELECT checked_in_at FROM admitted) AS admitted_at, "
    "  t.id, t.order_id, t.show_id, t.seat_id, t.section_id, t.barcode, t.status, t.checked_in_at, "
    "  coalesce(to_jsonb(t) ->> 'listed', 'false') = 'true' AS listed, "
    "  sec.name AS section_name, vs.row_label, vs.number, "
    "  (SELECT v.time_zone FROM shows sh JOIN venues v ON v.id = sh.venue_id WHERE sh.id = $1) AS time_zone "
    "FROM (SELECT 1) AS one LEFT JOIN tickets t ON $3::boolean AND t.barcode = $4 "
    "LEFT JOIN sections sec ON sec.id = t.section_id "
    "LEFT JOIN show_seats ss ON ss.show_id = t.show_id AND ss.id = t.seat_id "
    "LEFT JOIN venue_seats vs ON vs.id = ss.venue_seat_id")
_AFTER_RACE = ("SELECT status, checked_in_at, barcode, coalesce(to_jsonb(t) ->> 'listed', 'false') = 'true' AS listed "
               "FROM tickets t WHERE id = $1")


def place_label(section: str, row: str | None, seat: str | None) -> str:
    return section if row is None else f"{section}, row {row}, seat {seat}"


def _when(at: datetime, time_zone: str) -> str:
    local = local_time(at, time_zone)
    return f"{local.strftime('%H:%M:%S on %d %b %Y')} {zone_abbreviation(local)}"


async def check_in_ticket(engine: AsyncEngine, load_show: Callable[[uuid.UUID], Awaitable[ShowRecord | None]],
                          secret: str, viewer: Viewer | None, show_id: uuid.UUID, barcode: str) -> CheckInRecord:
    """Admits the ticket with this barcode to this show, once. `load_show` is the process's show
    cache (catalog.ShowCache.get): who organizes a show never changes, so a scan reads no show row."""
    if viewer is None:
        raise Unauthenticated("Sign in as door staff to check tickets in.")
    show = await load_show(show_id)
    if show is None:
        raise NotFound("No such show.", field="showId")
    # Typed by hand at a door, a barcode may come in lower case or with spaces around it.
    code = barcode.strip().upper() if isinstance(barcode, str) else ""
    claims = verify_barcode(secret, code)
    async with driver(engine) as db:
        found = await db.fetchrow(_SCAN, show.id, viewer.user_id, claims is not None, code if claims else "",
                                  organizes(viewer, show))
        row = dict(found)
        if row["allowed"] and claims is not None and row["admitted_at"] is None and row["void_reason"] is None \
                and row["show_cancelled_at"] is None and row["show_id"] == show.id and row["barcode"] == code \
                and row["status"] == "valid":
            # It looked admittable but was not admitted: another door took it while this scan waited
            # for its row (or a rule refused it: listed for resale). Read it as it is now.
            again = await db.fetchrow(_AFTER_RACE, row["id"])
            row.update({} if again is None else dict(again))
    return _outcome(row, show, code if claims is not None else None,
                    other_show=claims is not None and not claims.is_for_show(show.id))


def _outcome(row: dict[str, Any], show: ShowRecord, code: str | None, *, other_show: bool) -> CheckInRecord:
    if not row["allowed"]:
        raise Forbidden("Only this show's door staff and its organizer can check tickets in.", field="showId")
    if code is None:
        raise InvalidInput("This is not a genuine ticket barcode (forged, altered or mistyped).", field="barcode")
    if other_show:  # whatever became of it there is that show's business, not this door's
        raise WrongShow("Do not admit: this ticket is for another show.", field="barcode")
    time_zone = row["time_zone"] or "UTC"
    if row["void_reason"] is not None:
        words = _VOID_WORDS.get(row["void_reason"], "is void")
        raise TicketVoid(f"Do not admit: this ticket {words} ({_when(row['revoked_at'], time_zone)}).",
                         field="barcode")
    if row["id"] is None:
        raise InvalidInput("No ticket has this barcode.", field="barcode")
    if row["show_id"] != show.id:
        raise WrongShow("Do not admit: this ticket is for another show.", field="barcode")
    if row["barcode"] != code:
        raise TicketVoid("Do not admit: this barcode no longer admits anyone.", field="barcode")
    if row["show_cancelled_at"] is not None:
        raise TicketVoid(f"Do not admit: this show was cancelled ({_when(row['show_cancelled_at'], time_zone)}).",
                         field="barcode")
    if row["admitted_at"] is None:
        if row["listed"]:
            raise TicketVoid("Do not admit: this ticket is listed for resale; its holder must withdraw the "
                             "listing first.", field="barcode")
        if row["checked_in_at"] is None:  # neither admitted nor listed: its row vanished while we waited
            raise TicketVoid("Do not admit: this barcode no longer admits anyone.", field="barcode")
        raise AlreadyCheckedIn(f"Already checked in at {_when(row['checked_in_at'], time_zone)}.", field="barcode")
    at = row["admitted_at"]
    ticket = TicketRecord(id=row["id"], order_id=row["order_id"], seat_id=row["seat_id"], section_id=row["section_id"],
                          barcode=row["barcode"], status="checked_in", checked_in_at=at)
    return CheckInRecord(ticket=ticket, show=show, place=place_label(row["section_name"], row["row_label"],
                                                                     row["number"]), checked_in_at=at)
