"""A venue's sections laid out (booking/catalog/venue_layout.py)."""

import pytest

from boxoffice.booking.catalog import venue_layout
from boxoffice.booking.catalog.venue_layout import RowSpec, SectionSpec, lay_out_venue
from boxoffice.booking.errors import InvalidInput


def test_a_venue_too_big_is_refused_before_any_seat_is_laid_out(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_seat(*args: object) -> None:
        raise AssertionError("a seat was laid out for a venue that is refused")

    monkeypatch.setattr(venue_layout, "LaidOutSeat", no_seat)
    # 200,000 places fit; a 500 x 1,000 section after them does not (it was laid out, then refused).
    big = [SectionSpec(name="Field", general_admission_capacity=200_000),
           SectionSpec(name="Bowl", rows=[RowSpec(label=f"R{i}", seat_count=1_000) for i in range(500)])]
    with pytest.raises(InvalidInput, match="at most 200000 places") as refused:
        lay_out_venue(big, max_places=200_000)
    assert refused.value.field == "sections"


def test_a_venue_at_the_bound_is_laid_out() -> None:
    layout = lay_out_venue([SectionSpec(name="Field", general_admission_capacity=199_990),
                            SectionSpec(name="Box", rows=[RowSpec(label="A", seat_count=10)])], max_places=200_000)
    assert layout.capacity == 200_000 and len(layout.seats) == 10


def test_a_reserved_section_is_at_most_one_seat_map_request() -> None:
    """11,000 seats in one section were accepted, and its map could never be loaded: a request lists
    at most BOXOFFICE_MAX_SEATS_PER_REQUEST (10,000, never less) seats."""
    with pytest.raises(InvalidInput, match="more than 10,000 seats") as refused:
        lay_out_venue([SectionSpec(name="Lower bowl", rows=[RowSpec(label=f"R{i}", seat_count=1_000)
                                                             for i in range(11)])], max_places=200_000)
    assert refused.value.field == "sections.rows"
    layout = lay_out_venue([SectionSpec(name="Lower bowl", rows=[RowSpec(label=f"R{i}", seat_count=1_000)
                                                                  for i in range(10)])], max_places=200_000)
    assert len(layout.seats) == 10_000


def test_the_seats_a_request_lists_cover_a_section() -> None:
    from boxoffice.config import load_settings

    with pytest.raises(SystemExit, match="BOXOFFICE_MAX_SEATS_PER_REQUEST"):
        load_settings({"BOXOFFICE_SECRET": "s", "STRIPE_WEBHOOK_SECRET": "whsec_x",
                       "BOXOFFICE_MAX_SEATS_PER_REQUEST": "5000"})
