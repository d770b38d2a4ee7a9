"""Browse reads from a streaming read replica, while it keeps up (DATABASE_REPLICA_URL).

What may be read there: events, venues, shows, price tiers, reports: answers a fan
or an organizer can see a second late. Never there: claims, payments, a fan's own holds, orders and
tickets (read-your-writes), sessions. Those take `services.engine`; browse paths take
`ReplicaReads.engine`. Late is allowed there, missing is not: what a browse loader does not find
on the replica (a show created milliseconds ago) it asks the primary for (resolvers/context.py).

Seat statuses (seat boards, live-map replays, section counts) go there too, behind a WAL position
(`read_replayed`): the version barrier runs on the primary (booking/inventory/seatmap.py), and the
same statement returns the primary's WAL insert position, below which every change up to the
version is already written. The reads that follow run on the replica only if it has replayed that
far, checked in their own first statement; otherwise on the primary. So an answer is exactly as
complete as a primary read after the barrier, never older; a fallback is counted in
`boxoffice_replica_snapshot_fallbacks_total`. Without a replica (or while it is not fresh) the
primary is the "replica": always caught up, the same statements.

The lag is measured every `replica_check_s`: the bytes of WAL the replica has still to replay
(the primary's current LSN against the replica's replay LSN) and, when that is not zero, the age
of the last transaction replayed. Over `replica_max_lag_s`, or unreachable, or no longer in
recovery (promoted: then it is nobody's replica), browse reads go to the primary until a later
check finds it fresh again. A replica dying between two checks costs no request either: its
connections are tried before use and the read falls back to the primary (db.reading).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import Row, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .db import reading

log = logging.getLogger("boxoffice.replica")
T = TypeVar("T")

# The primary's WAL position, as text, for a statement's select list. Insert, not write or flush:
# with synchronous_commit off a commit record may be inserted and not yet written, and a replica
# that has replayed this position has replayed every commit inserted before it.
WAL_INSERT_POSITION = "CAST(pg_current_wal_insert_lsn() AS text)"

# A statement that returns rows only where `:replayed_lsn` has been replayed, and says whether it
# had (the last column). Evaluated once (the OFFSET 0 subquery, a parameter of the lateral one);
# false skips the read itself (a one-time filter). A primary (not in recovery) has everything.
_AFTER_POSITION = (
    "SELECT q.*, b.replayed AS position_replayed FROM (SELECT CASE WHEN pg_is_in_recovery() "
    "THEN pg_last_wal_replay_lsn() >= CAST(CAST(:replayed_lsn AS text) AS pg_lsn) ELSE true END AS replayed "
    "OFFSET 0) AS b LEFT JOIN LATERAL (SELECT * FROM ({sql}) AS q WHERE b.replayed OFFSET 0) AS q ON true")

_REPLICA_STATE = text(
    "SELECT pg_is_in_recovery(), pg_wal_lsn_diff(CAST(CAST(:primary AS text) AS pg_lsn), pg_last_wal_replay_lsn()), "
    "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())")


class ReplicaReads:
    """Which engine browse reads use now, and the replica's measured lag."""

    def __init__(self, primary: AsyncEngine, replica: AsyncEngine | None, *, max_lag_s: float,
                 check_s: float, registry: CollectorRegistry | None = None) -> None:
        self.primary = primary
        self.max_lag_s = max_lag_s
        self.check_s = check_s
        self.lag_s: float | None = None  # None: not measured, or the replica is not usable
        self.lag_bytes: float | None = None
        self.fresh = False
        self._reason = ""
        self._over = 0  # consecutive readings over the limit
        self._replica_pool = replica
        self._replica = (replica.execution_options(boxoffice_fallback=primary, boxoffice_on_failure=self._failed)
                         if replica is not None else None)
        self._lag_gauge = self._bytes_gauge = self._use_gauge = None
        self._fallbacks: Counter | None = None
        if registry is not None and replica is not None:
            self._lag_gauge = Gauge("boxoffice_replica_lag_seconds", "Replay lag of the read replica (-1: unreachable)",
                                    registry=registry)
            self._bytes_gauge = Gauge("boxoffice_replica_lag_bytes", "WAL the read replica has still to replay",
                                      registry=registry)
            self._use_gauge = Gauge("boxoffice_replica_in_use", "1 while browse reads go to the replica",
                                    registry=registry)
            self._fallbacks = Counter("boxoffice_replica_snapshot_fallbacks",
                                      "Seat-status reads sent to the primary: the replica had not replayed "
                                      "their WAL position yet", registry=registry)
            self._publish()

    @property
    def engine(self) -> AsyncEngine:
        """The engine for browse reads: the replica while fresh, else the primary."""
        return self.engine_or(self.primary)

    @property
    def has_replica(self) -> bool:
        """Whether a replica is configured at all (fresh or not)."""
        return self._replica is not None

    def engine_or(self, primary: AsyncEngine) -> AsyncEngine:
        """The replica while fresh, else `primary` (a caller's own pool of the primary)."""
        return self._replica if self._replica is not None and self.fresh else primary

    def fell_back(self) -> None:
        """A read found the replica short of its WAL position and went to the primary."""
        if self._fallbacks is not None:
            self._fallbacks.inc()

    async def check(self) -> None:
        """One measurement of the replica's lag; decides where browse reads go until the next."""
        if self._replica is None:
            return
        try:
            async with reading(self.primary) as conn:
                primary_lsn = (await conn.execute(text("SELECT CAST(pg_current_wal_lsn() AS text)"))).scalar()
        except (DBAPIError, OSError) as err:  # nothing to measure against: the primary's own reads fail too
            self._set(None, None, reason=f"not measured, the primary did not answer ({type(err).__name__})")
            return
        try:
            # Straight to the replica's pool: a fallback to the primary would measure the primary.
            async with self._replica.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                in_recovery, lag_bytes, age_s = (await conn.execute(_REPLICA_STATE, {"primary": primary_lsn})).one()
        except (DBAPIError, OSError) as err:
            self._set(None, None, reason=f"unreachable ({type(err).__name__}: {str(err).splitlines()[0][:200]})")
            return
        if not in_recovery:
            self._set(None, None, reason="not in recovery (promoted?)")
            return
        lag_bytes = max(float(lag_bytes or 0), 0.0)
        # Caught up: however old the last replayed transaction, the replica is current. Behind, the
        # age of the last one replayed is the lag, except just after the primary was idle (that
        # transaction is old, the replica only milliseconds behind): so one reading over the limit
        # is believed only when the next agrees.
        lag_s = 0.0 if lag_bytes == 0 else max(float(age_s or 0), 0.0)
        self._over = self._over + 1 if lag_s > self.max_lag_s else 0
        self._set(lag_s, lag_bytes, reason=f"{lag_s:.2f} s behind", believed=self._over != 1)

    async def run(self, stop: asyncio.Event) -> None:
        """Checks every check_s until stop is set."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self.check()
            except Exception:  # a bug here must not end the checks: reads go to the primary
                log.exception("replica check failed")
                self._set(None, None, reason="check failed")
            try:
                await asyncio.wait_for(stop.wait(), max(self.check_s - (time.monotonic() - started), 0.05))
            except asyncio.TimeoutError:
                pass

    async def aclose(self) -> None:
        if self._replica_pool is not None:
            await self._replica_pool.dispose()

    def _failed(self, err: BaseException) -> None:
        """A browse read found the replica dead: the primary until a check finds it back."""
        if self.fresh:
            log.warning("read replica failed (%s): browse reads go to the primary", type(err).__name__)
        self._set(None, None, reason="failed a read")

    def _set(self, lag_s: float | None, lag_bytes: float | None, *, reason: str, believed: bool = True) -> None:
        fresh = lag_s is not None and (lag_s <= self.max_lag_s or (not believed and self.fresh))
        if fresh != self.fresh or (lag_s is None and reason != self._reason):
            log.warning("browse reads go to the %s: replica %s", "replica" if fresh else "primary", reason)
        self._reason = reason
        self.lag_s, self.lag_bytes, self.fresh = lag_s, lag_bytes, fresh
        self._publish()

    def _publish(self) -> None:
        if self._lag_gauge is not None and self._bytes_gauge is not None and self._use_gauge is not None:
            self._lag_gauge.set(-1 if self.lag_s is None else self.lag_s)
            self._bytes_gauge.set(-1 if self.lag_bytes is None else self.lag_bytes)
            self._use_gauge.set(1 if self.fresh else 0)


async def wal_position(primary: AsyncEngine) -> str:
    """The primary's WAL insert position now: every commit announced so far lies below it."""
    async with reading(primary) as conn:
        return str((await conn.execute(text(f"SELECT {WAL_INSERT_POSITION}"))).scalar_one())


async def read_replayed(primary: AsyncEngine, replicas: ReplicaReads | None, position: str, sql: str,
                        params: Mapping[str, object],
                        then: Callable[[AsyncConnection, Sequence[Row[Any]]], Awaitable[T]]) -> T:
    """Runs `sql` and then `then(connection, its rows)` where every commit below the primary's WAL
    `position` is visible: on the replica while it is fresh and has replayed that far, else on
    `primary`. The check is part of `sql`'s own statement (no round trip more); statements `then`
    runs on the same connection see at least as much (replay only moves forward). The rows carry
    one column more at the end (read them by name); `sql`'s first column must never be NULL."""
    engine = primary if replicas is None else replicas.engine_or(primary)
    async with reading(engine) as conn:
        rows = (await conn.execute(text(_AFTER_POSITION.format(sql=sql)), {**params, "replayed_lsn": position})).all()
        if rows[0].position_replayed:
            return await then(conn, [r for r in rows if r[0] is not None])  # not LEFT JOIN's empty row
    if replicas is not None and engine is not primary:
        replicas.fell_back()
    async with reading(primary) as conn:
        return await then(conn, (await conn.execute(text(sql), params)).all())
