"""Random hold / release / expire / sweep sequences against a simple model, checked with the audit."""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule
from sqlalchemy import text

from boxoffice.booking.audit import audit
from boxoffice.booking.errors import LimitExceeded, SeatsUnavailable
from boxoffice.booking.inventory.hold_release import release_expired_holds, release_hold
from boxoffice.booking.inventory.holds import HoldRequest, hold_seats
from boxoffice.db import create_engine

from ..fixtures_db import bulk_users, make_show

SEATS, GA = 8, 5


def test_holds_match_the_model(database_url) -> None:
    loop = asyncio.new_event_loop()
    engine = create_engine(database_url, pool_size=3, max_overflow=0)
    run = loop.run_until_complete

    class HoldMachine(RuleBasedStateMachine):
        holds = Bundle("holds")

        def __init__(self) -> None:
            super().__init__()
            self.show, self.seats, self.floor = run(make_show(engine, seats=SEATS, ga=GA, max_tickets=4))
            self.fans = run(bulk_users(engine, 3))
            self.owner: dict[str, uuid.UUID] = {}  # reserved seat -> active hold
            self.ga_held: dict[uuid.UUID, int] = {}  # active hold -> GA places
            self.per_fan: dict[uuid.UUID, int] = {}  # active hold -> fan index
            self.size: dict[uuid.UUID, int] = {}

        def _in_use(self, fan: int) -> int:
            return sum(self.size[h] for h, f in self.per_fan.items() if f == fan)

        @rule(target=holds, fan=st.integers(0, 2), picks=st.sets(st.integers(0, SEATS - 1), max_size=3),
              ga=st.integers(0, 3))
        def hold(self, fan, picks, ga):
            wanted = [self.seats[i] for i in sorted(picks)]
            if not wanted and not ga:
                return None
            request = HoldRequest(self.show.id, wanted, [(self.floor, ga)] if ga else [], uuid.uuid4().hex)
            taken = [s for s in wanted if s in self.owner]
            ga_free = GA - sum(self.ga_held.values())
            over_limit = self._in_use(fan) + len(wanted) + ga > 4
            try:
                hold, _ = run(hold_seats(engine, self.fans[fan], request))
            except LimitExceeded:
                assert over_limit
                return None
            except SeatsUnavailable as err:
                assert not over_limit and (taken or ga > ga_free)
                assert sorted(err.seat_ids) == sorted(taken)
                return None
            assert not over_limit and not taken and ga <= ga_free
            for s in wanted:
                self.owner[s] = hold.id
            self.ga_held[hold.id] = ga
            self.per_fan[hold.id] = fan
            self.size[hold.id] = len(wanted) + ga
            return hold.id

        def _forget(self, hold_id):
            self.owner = {s: h for s, h in self.owner.items() if h != hold_id}
            self.ga_held.pop(hold_id, None)
            self.per_fan.pop(hold_id, None)

        @rule(hold_id=consumes(holds))
        def release(self, hold_id):
            if hold_id is None:
                return
            fan = self.per_fan.get(hold_id)
            if fan is None:
                return
            record, _ = run(release_hold(engine, self.fans[fan], hold_id))
            assert record.status == "released"
            self._forget(hold_id)

        @rule(hold_id=consumes(holds), sweep=st.booleans())
        def expire(self, hold_id, sweep):
            if hold_id is None or hold_id not in self.per_fan:
                return

            async def expire_now():
                async with engine.begin() as conn:
                    await conn.execute(text("UPDATE holds SET expires_at = now() - interval '1 ms' WHERE id = :h"),
                                       {"h": hold_id})
                    await conn.execute(text("UPDATE show_seats SET hold_expires_at = now() - interval '1 ms' "
                                            "WHERE hold_id = :h"), {"h": hold_id})
            run(expire_now())
            if sweep:
                run(release_expired_holds(engine))
            self._forget(hold_id)

        @invariant()
        def database_agrees(self):
            async def state():
                async with engine.connect() as conn:
                    return (await conn.execute(text(
                        "SELECT id::text, hold_id, position IS NULL AS ga FROM show_seats WHERE show_id = :s "
                        "AND status = 'H' AND hold_expires_at > now()"), {"s": self.show.id})).all()
            rows = run(state())
            assert {r[0]: r[1] for r in rows if not r[2]} == self.owner
            assert sum(1 for r in rows if r[2]) == sum(self.ga_held.values())
            assert run(audit(engine, self.show.id)).clean

    HoldMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None,
                                             suppress_health_check=list(HealthCheck))
    try:
        HoldMachine.TestCase("runTest").runTest()
    finally:
        run(engine.dispose())
        loop.close()
