"""Counts the requests a step sends PostgreSQL, at the asyncpg client (tests and the bench script).

Counted, each one round trip: every statement executed on an asyncpg connection (raw, or a
statement SQLAlchemy prepared), every statement without arguments (BEGIN, COMMIT, ROLLBACK, which
both SQLAlchemy transactions and asyncpg's own send that way), and every explicit prepare. A
statement seen for the first time on a connection costs one more (Parse): steps are measured
warm, as they run in a serving process. Only the counting task's statements count: a server's
background jobs sharing the process (the sweeper, the simulator's webhook poller, the waitlist's
offer round) are not the step's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg.connection
import asyncpg.prepared_stmt


class RoundTrips:
    def __init__(self) -> None:
        self.sent: list[str] = []

    @property
    def count(self) -> int:
        return len(self.sent)

    def reset(self) -> None:
        self.sent.clear()


@contextmanager
def counting(*, every_task: bool = False) -> Iterator[RoundTrips]:
    """`every_task`: a server's request tasks too (and its background jobs: use it to look for a
    statement, not to count)."""
    trips = RoundTrips()
    try:
        owner: asyncio.Task[Any] | None = None if every_task else asyncio.current_task()
    except RuntimeError:  # no running loop: count every statement
        owner = None
    conn_cls, stmt_cls = asyncpg.connection.Connection, asyncpg.prepared_stmt.PreparedStatement
    originals: list[tuple[type, str, Any]] = []

    def wrap(cls: type, name: str, label: Any) -> None:
        original = getattr(cls, name)
        originals.append((cls, name, original))

        async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            what = label(self, args)
            if what is not None and (owner is None or asyncio.current_task() is owner):
                trips.sent.append(what)
            return await original(self, *args, **kwargs)

        setattr(cls, name, counted)

    wrap(conn_cls, "_execute", lambda self, a: str(a[0]))
    wrap(conn_cls, "execute", lambda self, a: str(a[0]) if len(a) == 1 else None)  # with args: via _execute
    wrap(conn_cls, "prepare", lambda self, a: f"PREPARE {a[0]}")
    for name in ("fetch", "fetchrow", "fetchval"):
        wrap(stmt_cls, name, lambda self, a: str(self.get_query()))
    try:
        yield trips
    finally:
        for cls, name, original in reversed(originals):
            setattr(cls, name, original)
