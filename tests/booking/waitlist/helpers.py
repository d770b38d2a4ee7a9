"""A sold-out show, fans, and waiting on the offer job (as every server process runs it) to settle."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.booking.catalog import organize
from boxoffice.booking.checkout.orders import create_order
from boxoffice.booking.checkout.tickets import signed_tickets
from boxoffice.booking.inventory.hold_release import release_expired_holds
from boxoffice.booking.inventory.holds import HoldRequest, hold_seats
from boxoffice.booking.pg_calls import driver
from boxoffice.booking.records import HoldRecord, Viewer
from boxoffice.booking.waitlist.offers import offer_round
from booking.fixtures_db import make_show
from support import wait_until

OFFER_S = 600


async def tiered_show(engine: AsyncEngine, *, seats: int, ga: int, tiers: bool = False, max_tickets: int = 8):
    """Row A of `seats` seats in section Hot, `ga` places in Floor; one tier for both, or one each.
    Returns (show, seat ids in map order, Floor's section id, {tier name: tier id})."""
    price_tiers = ([organize.TierSpec("Seats", 5000, ["Hot"]), organize.TierSpec("Floor", 2000, ["Floor"])]
                   if tiers else None)
    show, seat_ids, floor = await make_show(engine, seats=seats, ga=ga, max_tickets=max_tickets,
                                            price_tiers=price_tiers)
    async with engine.connect() as conn:
        tier_ids = {r.name: r.id for r in await conn.execute(
            text("SELECT id, name FROM price_tiers WHERE show_id = :s"), {"s": show.id})}
    return show, seat_ids, floor, tier_ids


async def hold(engine: AsyncEngine, fan: Viewer, show_id: uuid.UUID, seats: list[str],
               ga: list[tuple[str, int]] | None = None) -> HoldRecord:
    record, _ = await hold_seats(engine, fan, HoldRequest(show_id=show_id, seat_ids=seats,
                                                          general_admission=ga or [],
                                                          idempotency_key=uuid.uuid4().hex))
    return record


async def buy_offer(engine: AsyncEngine, fan: Viewer, hold_id: uuid.UUID) -> None:
    """The fan pays for the offer: its order, then the settlement a captured payment makes
    (settle_intent(), booking/checkout/payments.py), without Stripe: seats sold, tickets issued,
    the hold converted, all in one transaction, as a real purchase leaves the database."""
    order = await create_order(engine, fan, hold_id, uuid.uuid4().hex)
    tickets, barcodes = signed_tickets("waitlist-test-secret", order.show_id, order.ticket_count)
    async with driver(engine) as db:
        row = await db.fetchrow("SELECT outcome FROM settle_intent($1, $2, $3, $4, $5, $6, $7)",
                                f"pi_waitlist_{uuid.uuid4().hex}", order.id, order.total_cents, order.currency,
                                order.show_id, tickets, barcodes)
    assert row["outcome"] == "sold", row["outcome"]


async def settle(engine: AsyncEngine, show_id: uuid.UUID, *, timeout_s: float = 15.0) -> None:
    """Runs offer rounds until the show has no parked seat (another process may win a round first)."""
    async with asyncio.timeout(timeout_s):
        while True:
            await offer_round(engine, offer_s=OFFER_S)
            if not await parked(engine, show_id):
                return
            await asyncio.sleep(0.02)


async def sweep(engine: AsyncEngine, *lapsed: uuid.UUID) -> None:
    """Ends lapsed holds now. A server of another test sweeping the same database may be ending one
    of `lapsed` at this moment (SKIP LOCKED then skips it here): waits until each has ended."""
    async def swept() -> bool:
        while (await release_expired_holds(engine))[0]:
            pass
        async with engine.connect() as conn:
            return not (await conn.execute(text("SELECT count(*) FROM holds WHERE id = ANY(:h) AND status = 'active'"),
                                           {"h": list(lapsed)})).scalar()
    await wait_until(swept, f"the lapsed holds {lapsed} ended")


async def parked(engine: AsyncEngine, show_id: uuid.UUID) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT id FROM show_seats WHERE show_id = :s AND status = 'W' ORDER BY id"), {"s": show_id})).scalars())


async def lapse(engine: AsyncEngine, hold_id: uuid.UUID) -> None:
    """As if the hold's time had run out (holds.expires_at is what the sweeper and checkout read)."""
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = :h"),
                           {"h": hold_id})
        await conn.execute(text("UPDATE show_seats SET hold_expires_at = LEAST(hold_expires_at, now() - interval "
                                "'1 second') WHERE hold_id = :h AND hold_expires_at <> 'infinity'"), {"h": hold_id})


async def entry_state(engine: AsyncEngine, entry_id: uuid.UUID) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT w.status, w.offer_hold_id, h.seat_ids, h.unit_ids, h.ticket_count, h.status AS hold_status "
            "FROM waitlist_entries w LEFT JOIN holds h ON h.id = w.offer_hold_id WHERE w.id = :e"),
            {"e": entry_id})).one()


async def seat_statuses(engine: AsyncEngine, show_id: uuid.UUID) -> dict[int, str]:
    async with engine.connect() as conn:
        return {r.id: r.status for r in await conn.execute(
            text("SELECT id, status FROM show_seats WHERE show_id = :s"), {"s": show_id})}
