"""Validates a venue's sections and lays its seats out on a plane (x/y for seat maps)."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

from ..display_text import display_name, unreadable
from ..errors import InvalidInput

MAX_SEATS_PER_ROW = 1_000
MAX_ROWS_PER_SECTION = 500
# A reserved section's seat map is one request (Show.seats(sectionId:)): never more than a request
# may list (config.py holds BOXOFFICE_MAX_SEATS_PER_REQUEST at least this high).
MAX_SEATS_PER_SECTION = 10_000
SEAT_PITCH = 1.0
ROW_PITCH = 1.2
SECTION_GAP = 4.0


@dataclass(frozen=True)
class RowSpec:
    label: str
    seat_count: int
    accessible_seats: list[int] = field(default_factory=list)
    obstructed_seats: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class SectionSpec:
    name: str
    rows: list[RowSpec] | None = None
    general_admission_capacity: int | None = None


@dataclass(frozen=True, slots=True)
class LaidOutSection:
    id: uuid.UUID
    name: str
    general_admission: bool
    capacity: int


@dataclass(frozen=True, slots=True)
class LaidOutSeat:
    section_id: uuid.UUID
    row: str
    number: str
    x: float
    y: float
    accessible: bool
    obstructed: bool


@dataclass(frozen=True)
class VenueLayout:
    sections: list[LaidOutSection]
    seats: list[LaidOutSeat]

    @property
    def capacity(self) -> int:
        return sum(s.capacity for s in self.sections)


def _check_seat_numbers(numbers: list[int], seat_count: int, what: str) -> set[int]:
    chosen = set(numbers)
    if any(n < 1 or n > seat_count for n in chosen):
        raise InvalidInput(f"{what} seats are numbered 1..{seat_count}.", field=f"sections.rows.{what}Seats")
    return chosen


def lay_out_venue(sections: list[SectionSpec], *, max_places: int) -> VenueLayout:
    """Sections are blocks in a grid, in the order given; seats are numbered 1..n per row."""
    if not 1 <= len(sections) <= 500:
        raise InvalidInput("A venue has 1 to 500 sections.", field="sections")
    names: set[str] = set()
    laid_sections: list[LaidOutSection] = []
    seats: list[LaidOutSeat] = []
    columns = max(1, math.ceil(math.sqrt(len(sections))))
    block_w = block_h = 0.0
    # Places asked for, each count clamped to its bound (a count past it is refused below): the
    # venue's capacity is at most this, so the bound on places is checked once, before any layout.
    planned = 0
    for spec in sections:
        if spec.rows:
            block_w = max(block_w, max(r.seat_count for r in spec.rows) * SEAT_PITCH)
            block_h = max(block_h, len(spec.rows) * ROW_PITCH)
            planned += sum(min(max(r.seat_count, 0), MAX_SEATS_PER_ROW) for r in spec.rows)
        planned += min(max(spec.general_admission_capacity or 0, 0), max_places)
    if planned > max_places:
        raise InvalidInput(f"A venue has at most {max_places} places.", field="sections")
    block_w, block_h = block_w + SECTION_GAP, block_h + SECTION_GAP
    for index, spec in enumerate(sections):
        name = display_name(spec.name)
        if not 1 <= len(name) <= 100:
            raise InvalidInput("A section name has 1 to 100 characters.", field="sections.name")
        if problem := unreadable(name):
            raise InvalidInput(f"A section name {problem}", field="sections.name")
        if name.casefold() in names:  # fans and price tiers tell sections apart by name
            raise InvalidInput(f"Two sections are named {name!r}.", field="sections.name")
        names.add(name.casefold())
        if (spec.rows is None) == (spec.general_admission_capacity is None):
            raise InvalidInput(f"Section {name!r} needs either rows or a generalAdmissionCapacity.",
                               field="sections")
        section_id = uuid.uuid4()
        if spec.general_admission_capacity is not None:
            capacity = spec.general_admission_capacity
            if not 1 <= capacity <= max_places:
                raise InvalidInput(f"A general admission capacity is 1 to {max_places}.",
                                   field="sections.generalAdmissionCapacity")
            laid_sections.append(LaidOutSection(section_id, name, True, capacity))
            continue
        rows = spec.rows or []
        if not 1 <= len(rows) <= MAX_ROWS_PER_SECTION:
            raise InvalidInput(f"A section has 1 to {MAX_ROWS_PER_SECTION} rows.", field="sections.rows")
        if sum(max(r.seat_count, 0) for r in rows) > MAX_SEATS_PER_SECTION:
            raise InvalidInput(f"Section {name!r} has more than {MAX_SEATS_PER_SECTION:,} seats: split it "
                               "(a fan's seat map loads one section at a time).", field="sections.rows")
        origin_x = (index % columns) * block_w
        origin_y = (index // columns) * block_h
        labels: set[str] = set()
        capacity = 0
        for row_index, row in enumerate(rows):
            label = display_name(row.label)
            if not 1 <= len(label) <= 20 or label.casefold() in labels or unreadable(label):
                raise InvalidInput(f"Row labels in {name!r} are unique, 1 to 20 characters, each with a "
                                   "visible character and none hidden (control characters or direction "
                                   "overrides).", field="sections.rows.label")
            labels.add(label.casefold())
            if not 1 <= row.seat_count <= MAX_SEATS_PER_ROW:
                raise InvalidInput(f"A row has 1 to {MAX_SEATS_PER_ROW} seats.", field="sections.rows.seatCount")
            accessible = _check_seat_numbers(row.accessible_seats, row.seat_count, "accessible")
            obstructed = _check_seat_numbers(row.obstructed_seats, row.seat_count, "obstructed")
            for number in range(1, row.seat_count + 1):
                seats.append(LaidOutSeat(section_id, label, str(number), origin_x + (number - 1) * SEAT_PITCH,
                                         origin_y + row_index * ROW_PITCH, number in accessible,
                                         number in obstructed))
            capacity += row.seat_count
        laid_sections.append(LaidOutSection(section_id, name, False, capacity))
    return VenueLayout(laid_sections, seats)
