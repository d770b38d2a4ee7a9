"""SimulatorStore: all simulator state, in PostgreSQL (schema `stripe_sim`).

No state is kept in process memory, so every server process that mounts the
simulator answers the same way, and a restart loses nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .faults import Faults, FaultSwitches, RequestFault
from .objects import ApiError, ApiResult, DisputeRecord, IntentRecord, RefundRecord, invalid_request
from .outbox import WebhookOutbox
from .schema import SCHEMA, ensure_schema

_INTENT_COLUMNS = tuple(f.name for f in fields(IntentRecord))
_REFUND_COLUMNS = tuple(f.name for f in fields(RefundRecord))
_DISPUTE_COLUMNS = tuple(f.name for f in fields(DisputeRecord))
_JSON_COLUMNS = frozenset({"metadata", "last_payment_error", "next_action"})

Work = Callable[[AsyncConnection], Awaitable[ApiResult]]


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str  # the exact bytes sent, so a replay is verbatim
    replayed: bool = False


def encode_body(body: dict[str, Any]) -> str:
    return json.dumps(body, indent=2)


def _bind(names: tuple[str, ...], record: object) -> dict[str, Any]:
    values = {name: getattr(record, name) for name in names}
    for name in _JSON_COLUMNS & set(names):
        if values[name] is not None:
            values[name] = json.dumps(values[name])
    return values


def _placeholder(name: str) -> str:
    return f"CAST(:{name} AS jsonb)" if name in _JSON_COLUMNS else f":{name}"


class SimulatorStore:
    def __init__(self, engine: AsyncEngine, *, webhook_url: str | None = None) -> None:
        self.engine = engine
        self.outbox = WebhookOutbox(engine, webhook_url=webhook_url)
        self.faults = FaultSwitches(engine)

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

    async def insert_intent(self, conn: AsyncConnection, intent: IntentRecord) -> None:
        cols = ", ".join(_INTENT_COLUMNS)
        vals = ", ".join(_placeholder(c) for c in _INTENT_COLUMNS)
        await conn.execute(text(f"INSERT INTO {SCHEMA}.payment_intents ({cols}) VALUES ({vals})"),
                           _bind(_INTENT_COLUMNS, intent))

    async def save_intent(self, conn: AsyncConnection, intent: IntentRecord) -> None:
        sets = ", ".join(f"{c} = {_placeholder(c)}" for c in _INTENT_COLUMNS if c != "id")
        await conn.execute(text(f"UPDATE {SCHEMA}.payment_intents SET {sets} WHERE id = :id"),
                           _bind(_INTENT_COLUMNS, intent))

    async def load_intent(self, conn: AsyncConnection, intent_id: str, *,
                          for_update: bool = False) -> IntentRecord | None:
        lock = " FOR UPDATE" if for_update else ""
        row = (await conn.execute(text(
            f"SELECT {', '.join(_INTENT_COLUMNS)} FROM {SCHEMA}.payment_intents "
            f"WHERE id = :id{lock}"), {"id": intent_id})).one_or_none()
        return IntentRecord(**dict(row._mapping)) if row is not None else None

    async def insert_refund(self, conn: AsyncConnection, refund: RefundRecord) -> None:
        cols = ", ".join(_REFUND_COLUMNS)
        vals = ", ".join(_placeholder(c) for c in _REFUND_COLUMNS)
        await conn.execute(text(f"INSERT INTO {SCHEMA}.refunds ({cols}) VALUES ({vals})"),
                           _bind(_REFUND_COLUMNS, refund))

    async def load_refund(self, conn: AsyncConnection, refund_id: str) -> RefundRecord | None:
        row = (await conn.execute(text(
            f"SELECT {', '.join(_REFUND_COLUMNS)} FROM {SCHEMA}.refunds WHERE id = :id"),
            {"id": refund_id})).one_or_none()
        return RefundRecord(**dict(row._mapping)) if row is not None else None

    async def load_intent_by_charge(self, conn: AsyncConnection, charge_id: str) -> IntentRecord | None:
        row = (await conn.execute(text(
            f"SELECT {', '.join(_INTENT_COLUMNS)} FROM {SCHEMA}.payment_intents "
            f"WHERE latest_charge = :c AND status = 'succeeded'"), {"c": charge_id})).first()
        return IntentRecord(**dict(row._mapping)) if row is not None else None

    async def insert_dispute(self, conn: AsyncConnection, dispute: DisputeRecord) -> None:
        cols = ", ".join(_DISPUTE_COLUMNS)
        vals = ", ".join(f":{c}" for c in _DISPUTE_COLUMNS)
        await conn.execute(text(f"INSERT INTO {SCHEMA}.disputes ({cols}) VALUES ({vals})"),
                           _bind(_DISPUTE_COLUMNS, dispute))

    async def save_dispute_status(self, conn: AsyncConnection, dispute: DisputeRecord) -> None:
        await conn.execute(text(f"UPDATE {SCHEMA}.disputes SET status = :status WHERE id = :id"),
                           {"id": dispute.id, "status": dispute.status})

    async def load_dispute(self, conn: AsyncConnection, dispute_id: str, *,
                           for_update: bool = False) -> DisputeRecord | None:
        lock = " FOR UPDATE" if for_update else ""
        row = (await conn.execute(text(
            f"SELECT {', '.join(_DISPUTE_COLUMNS)} FROM {SCHEMA}.disputes WHERE id = :id{lock}"),
            {"id": dispute_id})).one_or_none()
        return DisputeRecord(**dict(row._mapping)) if row is not None else None

    async def charge_disputed(self, conn: AsyncConnection, charge_id: str) -> bool:
        return (await conn.execute(text(f"SELECT 1 FROM {SCHEMA}.disputes WHERE charge = :c LIMIT 1"),
                                   {"c": charge_id})).first() is not None

    async def count_intents(self, *, metadata: dict[str, str] | None = None) -> int:
        """For tests and diagnostics: how many intents match the metadata."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(text(
                f"SELECT count(*) FROM {SCHEMA}.payment_intents "
                f"WHERE metadata @> CAST(:m AS jsonb)"),
                {"m": json.dumps(metadata or {})})).scalar_one())

    # -- request execution ----------------------------------------------------

    async def read(self, work: Work) -> StoredResponse:
        """Run a read-only endpoint (GETs ignore idempotency keys, as on Stripe)."""
        try:
            async with self.engine.connect() as conn:
                result = await work(conn)
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
            async with self.engine.begin() as conn:
                if idempotency_key:
                    replay = await self._claim_key(conn, key_hash, idempotency_key, digest)
                    if replay is not None:
                        return replay
                result = await work(conn)
                body = encode_body(result.body)
                if idempotency_key:
                    await conn.execute(text(
                        f"UPDATE {SCHEMA}.idempotency_keys SET status_code = :status, body = :body "
                        f"WHERE api_key_hash = :k AND idempotency_key = :key"),
                        {"status": result.status, "body": body, "k": key_hash,
                         "key": idempotency_key})
                return StoredResponse(result.status, body)
        except ApiError as error:
            return StoredResponse(error.status, encode_body(error.body))

    async def _claim_key(self, conn: AsyncConnection, key_hash: str, key: str,
                         digest: str) -> StoredResponse | None:
        """Own the key (fresh, or expired after 24 h) or return the stored replay."""
        owned = (await conn.execute(text(
            f"""INSERT INTO {SCHEMA}.idempotency_keys (api_key_hash, idempotency_key, fingerprint)
                VALUES (:k, :key, :fp)
                ON CONFLICT (api_key_hash, idempotency_key) DO UPDATE
                  SET fingerprint = EXCLUDED.fingerprint, created_at = now(),
                      status_code = NULL, body = NULL
                  WHERE {SCHEMA}.idempotency_keys.created_at < now() - interval '24 hours'
                RETURNING 1"""), {"k": key_hash, "key": key, "fp": digest})).one_or_none()
        if owned is not None:
            return None
        row = (await conn.execute(text(
            f"SELECT fingerprint, status_code, body FROM {SCHEMA}.idempotency_keys "
            f"WHERE api_key_hash = :k AND idempotency_key = :key"),
            {"k": key_hash, "key": key})).one()
        if row.fingerprint != digest:
            raise ApiError(400, {
                "type": "idempotency_error",
                "message": ("Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{key}' if you meant to execute a different request.")})
        if row.status_code is None:  # cannot happen: written in the owner's transaction
            raise invalid_request("A request with this idempotency key is still in progress.",
                                  code="idempotency_key_in_use", status=409)
        return StoredResponse(int(row.status_code), str(row.body), replayed=True)
