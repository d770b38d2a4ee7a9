"""Show.bestAvailable's search on the 50,000-seat stadium, in memory: ms per call as the show sells.

    .venv/bin/python bench/best_available.py [--calls 200] [--seed 1]

The demo's stadium (10 sections x 50 rows x 100 seats, laid out by catalog/venue_layout.py) on a
seat board as availability_cache.py keeps it; no database and no web stack (those costs are the
board's and the request's, measured by bench/seat_map.py). For each share of seats sold at random
(and a show sold front to back, as on-sales go), the time of one call per quantity, median and
worst, and the one-off cost of working out the rows (once per show and process).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from array import array

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from boxoffice.booking.catalog.venue_layout import RowSpec, SectionSpec, lay_out_venue  # noqa: E402
from boxoffice.booking.inventory.availability_cache import SeatLayout, SeatStates  # noqa: E402
from boxoffice.booking.inventory.best_available import best_available  # noqa: E402
from boxoffice.booking.inventory.seatmap import SeatGeometry, Seating  # noqa: E402
from boxoffice.booking.records import SectionCount  # noqa: E402


def stadium() -> tuple[SeatLayout, dict[int, SeatGeometry]]:
    sections = [SectionSpec(name=f"Section {101 + i}", rows=[
        RowSpec(label=f"R{r}", seat_count=100, accessible_seats=[1, 2, 99, 100] if r == 0 else [])
        for r in range(50)]) for i in range(10)]
    venue = lay_out_venue(sections, max_places=200_000)
    geometry = {i: SeatGeometry(i, s.section_id, "", s.row, s.number, s.accessible, s.obstructed, s.x, s.y)
                for i, s in enumerate(venue.seats)}
    seating = Seating(seat_ids=list(range(len(venue.seats))), venue_seat_ids=list(range(len(venue.seats))),
                      section_ids=[s.section_id for s in venue.seats], prices=[5000] * len(venue.seats),
                      sections=tuple(SectionCount(s.id, s.name, False, s.capacity, s.capacity)
                                     for s in venue.sections))
    return SeatLayout.of(uuid.uuid4(), seating), geometry


def states(layout: SeatLayout, codes: bytearray) -> SeatStates:
    return SeatStates(layout, None, range(len(codes)), bytes(codes), array("q", [1]) * len(codes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    layout, geometry = stadium()
    n = len(layout.seat_ids)

    started = time.perf_counter()
    best_available(states(layout, bytearray(b"A" * n)), geometry, quantity=2)
    print(f"{n} seats; rows worked out once per show and process: {(time.perf_counter() - started) * 1e3:.1f} ms")
    print(f"{'sold':>22} {'quantity':>8} {'accessible':>10} {'median ms':>10} {'max ms':>8} {'seats':>6}")
    order = list(range(n))
    rng.shuffle(order)
    scenarios: list[tuple[str, bytearray]] = []
    for share in (0.0, 0.5, 0.9, 0.99, 1.0):
        codes = bytearray(b"A" * n)
        for p in order[:int(share * n)]:
            codes[p] = ord("S")
        scenarios.append((f"{share:.0%} at random", codes))
    front_first = bytearray(b"S" * n)
    for p in order[:n // 20]:
        front_first[p] = ord("A")  # 95% sold, what is left scattered: the slowest fallback
    scenarios.append(("95% sold, scattered", front_first))
    # Every other seat sold: half the seats free, no two together (the fallback's worst case).
    scenarios.append(("every other seat", bytearray(b"AS" * (n // 2))))
    for name, codes in scenarios:
        board = states(layout, codes)
        for quantity, accessible in ((1, False), (2, False), (4, False), (8, False), (2, True)):
            times, found = [], 0
            for _ in range(args.calls):
                t = time.perf_counter()
                found = len(best_available(board, geometry, quantity=quantity, accessible=accessible))
                times.append((time.perf_counter() - t) * 1e3)
            print(f"{name:>22} {quantity:>8} {str(accessible):>10} {statistics.median(times):>10.3f} "
                  f"{max(times):>8.3f} {found:>6}")


if __name__ == "__main__":
    main()
