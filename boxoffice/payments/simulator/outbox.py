"""Events and their webhook deliveries: a transactional outbox in PostgreSQL.

An event and its delivery rows are written in the same transaction as the state
change that caused them, so a crash can neither lose an event nor send one for a
change that rolled back. Any process's worker may deliver any pending row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .objects import Json, event_json, new_id, now_unix
from .schema import SCHEMA

if TYPE_CHECKING:
    from .store import SimulatorStore


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    event_id: str
    url: str
    group_key: str | None
    attempts: int  # including the attempt about to be made
    payload: str
    due_at: datetime
    seq: int


_INSERT_EVENT = (f"INSERT INTO {SCHEMA}.events (id, type, created, object_id, payload) "
                 f"VALUES ($1, $2, $3, $4, $5)")
_INSERT_EVENT_AND_DELIVERIES = f"""WITH event AS ({_INSERT_EVENT} RETURNING id)
    INSERT INTO {SCHEMA}.webhook_deliveries (event_id, url, group_key, status)
    SELECT event.id, $6, $7, CASE WHEN f.reorder_webhooks THEN 'held' ELSE 'pending' END
    FROM event, {SCHEMA}.faults f, generate_series(1, CASE WHEN f.duplicate_webhooks THEN 2 ELSE 1 END)
    WHERE f.id = 1"""
_MARK_DELIVERED = (f"UPDATE {SCHEMA}.webhook_deliveries w SET status = 'delivered', delivered_at = now(), "
                   f"last_status = d.http_status, last_error = NULL "
                   f"FROM unnest($1::bigint[], $2::int[]) AS d(id, http_status) WHERE w.id = d.id")
_MARK_FAILED = (f"UPDATE {SCHEMA}.webhook_deliveries SET next_attempt_at = now() + make_interval(secs => $2), "
                f"last_status = $3, last_error = $4 WHERE id = $1 AND status = 'pending'")


class WebhookOutbox:
    def __init__(self, store: SimulatorStore, *, webhook_url: str | None) -> None:
        self._store = store
        self.webhook_url = webhook_url

    async def record_event(self, db: Any, event_type: str, obj: Json, *, group_key: str | None) -> str:
        """Store the event and queue its delivery (held back or doubled as the fault switches say),
        inside the caller's transaction, in one statement."""
        event_id, created = new_id("evt"), now_unix()
        payload = json.dumps(event_json(event_id, event_type, obj, created), indent=2)
        event = (event_id, event_type, created, obj.get("id"), payload)
        if self.webhook_url is None:
            await db.execute(_INSERT_EVENT, *event)
        else:
            await db.execute(_INSERT_EVENT_AND_DELIVERIES, *event, self.webhook_url, group_key)
        return event_id

    async def release_held(self) -> int:
        """Release reorder-held deliveries newest first, once the switch is off or
        the batch has been quiet for reorder_window_ms."""
        async with self._store.connection() as db:
            status = await db.execute(
                f"""UPDATE {SCHEMA}.webhook_deliveries
                    SET status = 'pending', seq = -seq, next_attempt_at = now()
                    WHERE status = 'held' AND (
                      SELECT NOT f.reorder_webhooks
                             OR (SELECT max(h.created_at) FROM {SCHEMA}.webhook_deliveries h
                                 WHERE h.status = 'held')
                                < clock_timestamp() - make_interval(secs => f.reorder_window_ms / 1000.0)
                      FROM {SCHEMA}.faults f WHERE f.id = 1)""")
            return int(status.split()[-1])  # "UPDATE n"

    async def claim_due(self, *, limit: int, lease_s: float) -> list[ClaimedDelivery]:
        """Lease due deliveries to this worker. SKIP LOCKED keeps concurrent workers
        off each other's rows; the lease (next_attempt_at pushed forward) makes a
        row due again if this process dies mid-delivery.

        A worker claims only its own endpoint's deliveries: it signs with that endpoint's
        secret, so a process configured for another endpoint (another deployment sharing the
        database, with another secret) would sign them wrongly and have them refused.

        Claims take turns (a transaction-scoped advisory lock per endpoint, held for
        milliseconds) so that the due events of one object land in one worker's batch, which
        sends them in order; racing claims could split a group between workers and deliver it
        in parallel."""
        if self.webhook_url is None:
            return []
        async with self._store.transaction() as db:
            await db.execute("SELECT pg_advisory_xact_lock(hashtext('stripe_sim.claim ' || $1))", self.webhook_url)
            rows = await db.fetch(
                f"""WITH due AS (
                      SELECT id, next_attempt_at AS due_at, seq
                      FROM {SCHEMA}.webhook_deliveries
                      WHERE status = 'pending' AND url = $1 AND next_attempt_at <= now()
                      ORDER BY next_attempt_at, seq
                      LIMIT $2
                      FOR UPDATE SKIP LOCKED)
                    UPDATE {SCHEMA}.webhook_deliveries d
                    SET attempts = d.attempts + 1,
                        next_attempt_at = now() + make_interval(secs => $3)
                    FROM due, {SCHEMA}.events e
                    WHERE d.id = due.id AND e.id = d.event_id
                    RETURNING d.id, d.event_id, d.url, d.group_key, d.attempts, e.payload,
                              due.due_at, due.seq""",
                self.webhook_url, limit, float(lease_s))
        claimed = [ClaimedDelivery(**dict(r)) for r in rows]
        claimed.sort(key=lambda d: (d.due_at, d.seq))
        return claimed

    async def mark_delivered(self, delivered: Sequence[tuple[int, int]]) -> None:
        """Deliveries answered 2xx, as (id, HTTP status): a batch's in one statement, its own transaction
        (one commit for the batch rather than one per event)."""
        if not delivered:
            return
        async with self._store.connection() as db:
            await db.execute(_MARK_DELIVERED, [d for d, _ in delivered], [s for _, s in delivered])

    async def mark_failed(self, delivery_id: int, *, retry_in_s: float,
                          http_status: int | None, error: str) -> None:
        async with self._store.connection() as db:
            await db.execute(_MARK_FAILED, delivery_id, float(retry_in_s), http_status, error[:500])

    async def pending_count(self) -> int:
        async with self._store.connection() as db:
            return int(await db.fetchval(f"SELECT count(*) FROM {SCHEMA}.webhook_deliveries "
                                         f"WHERE status IN ('pending', 'held')"))

    async def prune(self, *, keep_delivered_s: float = 7 * 24 * 3600) -> None:
        """Forget idempotency keys past Stripe's 24 h, long-delivered rows, and deliveries Stripe
        would have given up on (it retries for 3 days), such as those of an endpoint no longer served."""
        async with self._store.transaction() as db:
            await db.execute(f"DELETE FROM {SCHEMA}.idempotency_keys WHERE created_at < now() - interval '24 hours'")
            await db.execute(f"DELETE FROM {SCHEMA}.webhook_deliveries WHERE status = 'delivered' "
                             f"AND delivered_at < now() - make_interval(secs => $1)", float(keep_delivered_s))
            await db.execute(f"DELETE FROM {SCHEMA}.webhook_deliveries WHERE status <> 'delivered' "
                             f"AND created_at < now() - interval '3 days'")
