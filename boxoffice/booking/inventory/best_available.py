"""Best available: the seats a box-office clerk would offer first, read from the seat board.

"Best" comes from the venue's geometry. The stage is in front of the first rows: seat maps lay
row 1 of the front sections nearest it (catalog/venue_layout.py), so the stage point is the
centre of the reserved seats' x range, a row's depth in front of the smallest y. A block of seats
is as good as its centre is near that point: the front-centre of the venue first, then outwards
and backwards.

A block is `quantity` available seats side by side in one row: seats of a row whose x differ by
about one seat pitch (a wider gap is an aisle or a missing seat: not together). When no row has
such a block anywhere the answer may still fit (e.g. a nearly sold-out show): then the nearest
`quantity` seats of one section are offered, the section whose seats are nearest in sum.

Nothing is held or written: this reads the per-process board (availability_cache.py), which is
indicative by contract like every seat map; holdSeats then makes the promise (or says a seat went
meanwhile). Cost: the rows and their order are worked out once per show and process (kept with the
board's layout); a call then visits rows nearest first and stops as soon as no row left can beat
the best block found, looking at each row with one C-level search of its status bytes.
"""

from __future__ import annotations

import heapq
import math
import re
import uuid
from array import array
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ..catalog.venue_layout import ROW_PITCH, SEAT_PITCH
from ..errors import InvalidInput, NotFound
from ..records import PriceTierRecord, SeatView, ShowRecord
from .availability_cache import AvailabilityCache, SeatStates
from .seatmap import GeometryCache, SeatGeometry

_ADJACENT = 1.5 * SEAT_PITCH  # seats further apart than this are not side by side
_PLAN_KEY = "best_available.plan"
_AVAILABLE = ord("A")


@dataclass(frozen=True, slots=True)
class _Run:
    """Seats side by side in one row, in x order: `start` is the first one's map position when the
    run is one slice of the map (`positions` None), else `positions` lists them."""

    section: int  # index into the layout's sections
    start: int
    count: int
    positions: array[int] | None
    xs: array[float]
    y: float
    nearest: float  # distance from the stage to the run's nearest point: no block of it is nearer

    def position(self, offset: int) -> int:
        return self.start + offset if self.positions is None else self.positions[offset]

    def codes(self, board: bytes) -> bytes:
        if self.positions is None:
            return board[self.start:self.start + self.count]
        return bytes(board[p] for p in self.positions)


@dataclass(frozen=True, slots=True)
class _Plan:
    stage_x: float
    stage_y: float
    runs: tuple[_Run, ...]  # nearest first
    accessible_runs: tuple[_Run, ...]  # runs of accessible seats only, nearest first


def _distance(plan: _Plan, x: float, y: float) -> float:
    return math.hypot(x - plan.stage_x, y - plan.stage_y)


def _nearest(stage_x: float, stage_y: float, xs: array[float], y: float) -> float:
    dx = 0.0 if xs[0] <= stage_x <= xs[-1] else min(abs(xs[0] - stage_x), abs(xs[-1] - stage_x))
    return math.hypot(dx, y - stage_y)


def _plan(states: SeatStates, geometry: dict[int, SeatGeometry]) -> _Plan:
    layout = states.layout
    if not layout.seat_ids:
        return _Plan(0.0, 0.0, (), ())
    seats = [geometry[v] for v in layout.venue_seat_ids]
    stage_x = (min(g.x for g in seats) + max(g.x for g in seats)) / 2
    stage_y = min(g.y for g in seats) - ROW_PITCH
    rows: dict[tuple[int, str], list[int]] = {}
    for position, g in enumerate(seats):
        rows.setdefault((layout.section_at[position], g.row), []).append(position)
    runs: list[_Run] = []
    accessible: list[_Run] = []

    def add(out: list[_Run], section: int, found: list[int]) -> None:
        xs = array("d", (seats[p].x for p in found))
        contiguous = found[-1] - found[0] + 1 == len(found) and found == sorted(found)
        out.append(_Run(section, found[0], len(found), None if contiguous else array("l", found), xs,
                        seats[found[0]].y, _nearest(stage_x, stage_y, xs, seats[found[0]].y)))

    for (section, _), positions in rows.items():
        positions.sort(key=lambda p: seats[p].x)
        together: list[int] = []
        side_by_side: list[int] = []
        for p in positions:
            if together and seats[p].x - seats[together[-1]].x > _ADJACENT:
                add(runs, section, together)
                together = []
            together.append(p)
            if seats[p].accessible and (not side_by_side or seats[p].x - seats[side_by_side[-1]].x <= _ADJACENT):
                side_by_side.append(p)
            elif side_by_side:
                add(accessible, section, side_by_side)
                side_by_side = [p] if seats[p].accessible else []
        add(runs, section, together)
        if side_by_side:
            add(accessible, section, side_by_side)
    runs.sort(key=lambda r: (r.nearest, r.start))
    accessible.sort(key=lambda r: (r.nearest, r.start))
    return _Plan(stage_x, stage_y, tuple(runs), tuple(accessible))


def _plan_of(states: SeatStates, geometry: dict[int, SeatGeometry]) -> _Plan:
    """Worked out once per show and process: kept with the board's layout (it goes with it)."""
    plan = states.layout.renderings.get(_PLAN_KEY)
    if not isinstance(plan, _Plan):
        plan = _plan(states, geometry)
        states.layout.renderings[_PLAN_KEY] = plan
    return plan


def _best_window(plan: _Plan, run: _Run, start: int, stop: int, quantity: int) -> tuple[float, int]:
    """The block of `quantity` within run offsets [start, stop) whose centre is nearest the stage."""
    low, high = start, stop - quantity
    # Centres grow with the offset: search for the one nearest the stage's x, then look either side.
    while low < high:
        mid = (low + high) // 2
        if (run.xs[mid] + run.xs[mid + quantity - 1]) / 2 < plan.stage_x:
            low = mid + 1
        else:
            high = mid
    best = (math.inf, low)
    for offset in (low - 1, low):
        if start <= offset <= stop - quantity:
            centre = (run.xs[offset] + run.xs[offset + quantity - 1]) / 2
            best = min(best, (_distance(plan, centre, run.y), offset))
    return best


def _side_by_side(plan: _Plan, runs: tuple[_Run, ...], board: bytes, quantity: int,
                  sections: set[int] | None) -> list[int]:
    pattern = re.compile(b"A{%d,}" % quantity)
    best: tuple[float, _Run | None, int] = (math.inf, None, 0)
    for run in runs:
        if run.nearest >= best[0]:
            break  # every run left is further away than the best block found
        if run.count < quantity or (sections is not None and run.section not in sections):
            continue
        codes = run.codes(board)
        for found in pattern.finditer(codes):
            score, offset = _best_window(plan, run, found.start(), found.end(), quantity)
            if score < best[0]:
                best = (score, run, offset)
    _, chosen, offset = best
    if chosen is None:
        return []
    return [chosen.position(offset + i) for i in range(quantity)]


class _Nearest:
    """A section's `quantity` nearest free seats found so far (a max-heap by distance) and their sum."""

    __slots__ = ("heap", "total")

    def __init__(self) -> None:
        self.heap: list[tuple[float, int]] = []  # (-distance, position)
        self.total = 0.0

    def offer(self, distance: float, position: int, quantity: int) -> None:
        if len(self.heap) < quantity:
            heapq.heappush(self.heap, (-distance, position))
            self.total += distance
        elif distance < -self.heap[0][0]:
            dropped, _ = heapq.heapreplace(self.heap, (-distance, position))
            self.total += distance + dropped

    def at_best(self, quantity: int, further: float) -> float:
        """The smallest sum this section can still reach with seats at least `further` away."""
        return sum(min(-d, further) for d, _ in self.heap) + (quantity - len(self.heap)) * further


def _nearest_in_a_section(plan: _Plan, runs: tuple[_Run, ...], board: bytes, quantity: int,
                          sections: set[int] | None) -> list[int]:
    """No row fits the party: the nearest seats of the one section where they are nearest in sum.
    Rows are visited nearest first; the visit stops once no section can still beat the best one
    (every seat left is at least the next row's `nearest` away)."""
    found: dict[int, _Nearest] = {}
    best: _Nearest | None = None
    for run in runs:
        if best is not None and -best.heap[0][0] <= run.nearest and best.total <= quantity * run.nearest:
            # The best section's seats are final (all nearer than any left); does any other still
            # stand a chance? (A section not seen yet needs `quantity` seats this far away.)
            if all(f is best or f.at_best(quantity, run.nearest) >= best.total for f in found.values()):
                break
        if sections is not None and run.section not in sections:
            continue
        nearest = found.get(run.section)
        for match in re.finditer(b"A", run.codes(board)):
            if nearest is None:
                nearest = found[run.section] = _Nearest()
            offset = match.start()
            nearest.offer(_distance(plan, run.xs[offset], run.y), run.position(offset), quantity)
        if nearest is not None and len(nearest.heap) == quantity and (best is None or nearest.total < best.total):
            best = nearest
    return [] if best is None else sorted(p for _, p in best.heap)


def check_quantity(quantity: int, max_tickets_per_user: int) -> None:
    if not 1 <= quantity <= max_tickets_per_user:
        raise InvalidInput(f"quantity is between 1 and {max_tickets_per_user} (this show's limit per fan).",
                           field="quantity")


def tier_sections(tiers: list[PriceTierRecord], price_tier_id: str | None) -> set[uuid.UUID] | None:
    """The sections of the tier asked for (None: any tier); an id that is no tier of the show is NOT_FOUND."""
    if price_tier_id is None:
        return None
    for tier in tiers:
        if str(tier.id) == price_tier_id.strip().lower():
            return set(tier.section_ids)
    raise NotFound("This show has no such price tier.", field="priceTierId")


def best_available(states: SeatStates, geometry: dict[int, SeatGeometry], *, quantity: int,
                   sections: set[uuid.UUID] | None = None, accessible: bool = False) -> list[SeatView]:
    """The best `quantity` available seats of the board (`states`: the whole map of one show), in
    map order; [] when none fit. `sections`: only seats of these (a price tier's); `accessible`:
    only accessible seats. Read only."""
    layout = states.layout
    if quantity < 1 or states.codes.count(_AVAILABLE) < quantity:
        return []
    plan = _plan_of(states, geometry)
    wanted = None if sections is None else {i for i, s in enumerate(layout.sections) if s.section_id in sections}
    runs = plan.accessible_runs if accessible else plan.runs
    chosen = (_side_by_side(plan, runs, states.codes, quantity, wanted)
              or _nearest_in_a_section(plan, runs, states.codes, quantity, wanted))
    return [_view(states, geometry, p) for p in sorted(chosen)]


def _view(states: SeatStates, geometry: dict[int, SeatGeometry], position: int) -> SeatView:
    layout = states.layout
    g = geometry[layout.venue_seat_ids[position]]
    return SeatView(layout.seat_ids[position], g.section_id, g.section, g.row, g.number,
                    chr(states.codes[position]), states.versions[position], layout.prices[position],
                    g.accessible, g.obstructed, g.x, g.y)


async def best_seats_of_show(boards: AvailabilityCache, geometry: GeometryCache, engine: AsyncEngine, show: ShowRecord,
                             tiers: list[PriceTierRecord], *, quantity: int, price_tier_id: str | None,
                             accessible: bool) -> list[SeatView]:
    """Show.bestAvailable: bounds checked, then the board and the venue's geometry of this process.
    `tiers`: the show's price tiers (needed only when price_tier_id is given)."""
    check_quantity(quantity, show.max_tickets_per_user)
    sections = tier_sections(tiers, price_tier_id)
    states = await boards.seats(show)
    return best_available(states, await geometry.for_venue(engine, show.venue_id), quantity=quantity,
                          sections=sections, accessible=accessible)
