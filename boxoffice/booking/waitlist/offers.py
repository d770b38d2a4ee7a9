"""Offers: seats that came back go to the longest-waiting fan they fit, before open sale.

One general mechanism instead of a hook in every path that frees seats
-----------------------------------------------------------------------
Seats come back by many paths (a fan's release, the sweeper's expiry, a cancelled or refunded
order, a withdrawn resale listing, and whatever comes next). Rather than have each call into the
waitlist, migration 0014_waitlist puts a BEFORE UPDATE row trigger on show_seats: a seat about to
become 'A' while its show has a WAITING entry its tier fits is written as 'W' (parked) instead, in the
very transaction that frees it. Nothing can claim a parked seat (every claim wants 'A', or a lapsed
'H'), and maps show it as held (seatmap._STATUS_NOW). With nobody waiting the trigger costs one
probe of a partial index; the hold path (A -> H) never calls it.

This job (a loop of every server process, app.py) then, per show with parked seats, in one
millisecond transaction:
- takes the show's shared lock (the seat-map version barrier, as every inventory change does) and
  then tries a per-show advisory lock (`pg_try_advisory_xact_lock`): one process wins a show per
  round, the others skip it, so offers are decided in one place at a time across processes;
- reads the first WAITING entries in FIFO order (created_at, id), locks the fans' per-show locks in
  key order (the lock the hold path takes before seats, so the ticket limit is exact), then the
  parked seats in key order;
- gives each entry in turn, the longest-waiting first, the seats that fit it (its tier; `quantity`
  of them; together in one row where possible, else one row, else one section, else any), if it
  still fits the fan's ticket limit: a hold made for that fan, lasting the offer window
  (BOXOFFICE_WAITLIST_OFFER_S), a WAITLIST_OFFER notification in the outbox, the entry OFFERED;
- puts the seats no entry fits on open sale ('A', with `boxoffice.waitlist_release` set for the
  transaction so the trigger lets them through).

An offer hold's seats carry `hold_expires_at = 'infinity'`: unlike an ordinary hold, a lapsed offer
is NOT claimable by open sale. Only the sweeper ends it (by `holds.expires_at`); the seats then
become 'A' -> parked again by the trigger -> offered to the next entry, or on open sale with nobody
left. The entry itself follows its hold by the holds trigger of 0014 (converted: FULFILLED,
released: LEFT, expired: EXPIRED), in the transaction that ends the hold. So a seat is in at most one
offer (one hold), and a parked seat is always either offered or released by the next round: never
offered twice, never lost. `boxoffice audit` checks this (audit.py).

Ordinary holds lapse too, and a lapsed hold's seats are claimable at once (holds.py): for shows
with someone waiting, each round also pins the seats of holds lapsing within the next few rounds
(`pin_lapsing_holds`: `hold_expires_at = 'infinity'` on their seat rows; the holds themselves still
end at `holds.expires_at`), so those seats too reach the waitlist through the sweeper rather than
open sale. Best effort by its nature: a round late by more than the horizon lets a lapsed seat be
claimed by open sale in the moments before its sweep, as without a waitlist.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ...db import reading
from ..inventory.holds import OFFER_KEY_PREFIX, fan_lock_key, tickets_in_use
from ..inventory.seatmap import lock_show_for_change
from ..records import ChangeSet, SeatChange

log = logging.getLogger("boxoffice.waitlist")
MIN_OFFER_S = 30  # as holds' TTL (shows.hold_ttl_seconds): a fan needs time to pay
ENTRIES_PER_ROUND = 100  # waiting entries considered per show and round: the head of the line
# Holds made for a fan: 'waitlist-offer:<entry>:<new hold id>' (OFFER_KEY_PREFIX; the holds trigger of
# 0014 matches the prefix, and no fan's own key may start with it). The random hold id keeps a fan from
# taking the key first with a holdSeats of their own.


@dataclass(frozen=True, slots=True)
class _Seat:
    id: int
    section_id: uuid.UUID
    position: int | None  # None: a general-admission place
    row: str | None
    price_cents: int
    tier: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class _Entry:
    id: uuid.UUID
    user_id: uuid.UUID
    quantity: int
    tier: uuid.UUID | None


# The round's work in one statement (one round trip per process and round when there is none):
# shows with parked seats (the partial index of 'W' rows), and shows with someone waiting that have
# ordinary holds lapsing within the horizon (ix_holds_expiry: only holds about to lapse are read).
_WORK = (
    "SELECT show_id, bool_or(parked) AS parked, bool_or(NOT parked) AS lapsing FROM ("
    "  SELECT DISTINCT show_id, true AS parked FROM show_seats WHERE status = 'W' "
    "  UNION ALL "
    "  SELECT DISTINCT h.show_id, false FROM holds h WHERE h.status = 'active' "
    "    AND h.expires_at < now() + make_interval(secs => CAST(:within AS float8)) "
    f"    AND h.idempotency_key NOT LIKE '{OFFER_KEY_PREFIX}%' "
    "    AND EXISTS (SELECT 1 FROM waitlist_entries w WHERE w.show_id = h.show_id AND w.status = 'waiting')"
    ") work GROUP BY show_id ORDER BY show_id")


async def offer_round(engine: AsyncEngine, *, offer_s: int, interval_s: float = 1.0) -> tuple[int, ChangeSet]:
    """One round: pins seats of holds about to lapse (pin_lapsing_holds, a horizon of a few rounds),
    then offers every show's parked seats. Returns the offers made and what to publish."""
    offer_s = max(MIN_OFFER_S, offer_s)
    within_s = max(5.0, 5 * interval_s)
    async with reading(engine) as conn:
        work = (await conn.execute(text(_WORK), {"within": within_s})).all()
    changes, offered = ChangeSet(), 0
    for row in work:
        try:
            if row.lapsing:
                await pin_lapsing_holds(engine, row.show_id, within_s=within_s)
            if row.parked:
                offered += await offer_parked_seats(engine, row.show_id, offer_s=offer_s, changes=changes)
        except Exception:  # one show's trouble (a deadlock victim, ...) must not hold up the others' offers
            log.exception("waitlist offers of show %s failed; retried next round", row.show_id)
    return offered, changes


async def pin_lapsing_holds(engine: AsyncEngine, show_id: uuid.UUID, *, within_s: float) -> int:
    """Seats of the show's ordinary holds lapsing within `within_s` stay unclaimable after the lapse
    until the sweeper ends the hold (and the trigger parks them). One statement: the seat rows locked
    in key order, no other lock held, so it never deadlocks."""
    async with engine.begin() as conn:
        return int((await conn.execute(text(
            "WITH due AS (SELECT h.id FROM holds h WHERE h.status = 'active' AND h.show_id = :s "
            "  AND h.expires_at < now() + make_interval(secs => CAST(:within AS float8)) "
            f"  AND h.idempotency_key NOT LIKE '{OFFER_KEY_PREFIX}%'), "
            "locked AS (SELECT ss.id FROM show_seats ss WHERE ss.show_id = :s AND ss.hold_id IN (SELECT id FROM due) "
            "  AND ss.status = 'H' AND ss.hold_expires_at <> 'infinity' ORDER BY ss.id FOR UPDATE) "
            "UPDATE show_seats ss SET hold_expires_at = 'infinity' FROM locked l WHERE ss.show_id = :s "
            "AND ss.id = l.id AND ss.status = 'H' AND ss.hold_id IN (SELECT id FROM due)"),
            {"s": show_id, "within": within_s})).rowcount)


def pick_seats(seats: Iterable[_Seat], quantity: int) -> list[_Seat] | None:
    """`quantity` of these seats, together in one row where possible; None if there are too few."""
    pool = sorted(seats, key=lambda s: (s.position is None, s.position or 0, s.id))
    if len(pool) < quantity:
        return None
    groups: dict[tuple[uuid.UUID, str | None], list[_Seat]] = {}
    for seat in pool:
        groups.setdefault((seat.section_id, seat.row if seat.position is not None else None), []).append(seat)
    reserved = [g for (_, row), g in groups.items() if g[0].position is not None]
    for group in reserved:  # side by side: consecutive map positions in one row
        for i in range(len(group) - quantity + 1):
            run = group[i:i + quantity]
            if run[-1].position - run[0].position == quantity - 1:  # type: ignore[operator]
                return run
    for group in groups.values():  # one row, or one general-admission section
        if len(group) >= quantity:
            return group[:quantity]
    return pool[:quantity]


async def offer_parked_seats(engine: AsyncEngine, show_id: uuid.UUID, *, offer_s: int, changes: ChangeSet) -> int:
    """Offers and releases the show's parked seats; adds what changed to `changes` once committed."""
    mine = ChangeSet()
    async with engine.begin() as conn:
        offers = await _offer_in_transaction(conn, show_id, offer_s, mine)
    changes.merge(mine)
    return offers


# Those waiting for a cancelled show are told (once: the entries end with it).
_END_WAITING = (
    "WITH ended AS (UPDATE waitlist_entries SET status = 'expired', ended_at = now() "
    "  WHERE show_id = :s AND status = 'waiting' RETURNING user_id) "
    "INSERT INTO outbox (topic, user_id, payload) SELECT DISTINCT 'notification', user_id, jsonb_build_object("
    "  'kind', 'SHOW_CANCELLED', 'showId', CAST(:s AS text), 'waitlist', true) FROM ended WHERE :tell")


async def _offer_in_transaction(conn: AsyncConnection, show_id: uuid.UUID, offer_s: int, changes: ChangeSet) -> int:
    await lock_show_for_change(conn, show_id)
    if not (await conn.execute(text(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(CAST(CAST(:s AS uuid) AS text), 13))"),
            {"s": show_id})).scalar():
        return 0  # another process is offering this show's seats right now
    show = (await conn.execute(text(
        "SELECT sh.currency, sh.max_tickets_per_user, sh.version_sequence, sh.status = 'cancelled' AS cancelled, "
        "  sh.status = 'scheduled' AND e.status = 'published' AND sh.starts_at > now() AS selling "
        "FROM shows sh JOIN events e ON e.id = sh.event_id WHERE sh.id = :s"), {"s": show_id})).one()
    entries: list[_Entry] = []
    if show.selling:
        entries = [_Entry(r.id, r.user_id, r.quantity, r.price_tier_id) for r in await conn.execute(text(
            "SELECT id, user_id, quantity, price_tier_id FROM waitlist_entries WHERE show_id = :s "
            "AND status = 'waiting' ORDER BY created_at, id LIMIT :n FOR UPDATE"),
            {"s": show_id, "n": ENTRIES_PER_ROUND})]
    else:  # cancelled, started or withdrawn: nobody can buy, so nobody waits any more
        await conn.execute(text(_END_WAITING), {"s": show_id, "tell": show.cancelled})
    users = sorted({e.user_id for e in entries})
    in_use = await _lock_fans(conn, show_id, users) if users else {}
    parked = [_Seat(r.id, r.section_id, r.position, r.row_label, r.price_cents, r.price_tier_id)
              for r in await conn.execute(text(
                  "SELECT ss.id, ss.section_id, ss.position, vs.row_label, ss.price_cents, sc.price_tier_id "
                  "FROM show_seats ss LEFT JOIN venue_seats vs ON vs.id = ss.venue_seat_id "
                  "LEFT JOIN show_sections sc ON sc.show_id = ss.show_id AND sc.section_id = ss.section_id "
                  "WHERE ss.show_id = :s AND ss.status = 'W' ORDER BY ss.id FOR UPDATE OF ss"), {"s": show_id})]
    free = {s.id: s for s in parked}
    offers = 0
    for entry in entries:
        if in_use.get(entry.user_id, 0) + entry.quantity > show.max_tickets_per_user:
            continue  # bought or holding elsewhere meanwhile: it may fit a later round
        seats = pick_seats((s for s in free.values() if entry.tier is None or s.tier == entry.tier),
                           entry.quantity)
        if seats is None:
            continue
        for seat in seats:
            del free[seat.id]
        in_use[entry.user_id] = in_use.get(entry.user_id, 0) + entry.quantity
        await _offer(conn, show_id, show, entry, seats, offer_s, changes)
        offers += 1
    if free:
        await conn.execute(text("SELECT set_config('boxoffice.waitlist_release', 'on', true)"))
        await _move(conn, show_id, show.version_sequence, sorted(free), "status = 'A'", {}, "A", changes)
    return offers


async def _lock_fans(conn: AsyncConnection, show_id: uuid.UUID, users: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The fans' per-show locks in key order (booking/inventory/holds.py), then what each has already."""
    await conn.execute(text(
        "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT "
        f"{fan_lock_key('u', 'CAST(:s AS uuid)')} AS k "
        "FROM unnest(CAST(:u AS uuid[])) u ORDER BY 1) keys"), {"s": show_id, "u": users})
    rows = await conn.execute(text(
        f"SELECT u, {tickets_in_use('u', ':s')} AS in_use FROM unnest(CAST(:u AS uuid[])) u"),
        {"s": show_id, "u": users})
    return {r.u: int(r.in_use) for r in rows}


async def _offer(conn: AsyncConnection, show_id: uuid.UUID, show: Any, entry: _Entry, seats: list[_Seat],
                 offer_s: int, changes: ChangeSet) -> None:
    hold_id = uuid.uuid4()
    seat_ids = [s.id for s in seats if s.position is not None]
    unit_ids = [s.id for s in seats if s.position is None]
    lines: dict[uuid.UUID, list[int]] = {}
    for s in seats:
        if s.position is None:
            lines.setdefault(s.section_id, []).append(s.price_cents)
    ga_lines = [{"sectionId": str(section), "quantity": len(prices), "priceCents": prices[0]}
                for section, prices in lines.items()]
    await conn.execute(text(
        "INSERT INTO holds (id, user_id, show_id, expires_at, idempotency_key, request_hash, seat_ids, unit_ids, "
        "ga_lines, ticket_count, total_cents, currency) VALUES (:h, :u, :s, now() + make_interval(secs => :ttl), "
        ":key, 'waitlist-offer', :seats, :units, CAST(:lines AS jsonb), :n, :total, :cur)"),
        {"h": hold_id, "u": entry.user_id, "s": show_id, "ttl": offer_s, "key": f"{OFFER_KEY_PREFIX}{entry.id}:{hold_id}",
         "seats": seat_ids, "units": unit_ids, "lines": json.dumps(ga_lines), "n": len(seats),
         "total": sum(s.price_cents for s in seats), "cur": show.currency})
    # 'infinity': a lapsed offer is not open sale's to claim; the sweeper ends it and passes it on.
    await _move(conn, show_id, show.version_sequence, [s.id for s in seats], "status = 'H', hold_id = :h, "
                "hold_expires_at = 'infinity', order_id = NULL", {"h": hold_id}, "H", changes)
    await conn.execute(text(
        "UPDATE waitlist_entries SET status = 'offered', offer_hold_id = :h, offered_at = now() WHERE id = :e"),
        {"h": hold_id, "e": entry.id})
    # Told through the outbox, in this transaction: the notification exists iff the offer does.
    await conn.execute(text(
        "INSERT INTO outbox (topic, user_id, payload) VALUES ('notification', :u, jsonb_build_object("
        "'kind', 'WAITLIST_OFFER', 'holdId', CAST(CAST(:h AS uuid) AS text), "
        "'showId', CAST(CAST(:s AS uuid) AS text), 'entryId', CAST(CAST(:e AS uuid) AS text), 'offerMinutes', CAST(:m AS int)))"),
        {"u": entry.user_id, "h": hold_id, "s": show_id, "e": entry.id, "m": max(1, round(offer_s / 60))})


async def _move(conn: AsyncConnection, show_id: uuid.UUID, sequence: str, ids: list[int], set_sql: str,
                params: dict[str, Any], shown_as: str, changes: ChangeSet) -> None:
    """Parked seats (locked above) to their next state, each with a fresh version, published as `shown_as`."""
    rows = await conn.execute(text(
        f"UPDATE show_seats ss SET {set_sql}, version = nextval(CAST(:seq AS regclass)) "
        "WHERE ss.show_id = :show AND ss.id = ANY(:ids) AND ss.status = 'W' "
        "RETURNING ss.id, ss.section_id, ss.version, ss.position IS NULL AS ga"),
        {**params, "show": show_id, "ids": ids, "seq": sequence})
    for r in rows:
        changes.add(show_id, SeatChange(r.id, r.section_id, shown_as, r.version, r.ga))
