"""Seat holds: the one place seats go from available to held and back.

The invariant: a seat (or GA place) has at most one owner, an active hold or an order.
Each claim is one short transaction of conditional UPDATEs on the seat rows; reserved seats
are locked in primary-key order first (no deadlocks between overlapping multi-seat holds),
and a seat whose hold has expired counts as available at once, sweeper or not.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from ...db import reading
from . import ga
from ..catalog.browse import can_see_event, get_show
from ..errors import (BookingError, IdempotencyConflict, InvalidInput, LimitExceeded, NotFound,
                     NotOnSale, RateLimited, SeatsUnavailable, ShowCancelled, Unauthenticated)
from .hold_batch import BatchedHold, HoldBatcher, batchable
from ..records import ChangeSet, GALine, HoldRecord, SeatChange, ShowRecord, Viewer
from .seatmap import SHOW_LOCK_KEY

MAX_KEY_LENGTH = 200
# The keys of holds the server makes for a fan (booking/waitlist/offers.py; the trigger of migration
# 0014 and the notifications tell them by it): a fan's own key never starts so.
OFFER_KEY_PREFIX = "waitlist-offer:"
GA_ATTEMPTS = 5
AVAILABLE = "(status = 'A' OR (status = 'H' AND hold_expires_at <= now()))"

AdmissionCheck = Callable[[ShowRecord, Viewer, str | None], Awaitable[None]]


@dataclass(frozen=True)
class HoldRequest:
    show_id: uuid.UUID
    seat_ids: list[str]
    general_admission: list[tuple[str, int]]
    idempotency_key: str
    admission_token: str | None = None


@dataclass(frozen=True)
class _Parsed:
    seat_ids: list[int]
    ga: list[tuple[uuid.UUID, int]]
    count: int
    request_hash: str


def check_fan_key(key: str) -> None:
    """A hold's idempotency key as a fan may choose it."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput(f"idempotencyKey has 1 to {MAX_KEY_LENGTH} characters.", field="idempotencyKey")
    if key.startswith(OFFER_KEY_PREFIX):  # else a fan's hold would pass for a waitlist offer
        raise InvalidInput(f"An idempotencyKey may not start with {OFFER_KEY_PREFIX!r}.", field="idempotencyKey")


def _parse(req: HoldRequest) -> _Parsed:
    check_fan_key(req.idempotency_key)
    if len(req.seat_ids) > 100:  # a show's per-fan limit is at most 100 (catalog/organize.py)
        raise InvalidInput("Too many seats in one request (100 at most).", field="seatIds")
    if len(req.general_admission) > 20:
        raise InvalidInput("Too many sections in one request (20 at most).", field="generalAdmission")
    try:
        seat_ids = [int(s) for s in req.seat_ids]
    except ValueError:
        raise InvalidInput("Unknown seat id.", field="seatIds") from None
    if any(not 0 < s < 2**63 for s in seat_ids):  # the bigint column's range: no seat has any other id
        raise InvalidInput("Unknown seat id.", field="seatIds")
    if len(set(seat_ids)) != len(seat_ids):
        raise InvalidInput("A seat is listed twice.", field="seatIds")
    lines: list[tuple[uuid.UUID, int]] = []
    for section_id, quantity in req.general_admission:
        try:
            sid = uuid.UUID(section_id)
        except ValueError:
            raise InvalidInput("Unknown section id.", field="generalAdmission.sectionId") from None
        if quantity < 1:
            raise InvalidInput("A quantity is at least 1.", field="generalAdmission.quantity")
        lines.append((sid, quantity))
    if len({s for s, _ in lines}) != len(lines):
        raise InvalidInput("A section is listed twice.", field="generalAdmission")
    count = len(seat_ids) + sum(q for _, q in lines)
    if count == 0:
        raise InvalidInput("Ask for at least one seat or place.", field="seatIds")
    return _Parsed(seat_ids, lines, count, hashlib.sha256(_canonical(req.show_id, seat_ids, lines)).hexdigest())


def _canonical(show_id: uuid.UUID, seat_ids: list[int], lines: list[tuple[uuid.UUID, int]]) -> bytes:
    """What request hashes are taken of (stored with each hold, so it never changes). Seats only,
    the common case, is written out by hand: the stdlib encoder cost 7 % of a fast-path hold."""
    if not lines:
        return f'{{"show": "{show_id}", "seats": [{", ".join(map(str, sorted(seat_ids)))}], "ga": []}}'.encode()
    return json.dumps({"show": str(show_id), "seats": sorted(seat_ids),
                       "ga": sorted((str(s), q) for s, q in lines)}).encode()


def _hold(r: Any) -> HoldRecord:
    status = r.status
    if status == "active" and r.expires_at <= datetime.now(timezone.utc):
        status = "expired"
    ga_lines = _json(r.ga_lines)
    lines = tuple(GALine(uuid.UUID(g["sectionId"]), g["quantity"], g["priceCents"]) for g in ga_lines)
    return HoldRecord(id=r.id, user_id=r.user_id, show_id=r.show_id, status=status, expires_at=r.expires_at,
                      seat_ids=tuple(r.seat_ids), general_admission=lines, ticket_count=r.ticket_count,
                      total_cents=r.total_cents, currency=r.currency, created_at=r.created_at)


_HOLD_COLS = ("id, user_id, show_id, status, expires_at, seat_ids, ga_lines, ticket_count, total_cents, currency, "
              "created_at, request_hash")


async def get_holds(engine: AsyncEngine, ids: list[uuid.UUID]) -> dict[uuid.UUID, HoldRecord]:
    async with reading(engine) as conn:
        rows = (await conn.execute(text(f"SELECT {_HOLD_COLS} FROM holds WHERE id = ANY(:ids)"), {"ids": ids})).all()
    return {r.id: _hold(r) for r in rows}


def check_on_sale(show: ShowRecord, now: datetime) -> None:
    if show.status == "cancelled":
        raise ShowCancelled("This show was cancelled.", field="showId")
    if show.event_status != "published":
        raise NotOnSale("This show is not on sale.")
    if show.on_sale_at is not None and now < show.on_sale_at:
        raise NotOnSale(f"Sales open at {show.on_sale_at.isoformat()}.")
    if now >= show.starts_at:
        raise NotOnSale("This show has started.")


async def hold_seats(engine: AsyncEngine, viewer: Viewer | None, req: HoldRequest, *,
                     admission: AdmissionCheck | None = None, show: ShowRecord | None = None,
                     batcher: HoldBatcher | None = None) -> tuple[HoldRecord, ChangeSet]:
    """`show` may come from a short-lived cache: it is settings, not inventory. With a `batcher`,
    reserved-seat holds share statements with concurrent ones (booking/inventory/hold_batch.py)."""
    if viewer is None:
        raise Unauthenticated("Sign in to hold seats.")
    parsed = _parse(req)
    try:
        if show is None or show.id != req.show_id:
            show = await get_show(engine, req.show_id)
        if show is None or not can_see_event(viewer, show.event_status, show.organizer_id):
            # A draft is its organizer's secret: to anyone else it looks exactly like no show at all.
            raise NotFound("No such show.", field="showId")
        if not parsed.ga:
            return await _hold_reserved(engine, viewer, show, req, parsed, admission, batcher)
        for attempt in range(GA_ATTEMPTS):
            try:
                return await _hold_once(engine, viewer, show, req, parsed, admission)
            except ga.PlacesBusy:
                await asyncio.sleep(0.005 * (attempt + 1))
    except PoolTimeout:  # every connection busy for the pool's timeout: overloaded, not broken
        raise RateLimited("The server is busy; try again in a moment.", retry_after_s=1) from None
    raise SeatsUnavailable("Those places are being taken right now; try again in a moment.", [])


def tickets_in_use(user: str, show: str) -> str:
    """SQL for what counts toward a fan's per-show limit: the tickets of their live holds and of their
    confirmed orders. `user` and `show` are the statement's expressions for them (placeholders or
    columns); every check of the limit (holdSeats, waitlist offers, resale holds) counts this."""
    return (f"COALESCE((SELECT sum(CASE WHEN expires_at > now() THEN ticket_count END) FROM holds "
            f"WHERE user_id = {user} AND show_id = {show} AND status = 'active'), 0) + COALESCE((SELECT "
            f"sum(ticket_count) FROM orders WHERE user_id = {user} AND show_id = {show} AND status = 'confirmed'), 0)")


def fan_lock_key(user: str, show: str) -> str:
    """SQL for the key of a fan's per-show advisory lock; `user` and `show` are uuid expressions.
    Whatever checks the per-fan limit and then adds to it takes this lock first, so two such
    requests of one fan take turns (hold_reserved_seats() in migration 0003 computes the same key)."""
    return f"hashtextextended(CAST({user} AS text) || CAST({show} AS text), 11)"


# Under the locks, in one round trip: an earlier hold with this key, the places the user already
# has for the show, and the expiry (the database's clock, the one every expiry check uses).
_LOCK = (f"SELECT set_config('synchronous_commit', 'off', true), "
         f"pg_advisory_xact_lock_shared({SHOW_LOCK_KEY.replace(':show_id', '$1')}), "
         f"pg_advisory_xact_lock({fan_lock_key('$2::uuid', '$1::uuid')})")
_BEFORE_CLAIM = (
    "SELECT now() + make_interval(secs => $1) AS new_expires_at, "
    "(SELECT status = 'cancelled' FROM shows WHERE id = $3) AS show_cancelled, "
    f"{tickets_in_use('$2', '$3')} AS in_use, "
    "h.id, h.user_id, h.show_id, h.status, h.expires_at, h.seat_ids, h.ga_lines, h.ticket_count, h.total_cents, "
    "h.currency, h.created_at, h.request_hash FROM (SELECT 1) AS one "
    "LEFT JOIN holds h ON h.user_id = $2 AND h.idempotency_key = $4")
_INSERT_HOLD = (
    "INSERT INTO holds (id, user_id, show_id, expires_at, idempotency_key, request_hash, seat_ids, unit_ids, "
    "ga_lines, ticket_count, total_cents, currency) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, "
    f"$12) RETURNING {_HOLD_COLS}")


async def _hold_once(engine: AsyncEngine, viewer: Viewer, show: ShowRecord, req: HoldRequest, parsed: _Parsed,
                     admission: AdmissionCheck | None) -> tuple[HoldRecord, ChangeSet]:
    hold_id = uuid.uuid4()
    changes = ChangeSet()
    async with engine.connect() as conn:
        # Straight to asyncpg on a pooled connection, which also owns the transaction (statements
        # prepared and cached per connection): SQLAlchemy's per-statement work was a third of a
        # hold's CPU. Nothing on this connection goes through SQLAlchemy until it is returned.
        db = (await conn.get_raw_connection()).driver_connection
        assert db is not None
        async with db.transaction():
            return await _hold_in_transaction(db, viewer, show, req, parsed, admission, hold_id, changes)


async def _hold_in_transaction(db: Any, viewer: Viewer, show: ShowRecord, req: HoldRequest, parsed: _Parsed,
                               admission: AdmissionCheck | None, hold_id: uuid.UUID,
                               changes: ChangeSet) -> tuple[HoldRecord, ChangeSet]:
    # A lost hold after a crash only expires early: durability is not worth the fsync here.
    # The per-user lock makes the limit check and a concurrent twin with the same key exact.
    await db.fetchrow(_LOCK, show.id, viewer.user_id)
    state = _Row(await db.fetchrow(_BEFORE_CLAIM, float(show.hold_ttl_seconds), viewer.user_id, show.id,
                                   req.idempotency_key))
    if state.id is not None:  # same key: the same hold back, whatever happened since
        if state.request_hash != parsed.request_hash:
            raise IdempotencyConflict("That idempotency key was used for another request.",
                                      field="idempotencyKey")
        return _hold(state), changes
    if state.show_cancelled:  # read under the show's lock: a cancellation is seen whatever the cache says
        raise ShowCancelled("This show was cancelled.", field="showId")
    check_on_sale(show, datetime.now(timezone.utc))
    if parsed.count > show.max_tickets_per_user or state.in_use + parsed.count > show.max_tickets_per_user:
        raise LimitExceeded(f"At most {show.max_tickets_per_user} tickets per person for this show.")
    if show.waiting_room_enabled and admission is not None:
        await admission(show, viewer, req.admission_token)
    expires_at = state.new_expires_at
    total = 0
    if parsed.seat_ids:
        total += await _claim_seats(db, show, hold_id, expires_at, parsed.seat_ids, changes)
    lines: list[dict[str, Any]] = []
    unit_ids: list[int] = []
    for section_id, quantity in parsed.ga:
        claimed, price = await ga.claim_places(db, show, section_id, quantity, hold_id, expires_at, changes)
        unit_ids.extend(claimed)
        total += price * quantity
        lines.append({"sectionId": str(section_id), "quantity": quantity, "priceCents": price})
    row = _Row(await db.fetchrow(_INSERT_HOLD, hold_id, viewer.user_id, show.id, expires_at, req.idempotency_key,
                                 parsed.request_hash, parsed.seat_ids, unit_ids, json.dumps(lines), parsed.count,
                                 total, show.currency))
    return _hold(row), changes


_HOLD_RESERVED = "SELECT * FROM hold_reserved_seats($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"


async def _hold_reserved(engine: AsyncEngine, viewer: Viewer, show: ShowRecord, req: HoldRequest, parsed: _Parsed,
                         admission: AdmissionCheck | None,
                         batcher: HoldBatcher | None) -> tuple[HoldRecord, ChangeSet]:
    """Reserved seats only: the whole hold in one statement (migration 0003), so row locks on
    hot seats last microseconds whatever this process is busy with."""
    refusal: BookingError | None = None  # decided here, applied after an earlier same-key hold
    try:
        check_on_sale(show, datetime.now(timezone.utc))
        if parsed.count > show.max_tickets_per_user:
            raise LimitExceeded(f"At most {show.max_tickets_per_user} tickets per person for this show.")
        if show.waiting_room_enabled and admission is not None:
            await admission(show, viewer, req.admission_token)
    except BookingError as err:
        refusal = err
    hold_id = uuid.uuid4()
    batched = BatchedHold(hold_id, viewer.user_id, parsed.seat_ids, req.idempotency_key, parsed.request_hash,
                          refusal is not None)
    if batcher is not None and batchable(batched):
        result = await batcher.hold(show, batched)
    else:
        async with engine.connect() as conn:
            db = (await conn.get_raw_connection()).driver_connection
            assert db is not None
            result = await db.fetchrow(_HOLD_RESERVED, hold_id, viewer.user_id, show.id, parsed.seat_ids,
                                       req.idempotency_key, parsed.request_hash, show.hold_ttl_seconds,
                                       show.max_tickets_per_user, show.version_sequence, show.currency,
                                       refusal is not None)
    outcome, changes = result["outcome"], ChangeSet()
    if outcome == "existing":
        existing = _hold_from_json(result["hold"])
        if existing.request_hash != parsed.request_hash:
            raise IdempotencyConflict("That idempotency key was used for another request.", field="idempotencyKey")
        return _hold(existing), changes
    if outcome == "refused":  # refused here, or the show is cancelled (migration 0012_refunds)
        raise refusal if refusal is not None else ShowCancelled("This show was cancelled.", field="showId")
    if outcome == "limit":
        raise LimitExceeded(f"At most {show.max_tickets_per_user} tickets per person for this show.")
    if outcome == "invalid":
        raise InvalidInput("Some seats are not seats of this show.", field="seatIds")
    if outcome == "unavailable":
        taken = [str(s) for s in result["taken"]]
        raise SeatsUnavailable(f"{len(taken)} of these seats are no longer available.", taken)
    for seat_id, section_id, version, _ in _json(result["claimed"]):
        changes.add(show.id, SeatChange(seat_id, uuid.UUID(section_id), "H", version, False))
    return _hold(_hold_from_json(result["hold"])), changes


def _json(value: Any) -> Any:
    """json values come decoded on connections SQLAlchemy set up, as text on plain asyncpg ones."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _hold_from_json(value: Any) -> Any:
    d = dict(_json(value))
    for key in ("id", "user_id", "show_id"):
        d[key] = uuid.UUID(d[key])
    for key in ("expires_at", "created_at"):
        d[key] = datetime.fromisoformat(d[key])
    return _Attrs(d)


class _Attrs:
    """Attribute access to a dict, like SQLAlchemy rows."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


class _Row:
    """Attribute access to an asyncpg record, like SQLAlchemy rows."""

    __slots__ = ("_record",)

    def __init__(self, record: Any) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        return self._record[name]


# One round trip: lock the requested rows in key order (no deadlocks between overlapping
# multi-seat holds), then claim those that are free; the caller rolls back unless all were.
_CLAIM_SEATS = (
    "WITH locked AS (SELECT id, position, status, hold_expires_at FROM show_seats "
    "  WHERE show_id = $1 AND id = ANY($2::bigint[]) ORDER BY id FOR UPDATE), "
    "claimed AS (UPDATE show_seats ss SET status = 'H', hold_id = $3, hold_expires_at = $4, order_id = NULL, "
    "  version = nextval($5::regclass) FROM locked l WHERE ss.show_id = $1 AND ss.id = l.id "
    "  AND l.position IS NOT NULL AND (l.status = 'A' OR (l.status = 'H' AND l.hold_expires_at <= now())) "
    "  RETURNING ss.id, ss.section_id, ss.version, ss.price_cents) "
    "SELECT (SELECT count(*) FROM locked) AS found, "
    "(SELECT count(*) FROM locked WHERE position IS NULL) AS not_seats, "
    "(SELECT COALESCE(json_agg(json_build_array(id, section_id, version, price_cents)), '[]') FROM claimed) "
    "AS claimed")


async def _claim_seats(db: Any, show: ShowRecord, hold_id: uuid.UUID, expires_at: datetime,
                       seat_ids: list[int], changes: ChangeSet) -> int:
    result = _Row(await db.fetchrow(_CLAIM_SEATS, show.id, seat_ids, hold_id, expires_at, show.version_sequence))
    if result.found != len(seat_ids) or result.not_seats:
        raise InvalidInput("Some seats are not seats of this show.", field="seatIds")
    claimed = _json(result.claimed)
    if len(claimed) != len(seat_ids):
        taken = sorted(set(seat_ids) - {c[0] for c in claimed})
        raise SeatsUnavailable(f"{len(taken)} of these seats are no longer available.", [str(s) for s in taken])
    for seat_id, section_id, version, _ in claimed:
        changes.add(show.id, SeatChange(seat_id, uuid.UUID(section_id), "H", version, False))
    return sum(c[3] for c in claimed)
