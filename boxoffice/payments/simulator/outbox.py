"""Events and their webhook deliveries: a transactional outbox in PostgreSQL.

An event and its delivery rows are written in the same transaction as the state
change that caused them, so a crash can neither lose an event nor send one for a
change that rolled back. Any process's worker may deliver any pending row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .objects import Json, event_json, new_id, now_unix
from .schema import SCHEMA


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
                 f"VALUES (:id, :type, :created, :object_id, :payload)")


class WebhookOutbox:
    def __init__(self, engine: AsyncEngine, *, webhook_url: str | None) -> None:
        self._engine = engine
        self.webhook_url = webhook_url

    async def record_event(self, conn: AsyncConnection, event_type: str, obj: Json,
                           *, group_key: str | None) -> str:
        """Store the event and queue its delivery (held back or doubled as the fault switches say),
        inside the caller's transaction, in one statement."""
        event_id, created = new_id("evt"), now_unix()
        payload = json.dumps(event_json(event_id, event_type, obj, created), indent=2)
        event = {"id": event_id, "type": event_type, "created": created, "object_id": obj.get("id"),
                 "payload": payload}
        if self.webhook_url is None:
            await conn.execute(text(_INSERT_EVENT), event)
            return event_id
        await conn.execute(text(
            f"""WITH event AS ({_INSERT_EVENT} RETURNING id)
                INSERT INTO {SCHEMA}.webhook_deliveries (event_id, url, group_key, status)
                SELECT event.id, :url, :group_key, CASE WHEN f.reorder_webhooks THEN 'held' ELSE 'pending' END
                FROM event, {SCHEMA}.faults f,
                     generate_series(1, CASE WHEN f.duplicate_webhooks THEN 2 ELSE 1 END)
                WHERE f.id = 1"""),
            {**event, "url": self.webhook_url, "group_key": group_key})
        return event_id

    async def release_held(self) -> int:
        """Release reorder-held deliveries newest first, once the switch is off or
        the batch has been quiet for reorder_window_ms."""
        async with self._engine.begin() as conn:
            result = await conn.execute(text(
                f"""UPDATE {SCHEMA}.webhook_deliveries
                    SET status = 'pending', seq = -seq, next_attempt_at = now()
                    WHERE status = 'held' AND (
                      SELECT NOT f.reorder_webhooks
                             OR (SELECT max(h.created_at) FROM {SCHEMA}.webhook_deliveries h
                                 WHERE h.status = 'held')
                                < clock_timestamp() - make_interval(secs => f.reorder_window_ms / 1000.0)
                      FROM {SCHEMA}.faults f WHERE f.id = 1)"""))
            return result.rowcount

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
        async with self._engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('stripe_sim.claim ' || :url))"),
                               {"url": self.webhook_url})
            rows = (await conn.execute(text(
                f"""WITH due AS (
                      SELECT id, next_attempt_at AS due_at, seq
                      FROM {SCHEMA}.webhook_deliveries
                      WHERE status = 'pending' AND url = :url AND next_attempt_at <= now()
                      ORDER BY next_attempt_at, seq
                      LIMIT :limit
                      FOR UPDATE SKIP LOCKED)
                    UPDATE {SCHEMA}.webhook_deliveries d
                    SET attempts = d.attempts + 1,
                        next_attempt_at = now() + make_interval(secs => :lease)
                    FROM due, {SCHEMA}.events e
                    WHERE d.id = due.id AND e.id = d.event_id
                    RETURNING d.id, d.event_id, d.url, d.group_key, d.attempts, e.payload,
                              due.due_at, due.seq"""),
                {"limit": limit, "lease": float(lease_s), "url": self.webhook_url})).all()
        claimed = [ClaimedDelivery(**dict(r._mapping)) for r in rows]
        claimed.sort(key=lambda d: (d.due_at, d.seq))
        return claimed

    async def mark_delivered(self, delivery_id: int, http_status: int) -> None:
        await self._by_itself(
            f"UPDATE {SCHEMA}.webhook_deliveries SET status = 'delivered', "
            f"delivered_at = now(), last_status = :status, last_error = NULL WHERE id = :id",
            {"id": delivery_id, "status": http_status})

    async def mark_failed(self, delivery_id: int, *, retry_in_s: float,
                          http_status: int | None, error: str) -> None:
        await self._by_itself(
            f"UPDATE {SCHEMA}.webhook_deliveries SET "
            f"next_attempt_at = now() + make_interval(secs => :delay), "
            f"last_status = :status, last_error = :error "
            f"WHERE id = :id AND status = 'pending'",
            {"id": delivery_id, "delay": float(retry_in_s), "status": http_status,
             "error": error[:500]})

    async def _by_itself(self, sql: str, params: dict[str, object]) -> None:
        """One statement in autocommit, its own transaction: no BEGIN and COMMIT round trips."""
        async with self._engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql), params)

    async def pending_count(self) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(text(
                f"SELECT count(*) FROM {SCHEMA}.webhook_deliveries "
                f"WHERE status IN ('pending', 'held')"))).scalar_one())

    async def prune(self, *, keep_delivered_s: float = 7 * 24 * 3600) -> None:
        """Forget idempotency keys past Stripe's 24 h, long-delivered rows, and deliveries Stripe
        would have given up on (it retries for 3 days), such as those of an endpoint no longer served."""
        async with self._engine.begin() as conn:
            await conn.execute(text(
                f"DELETE FROM {SCHEMA}.idempotency_keys "
                f"WHERE created_at < now() - interval '24 hours'"))
            await conn.execute(text(
                f"DELETE FROM {SCHEMA}.webhook_deliveries WHERE status = 'delivered' "
                f"AND delivered_at < now() - make_interval(secs => :keep)"),
                {"keep": float(keep_delivered_s)})
            await conn.execute(text(
                f"DELETE FROM {SCHEMA}.webhook_deliveries WHERE status <> 'delivered' "
                f"AND created_at < now() - interval '3 days'"))
