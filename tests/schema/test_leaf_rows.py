"""Show.seats completed as whole rows gives exactly what field-by-field completion gives."""

from __future__ import annotations

import pytest

from boxoffice.resolvers.context import Context
from boxoffice.schema import catalog_types
from boxoffice.schema.build import build_schema
from boxoffice.schema.leaf_rows import with_leaf_rows

ALL_FIELDS = "id sectionId section row number status version priceCents accessible obstructedView x y"
QUERIES = {
    "every field": f"query($id: ID!) {{ show(id: $id) {{ seats {{ {ALL_FIELDS} }} }} }}",
    "a section, aliases, __typename, fragments, @include": """
        query($id: ID!, $section: ID, $with: Boolean!) { show(id: $id) { id
          s: seats(sectionId: $section) { __typename a: status b: status ...Where version @include(if: $with)
                                          number @skip(if: $with) x }
          all: seats { ... on Seat { id status } } } }
        fragment Where on Seat { row id }""",
    "a directive on the list itself": """
        query($id: ID!, $with: Boolean!) { show(id: $id) { seats @include(if: $with) { id status version } } }""",
}


@pytest.mark.parametrize("name", list(QUERIES))
async def test_whole_rows_equal_field_by_field_completion(api, monkeypatch, name) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(org, rows=3, seats=4, sections=2)
    await api.hold(fan, show["id"], show["seats"][1:3])  # some seats held, with versions
    section = (await api.gql("query($id: ID!) { show(id: $id) { seats { sectionId } } }",
                             {"id": show["id"]}))["show"]["seats"][-1]["sectionId"]
    variables = {"id": show["id"], "section": section, "with": True}
    whole_rows = []
    real = catalog_types.SeatRows.complete_rows

    def spy(self, fields):  # type: ignore[no-untyped-def]
        rows = real(self, fields)
        whole_rows.append(rows is not None)
        return rows

    monkeypatch.setattr(catalog_types.SeatRows, "complete_rows", spy)
    plain = build_schema()
    fast = build_schema()
    fast.execution_context_class = with_leaf_rows(fast.execution_context_class)
    seats = show["seats"]
    for include, then_hold in ((True, [seats[0], seats[-1]]), (False, [seats[3]]), (True, [])):
        variables["with"] = include
        expected = await plain.execute(QUERIES[name], variables, context_value=Context(services=api.services))
        got = await fast.execute(QUERIES[name], variables, context_value=Context(services=api.services))
        assert expected.errors is None and got.errors is None
        assert got.data == expected.data
        assert orjson_keys(got.data) == orjson_keys(expected.data)  # the same key order, too
        if then_hold:  # a few seats change: the next round reuses the other rows of this one
            assert (await api.hold(fan, show["id"], then_hold))["__typename"] == "Hold"
    assert whole_rows and all(whole_rows)  # the fast path was taken wherever it was offered


def orjson_keys(data: object) -> object:
    """The data's structure with key order made visible."""
    if isinstance(data, dict):
        return [(k, orjson_keys(v)) for k, v in data.items()]
    if isinstance(data, list):
        return [orjson_keys(v) for v in data]
    return data
