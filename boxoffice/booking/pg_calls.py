"""Straight to asyncpg for the journey's one-call steps (migration 0008_journey_functions).

A step that is one statement needs no transaction of its own (the statement is one), and going
through SQLAlchemy would add its per-statement work and, around a transaction, BEGIN and COMMIT.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ..db import connected, pool_connection


@asynccontextmanager
async def driver(engine: AsyncEngine) -> AsyncIterator[Any]:
    """The asyncpg connection of a pooled connection, outside any transaction. Nothing on it goes
    through SQLAlchemy until it is returned (as booking/inventory/holds.py does for a hold)."""
    if engine.get_execution_options().get("boxoffice_fallback") is None:
        async with pool_connection(engine) as db:
            yield db
        return
    async with connected(engine) as conn:  # a read replica's engine falls back to the primary (db.py)
        db = (await conn.get_raw_connection()).driver_connection
        assert db is not None
        yield db


class Attrs:
    """Attribute access to an asyncpg record, like SQLAlchemy rows."""

    __slots__ = ("_record",)

    def __init__(self, record: Any) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        return self._record[name]


def decoded(value: Any) -> Any:
    """json values come decoded on connections SQLAlchemy set up, as text on plain asyncpg ones."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value
