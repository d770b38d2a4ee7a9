"""Fault switches kept in PostgreSQL so that every server process obeys the same ones."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ...db import pool_connection
from .schema import SCHEMA

_COLUMNS = ("latency_ms", "fail_next", "fail_after_next", "timeout_next", "hang_ms",
            "duplicate_webhooks", "reorder_webhooks", "reorder_window_ms")


@dataclass(frozen=True)
class Faults:
    latency_ms: int = 0  # delay every API response
    fail_next: int = 0  # next N API requests: 500 before doing anything
    fail_after_next: int = 0  # next N: do the work, then 500 (response "lost")
    timeout_next: int = 0  # next N: do the work, then hang for hang_ms
    hang_ms: int = 30_000
    duplicate_webhooks: bool = False  # deliver every event twice
    reorder_webhooks: bool = False  # hold events, release them newest first
    reorder_window_ms: int = 1_000  # release once no new event arrived for this long

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Faults:
        """Validate a `POST /_faults` body; unknown keys and wrong types are errors."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown fault switch(es): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            want_bool = isinstance(getattr(cls(), name), bool)
            if want_bool and not isinstance(value, bool):
                raise ValueError(f"{name} must be a boolean")
            if not want_bool and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer")
            values[name] = value
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestFault(enum.Enum):
    NONE = "none"
    FAIL_BEFORE = "fail_before"
    FAIL_AFTER = "fail_after"
    TIMEOUT = "timeout"


_READ = f"SELECT {', '.join(_COLUMNS)} FROM {SCHEMA}.faults WHERE id = 1"


class FaultSwitches:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self) -> Faults:
        """The switches now. Read on the pool's asyncpg connection: every API call in test mode reads
        them first, and SQLAlchemy's connection and statement objects cost that call more than the read."""
        async with pool_connection(self._engine) as db:
            row = await db.fetchrow(_READ)
        return Faults(**dict(row))

    async def set(self, faults: Faults) -> Faults:
        assignments = ", ".join(f"{c} = :{c}" for c in _COLUMNS)
        async with self._engine.begin() as conn:
            await conn.execute(text(f"UPDATE {SCHEMA}.faults SET {assignments} WHERE id = 1"),
                               faults.to_json())
        return faults

    async def take(self) -> tuple[RequestFault, Faults]:
        """Consume one request-level fault, if any is armed. First match wins:
        fail_next, then fail_after_next, then timeout_next."""
        current = await self.get()
        if not (current.fail_next or current.fail_after_next or current.timeout_next):
            return RequestFault.NONE, current  # the common case: one unlocked read
        async with self._engine.begin() as conn:
            locked = await self.get_for_update(conn)
            for column, fault in (("fail_next", RequestFault.FAIL_BEFORE),
                                  ("fail_after_next", RequestFault.FAIL_AFTER),
                                  ("timeout_next", RequestFault.TIMEOUT)):
                if getattr(locked, column) > 0:
                    await conn.execute(text(
                        f"UPDATE {SCHEMA}.faults SET {column} = {column} - 1 WHERE id = 1"))
                    return fault, locked
        return RequestFault.NONE, locked

    async def get_for_update(self, conn: AsyncConnection) -> Faults:
        sql = text(f"SELECT {', '.join(_COLUMNS)} FROM {SCHEMA}.faults WHERE id = 1 FOR UPDATE")
        row = (await conn.execute(sql)).one()
        return Faults(**dict(row._mapping))
