"""best_available.py on in-memory seat boards: its early stops give what looking at every seat gives."""

from __future__ import annotations

import math
import uuid
from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from boxoffice.booking.catalog.venue_layout import RowSpec, SectionSpec, lay_out_venue
from boxoffice.booking.inventory.availability_cache import SeatLayout, SeatStates
from boxoffice.booking.inventory.best_available import best_available
from boxoffice.booking.inventory.seatmap import SeatGeometry, Seating
from boxoffice.booking.records import SectionCount


def _venue(sections: int, rows: int, seats: int) -> tuple[SeatLayout, dict[int, SeatGeometry]]:
    venue = lay_out_venue([SectionSpec(name=f"S{i}", rows=[
        RowSpec(label=f"R{r}", seat_count=seats, accessible_seats=[1, 2] if r == 0 else []) for r in range(rows)])
        for i in range(sections)], max_places=100_000)
    geometry = {i: SeatGeometry(i, s.section_id, "", s.row, s.number, s.accessible, s.obstructed, s.x, s.y)
                for i, s in enumerate(venue.seats)}
    ids = list(range(len(venue.seats)))
    seating = Seating(ids, ids, [s.section_id for s in venue.seats], [100] * len(ids),
                      tuple(SectionCount(s.id, s.name, False, s.capacity, s.capacity) for s in venue.sections))
    return SeatLayout.of(uuid.uuid4(), seating), geometry


LAYOUT, GEOMETRY = _venue(5, 4, 9)
SEATS = [GEOMETRY[v] for v in LAYOUT.venue_seat_ids]
STAGE = ((min(g.x for g in SEATS) + max(g.x for g in SEATS)) / 2, min(g.y for g in SEATS) - 1.2)


def _board(codes: bytes) -> SeatStates:
    return SeatStates(LAYOUT, None, range(len(codes)), codes, array("q", [1]) * len(codes))


def _distance(x: float, y: float) -> float:
    return math.hypot(x - STAGE[0], y - STAGE[1])


def _every_block(codes: bytes, quantity: int) -> list[float]:
    """Every block of `quantity` free seats side by side in a row, by its centre's distance."""
    rows: dict[tuple[uuid.UUID, str], list[int]] = {}
    for p, g in enumerate(SEATS):
        rows.setdefault((g.section_id, g.row), []).append(p)
    scores = []
    for positions in rows.values():
        positions.sort(key=lambda p: SEATS[p].x)
        for i in range(len(positions) - quantity + 1):
            block = positions[i:i + quantity]
            if all(codes[p] == ord("A") for p in block):
                scores.append(_distance((SEATS[block[0]].x + SEATS[block[-1]].x) / 2, SEATS[block[0]].y))
    return scores


def _every_section(codes: bytes, quantity: int) -> list[float]:
    """Per section with enough free seats: the sum of the distances of its `quantity` nearest."""
    free: dict[uuid.UUID, list[float]] = {}
    for p, g in enumerate(SEATS):
        if codes[p] == ord("A"):
            free.setdefault(g.section_id, []).append(_distance(g.x, g.y))
    return [sum(sorted(d)[:quantity]) for d in free.values() if len(d) >= quantity]


@settings(max_examples=150, deadline=None)
@given(free=st.lists(st.booleans(), min_size=len(SEATS), max_size=len(SEATS)), quantity=st.integers(1, 8))
def test_the_answer_is_the_best_of_every_candidate(free: list[bool], quantity: int) -> None:
    _check(bytes(ord("A") if f else ord("S") for f in free), quantity)


@settings(max_examples=150, deadline=None)
@given(free=st.sets(st.integers(0, len(SEATS) - 1), max_size=60), quantity=st.integers(2, 8))
def test_a_scattered_nearly_sold_out_show(free: set[int], quantity: int) -> None:
    _check(bytes(ord("A") if p in free else ord("S") for p in range(len(SEATS))), quantity)


def _check(codes: bytes, quantity: int) -> None:
    seats = best_available(_board(codes), GEOMETRY, quantity=quantity)
    blocks, sections = _every_block(codes, quantity), _every_section(codes, quantity)
    if not sections:
        assert seats == []
        return
    assert len(seats) == quantity and all(s.status == "A" for s in seats)
    assert len({s.id for s in seats}) == quantity
    if blocks:  # together in one row, and no block nearer
        assert len({(s.section_id, s.row) for s in seats}) == 1
        assert sorted(s.x for s in seats) == [min(s.x for s in seats) + i for i in range(quantity)]
        centre = (min(s.x for s in seats) + max(s.x for s in seats)) / 2
        assert math.isclose(_distance(centre, seats[0].y), min(blocks))
    else:  # one section, the one whose nearest free seats are nearest in sum
        assert len({s.section_id for s in seats}) == 1
        assert math.isclose(sum(_distance(s.x, s.y) for s in seats), min(sections))


def test_accessible_only_and_sections_asked() -> None:
    codes = b"A" * len(SEATS)
    pair = best_available(_board(codes), GEOMETRY, quantity=2, accessible=True)
    assert len(pair) == 2 and all(s.accessible for s in pair) and pair[0].row == pair[1].row
    assert best_available(_board(codes), GEOMETRY, quantity=3, accessible=True) == []  # two per section
    last = LAYOUT.sections[-1].section_id
    assert {s.section_id for s in best_available(_board(codes), GEOMETRY, quantity=4, sections={last})} == {last}
    assert best_available(_board(b"S" * len(SEATS)), GEOMETRY, quantity=1) == []
