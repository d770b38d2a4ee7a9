"""SimulatorStore: all simulator state, in PostgreSQL (schema `stripe_sim`).

No state is kept in process memory, so every server process that mounts the
simulator answers the same way, and a restart loses nothing.

Statements go straight to asyncpg on the engine's pooled connections (`connection`,
`transaction`): the simulator stands in for another company's server on the box the benches
measure, and SQLAlchemy's per-statement work (building and caching each text clause, its
transaction's round trips through greenlets) was a third of its CPU per payment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ...db import pool_connection
from .faults import Faults, FaultSwitches, RequestFault
from .objects import ApiError, ApiResult, DisputeRecord, IntentRecord, RefundRecord, invalid_request
from .outbox import WebhookOutbox
from .schema import SCHEMA, ensure_schema

_INTENT_COLUMNS = tuple(f.name for f in fields(IntentRecord))
_REFUND_COLUMNS = tuple(f.name for f in fields(RefundRecord))
_DISPUTE_COLUMNS = tuple(f.name for f in fields(DisputeRecord))
_JSON_COLUMNS = frozenset({"metadata", "last_payment_error", "next_action"})

Db = Any  # an asyncpg connection (its json codecs set up by SQLAlchemy: JSON text in, decoded values out)
Work = Callable[[Db], Awaitable[ApiResult]]


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str  # the exact bytes sent, so a replay is verbatim
    replayed: bool = False


def encode_body(body: dict[str, Any]) -> str:
    return json.dumps(body, indent=2)


def _values(names: tuple[str, ...], record: object) -> list[Any]:
    values = [getattr(record, name) for name in names]
    return [json.dumps(v) if name in _JSON_COLUMNS and v is not None else v for name, v in zip(names, values)]


def _placeholders(names: tuple[str, ...]) -> list[str]:
    return [f"${i}::jsonb" if name in _JSON_COLUMNS else f"${i}" for i, name in enumerate(names, 1)]


def _insert(table: str, names: tuple[str, ...]) -> str:
    return f"INSERT INTO {SCHEMA}.{table} ({', '.join(names)}) VALUES ({', '.join(_placeholders(names))})"


_INSERT_INTENT = _insert("payment_intents", _INTENT_COLUMNS)
_SAVE_INTENT = (f"UPDATE {SCHEMA}.payment_intents SET "
                + ", ".join(f"{c} = {p}" for c, p in zip(_INTENT_COLUMNS, _placeholders(_INTENT_COLUMNS))
                            if c != "id") + " WHERE id = $1")
_LOAD_INTENT = f"SELECT {', '.join(_INTENT_COLUMNS)} FROM {SCHEMA}.payment_intents WHERE id = $1"
_LOAD_INTENT_BY_CHARGE = (f"SELECT {', '.join(_INTENT_COLUMNS)} FROM {SCHEMA}.payment_intents "
                          f"WHERE latest_charge = $1 AND status = 'succeeded' LIMIT 1")
_INSERT_REFUND = _insert("refunds", _REFUND_COLUMNS)
_LOAD_REFUND = f"SELECT {', '.join(_REFUND_COLUMNS)} FROM {SCHEMA}.refunds WHERE id = $1"
_INSERT_DISPUTE = _insert("disputes", _DISPUTE_COLUMNS)
_LOAD_DISPUTE = f"SELECT {', '.join(_DISPUTE_COLUMNS)} FROM {SCHEMA}.disputes WHERE id = $1"
_CLAIM_KEY = f"""INSERT INTO {SCHEMA}.idempotency_keys (api_key_hash, idempotency_key, fingerprint)
    VALUES ($1, $2, $3)
    ON CONFLICT (api_key_hash, idempotency_key) DO UPDATE
      SET fingerprint = EXCLUDED.fingerprint, created_at = now(), status_code = NULL, body = NULL
      WHERE {SCHEMA}.idempotency_keys.created_at < now() - interval '24 hours'
    RETURNING 1"""
_STORED_KEY = (f"SELECT fingerprint, status_code, body FROM {SCHEMA}.idempotency_keys "
               f"WHERE api_key_hash = $1 AND idempotency_key = $2")
_STORE_RESPONSE = (f"UPDATE {SCHEMA}.idempotency_keys SET status_code = $3, body = $4 "
                   f"WHERE api_key_hash = $1 AND idempotency_key = $2")


class SimulatorStore:
    def __init__(self, engine: AsyncEngine, *, webhook_url: str | None = None) -> None:
        self.engine = engine
        self.outbox = WebhookOutbox(self, webhook_url=webhook_url)
        self.faults = FaultSwitches(engine)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Db]:
        """A pooled connection's asyncpg connection; each statement on it is its own transaction
        (one left inside a transaction, cut short, is closed rather than pooled: db.pool_connection)."""
        async with pool_connection(self.engine) as db:
            yield db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Db]:
        """As `connection`, inside one transaction: committed on leaving, rolled back on an exception."""
        async with self.connection() as db, db.transaction():
            yield db

    async def ensure_schema(self) -> None:
        await ensure_schema(self.engine)

    # -- fault switches -------------------------------------------------------

    async def set_faults(self, **switches: Any) -> Faults:
        """Replace all switches; unnamed ones go back to their defaults (so no
        arguments resets everything)."""
        return await self.faults.set(Faults.from_json(switches))

    async def get_faults(self) -> Faults:
        return await self.faults.get()

    async def take_request_fault(self) -> tuple[RequestFault, Faults]:
        return await self.faults.take()

    # -- payment intents and refunds ------------------------------------------

    async def insert_intent(self, db: Db, intent: IntentRecord) -> None:
        await db.execute(_INSERT_INTENT, *_values(_INTENT_COLUMNS, intent))

    async def save_intent(self, db: Db, intent: IntentRecord) -> None:
        await db.execute(_SAVE_INTENT, *_values(_INTENT_COLUMNS, intent))

    async def load_intent(self, db: Db, intent_id: str, *, for_update: bool = False) -> IntentRecord | None:
        row = await db.fetchrow(_LOAD_INTENT + (" FOR UPDATE" if for_update else ""), intent_id)
        return IntentRecord(**dict(row)) if row is not None else None

    async def insert_refund(self, db: Db, refund: RefundRecord) -> None:
        await db.execute(_INSERT_REFUND, *_values(_REFUND_COLUMNS, refund))

    async def load_refund(self, db: Db, refund_id: str) -> RefundRecord | None:
        row = await db.fetchrow(_LOAD_REFUND, refund_id)
        return RefundRecord(**dict(row)) if row is not None else None

    async def load_intent_by_charge(self, db: Db, charge_id: str) -> IntentRecord | None:
        row = await db.fetchrow(_LOAD_INTENT_BY_CHARGE, charge_id)
        return IntentRecord(**dict(row)) if row is not None else None

    async def insert_dispute(self, db: Db, dispute: DisputeRecord) -> None:
        await db.execute(_INSERT_DISPUTE, *_values(_DISPUTE_COLUMNS, dispute))

    async def save_dispute_status(self, db: Db, dispute: DisputeRecord) -> None:
        await db.execute(f"UPDATE {SCHEMA}.disputes SET status = $2 WHERE id = $1", dispute.id, dispute.status)

    async def load_dispute(self, db: Db, dispute_id: str, *, for_update: bool = False) -> DisputeRecord | None:
        row = await db.fetchrow(_LOAD_DISPUTE + (" FOR UPDATE" if for_update else ""), dispute_id)
        return DisputeRecord(**dict(row)) if row is not None else None

    async def charge_disputed(self, db: Db, charge_id: str, *, unless_won: bool = False) -> bool:
        """Whether the charge has a dispute; `unless_won`: one that is open or lost (a charge whose
        dispute the merchant won can be refunded, as on Stripe)."""
        won = " AND status NOT IN ('won', 'warning_closed')" if unless_won else ""
        return await db.fetchval(f"SELECT 1 FROM {SCHEMA}.disputes WHERE charge = $1{won} LIMIT 1",
                                 charge_id) is not None

    async def count_intents(self, *, metadata: dict[str, str] | None = None) -> int:
        """For tests and diagnostics: how many intents match the metadata."""
        async with self.connection() as db:
            return int(await db.fetchval(f"SELECT count(*) FROM {SCHEMA}.payment_intents WHERE metadata @> $1::jsonb",
                                         json.dumps(metadata or {})))

    # -- request execution ----------------------------------------------------

    async def read(self, work: Work) -> StoredResponse:
        """Run a read-only endpoint (GETs ignore idempotency keys, as on Stripe)."""
        try:
            async with self.connection() as db:
                result = await work(db)
        except ApiError as error:
            return StoredResponse(error.status, encode_body(error.body))
        return StoredResponse(result.status, encode_body(result.body))

    async def execute(self, work: Work, *, api_key: str, idempotency_key: str | None,
                      fingerprint: str) -> StoredResponse:
        """Run a mutating endpoint in one transaction, honouring Idempotency-Key.

        The key row is inserted in the same transaction as the work: a concurrent
        request with the same key blocks on the unique index until we commit, then
        replays our stored response; if we roll back (ApiError, crash) the key is
        free again, as on Stripe where only started executions are saved.
        """
        key_hash = hashlib.sha256(api_key.encode()).hexdigest()
        digest = hashlib.sha256(fingerprint.encode()).hexdigest()
        try:
            async with self.transaction() as db:
                if idempotency_key:
                    replay = await self._claim_key(db, key_hash, idempotency_key, digest)
                    if replay is not None:
                        return replay
                result = await work(db)
                body = encode_body(result.body)
                if idempotency_key:
                    await db.execute(_STORE_RESPONSE, key_hash, idempotency_key, result.status, body)
                return StoredResponse(result.status, body)
        except ApiError as error:
            return StoredResponse(error.status, encode_body(error.body))

    async def _claim_key(self, db: Db, key_hash: str, key: str, digest: str) -> StoredResponse | None:
        """Own the key (fresh, or expired after 24 h) or return the stored replay."""
        if await db.fetchval(_CLAIM_KEY, key_hash, key, digest) is not None:
            return None
        row = await db.fetchrow(_STORED_KEY, key_hash, key)
        if row["fingerprint"] != digest:
            raise ApiError(400, {
                "type": "idempotency_error",
                "message": ("Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{key}' if you meant to execute a different request.")})
        if row["status_code"] is None:  # cannot happen: written in the owner's transaction
            raise invalid_request("A request with this idempotency key is still in progress.",
                                  code="idempotency_key_in_use", status=409)
        return StoredResponse(int(row["status_code"]), str(row["body"]), replayed=True)
