"""Browse reads from a streaming read replica, while it keeps up (DATABASE_REPLICA_URL).

What may be read there: events, venues, shows, price tiers, seat geometry and availability
snapshots, reports: answers a fan or an organizer can see a second late. Never there: claims,
payments, a fan's own holds, orders and tickets (read-your-writes), sessions, and the seat map's
version (its barrier is an advisory lock on the primary; a standby's sequences run ahead of its
commits). Those take `services.engine`; browse paths take `ReplicaReads.engine`.

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

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from .db import reading

log = logging.getLogger("boxoffice.replica")

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
        if registry is not None and replica is not None:
            self._lag_gauge = Gauge("boxoffice_replica_lag_seconds", "Replay lag of the read replica (-1: unreachable)",
                                    registry=registry)
            self._bytes_gauge = Gauge("boxoffice_replica_lag_bytes", "WAL the read replica has still to replay",
                                      registry=registry)
            self._use_gauge = Gauge("boxoffice_replica_in_use", "1 while browse reads go to the replica",
                                    registry=registry)
            self._publish()

    @property
    def engine(self) -> AsyncEngine:
        """The engine for browse reads: the replica while fresh, else the primary."""
        return self._replica if self._replica is not None and self.fresh else self.primary

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
