"""Which holdSeats documents compile to a fast-path plan; the others are left to strawberry."""

from __future__ import annotations

import pytest

from boxoffice.resolvers.hold_documents import HoldDocuments
from boxoffice.schema.build import MAX_ALIASES, build_schema

BENCH = ("mutation Hold($input: HoldSeatsInput!) { holdSeats(input: $input) { __typename "
         "... on Hold { id expiresAt totalCents } ... on SeatsUnavailable { code seatIds } "
         "... on Rejected { code message } } }")


@pytest.fixture(scope="module")
def documents() -> HoldDocuments:
    return HoldDocuments(build_schema())


def test_the_benchmark_document_compiles_with_graphql_field_order(documents: HoldDocuments) -> None:
    plan = documents.plan(BENCH, None)
    assert plan is not None and plan.variable == "input" and plan.result_key == "holdSeats"
    assert [s.key for s in plan.by_type["Hold"]] == ["__typename", "id", "expiresAt", "totalCents"]
    assert [s.key for s in plan.by_type["SeatsUnavailable"]] == ["__typename", "code", "seatIds"]
    assert [s.key for s in plan.by_type["Rejected"]] == ["__typename", "code", "message"]
    assert plan.masked_error == {"message": "Unexpected error.", "locations": [{"line": 1, "column": 42}],
                                 "path": ["holdSeats"]}
    assert documents.plan(BENCH, None) is plan  # compiled once
    assert documents.plan(BENCH, "Hold") == plan  # the operation's own name
    assert documents.plan(BENCH, "Other") is None  # strawberry reports the unknown operation


def test_fragments_and_aliases_merge_as_graphql_collects_fields(documents: HoldDocuments) -> None:
    plan = documents.plan("""mutation($i: HoldSeatsInput!) { h: holdSeats(input: $i) {
        ...P ... on Hold { a: id generalAdmission { quantity } generalAdmission { sectionId quantity } }
        ... on HoldResult { __typename } ...P }
      } fragment P on Problem { message code }""", None)
    assert plan is not None and plan.variable == "i" and plan.result_key == "h"
    hold = plan.by_type["Hold"]
    assert [s.key for s in hold] == ["a", "generalAdmission", "__typename"]
    assert [c.key for c in hold[1].children] == ["quantity", "sectionId"]
    assert [s.key for s in plan.by_type["Rejected"]] == ["message", "code", "__typename"]


@pytest.mark.parametrize("document", [
    BENCH.replace("... on Hold { id", "... on Hold { seats { id } id"),  # reads the database
    BENCH.replace("... on Hold { id", "... on Hold { show { id } id"),
    BENCH.replace("__typename", "__typename @include(if: true)"),  # directives
    BENCH.replace("mutation Hold($input: HoldSeatsInput!)", "mutation Hold($input: HoldSeatsInput!) @skip(if: false)"),
    BENCH.replace("$input: HoldSeatsInput!", "$input: HoldSeatsInput"),  # invalid: nullable into non-null
    BENCH.replace("holdSeats(input: $input)", "holdSeats(input: $input) other: holdSeats(input: $input)"),
    BENCH + " query Q { serverTime }",  # two operations
    "mutation($s: ID!, $k: String!) { holdSeats(input: {showId: $s, idempotencyKey: $k}) { __typename } }",
    "query { holdSeats }",  # invalid
    "mutation($input: HoldSeatsInput!) { holdSeats(input: $input) { __typename ",  # does not parse
    "mutation($input: HoldSeatsInput!) { releaseHold(holdId: \"x\") { __typename } }",  # not holdSeats
    "mutation($input: HoldSeatsInput!) { holdSeats(input: $input) { "
    + " ".join(f"a{i}: __typename" for i in range(MAX_ALIASES + 1)) + " } }",  # over the app's alias limit
    BENCH.replace("__typename", "__typename" + " " * 9_000),  # longer than worth compiling
])
def test_documents_left_to_strawberry(documents: HoldDocuments, document: str) -> None:
    assert documents.plan(document, None) is None
