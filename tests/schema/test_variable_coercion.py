"""Variables coerced by code built once (schema/variable_coercion.py) are graphql-core's: the same values,
the same sources, or a decline that leaves the request to graphql-core, never a value it refuses.
And an executor from a prepared execution (schema/prepared_execution.py) is the one `build` makes."""

from __future__ import annotations

import inspect
import sys
from typing import Any

import pytest
from graphql import GraphQLSchema, OperationDefinitionNode, build_schema as build_sdl, parse
from graphql.execution import Executor
from graphql.execution.values import VariableValues, get_variable_values
from hypothesis import given, settings, strategies as st

from boxoffice.schema.build import build_schema
from boxoffice.schema.prepared_execution import prepare_execution
from boxoffice.schema.variable_coercion import variable_coercer

SDL = """
enum Colour { RED GREEN }
input Inner { n: Int!, tags: [String!], colour: Colour = RED, note: String = "x" }
input Outer { inner: Inner, inners: [Inner!]!, id: ID }
input Tree { value: Int, children: [Tree!] }
input Pick @oneOf { a: Int, b: String }
type Query { f(o: Outer, t: Tree, p: Pick, c: Colour, l: [[Int]], d: Float, b: Boolean, s: String, i: ID): Int }
"""
TOY = build_sdl(SDL)
STRAWBERRY = build_schema()
PRODUCT = STRAWBERRY._schema
EXECUTOR: type[Executor] = STRAWBERRY.execution_context_class  # type: ignore[attr-defined]

TOY_DEFINITIONS = [
    "($o: Outer, $c: Colour, $l: [[Int]], $d: Float, $b: Boolean!, $i: ID)",
    "($o: Outer!, $t: Tree)",
    "($p: Pick, $s: String)",
    "($s: String = \"default\", $c: Colour = GREEN)",
    "($t: Tree!)",
]
PRODUCT_DEFINITIONS = [
    "($input: HoldSeatsInput!)",
    "($input: CreateOrderInput!, $id: ID)",
    "($input: ConfirmPaymentInput!)",
    "($input: ShowInput!, $venue: VenueInput)",
    "($filter: EventFilter, $first: Int = 20, $after: String)",
    "($id: ID!)",
]


def definitions(text: str) -> Any:
    operation = parse(f"query Q{text} {{ __typename }}").definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return operation.variable_definitions


def same(got: VariableValues, expected: VariableValues) -> None:
    assert got.coerced == expected.coerced
    assert [type(v) for v in got.coerced.values()] == [type(v) for v in expected.coerced.values()]
    assert list(got.sources) == list(expected.sources)
    for name, source in got.sources.items():
        theirs = expected.sources[name]
        assert source.value == theirs.value
        # type_from_ast makes new list and non-null wrappers each time: compared by what they print
        assert (source.signature.name, str(source.signature.type)) == (theirs.signature.name,
                                                                       str(theirs.signature.type))
        assert (source.signature.default is None) == (theirs.signature.default is None)


def check(schema: GraphQLSchema, text: str, inputs: dict[str, Any]) -> VariableValues | None:
    defs = definitions(text)
    coercer = variable_coercer(schema, defs)
    assert coercer is not None
    got = coercer(inputs)
    expected = get_variable_values(schema, defs, inputs, max_errors=50)
    if got is not None:
        assert isinstance(expected, VariableValues), f"graphql-core refuses what was coerced: {expected}"
        same(got, expected)
    return got


@pytest.mark.parametrize(("schema", "text", "inputs"), [
    (TOY, TOY_DEFINITIONS[0], {"b": True}),
    (TOY, TOY_DEFINITIONS[0], {"b": False, "c": "GREEN", "l": [[1, None], None, []], "d": 2, "i": 7, "o": None}),
    (TOY, TOY_DEFINITIONS[0], {"b": True, "o": {"inner": {"n": 1}, "inners": [], "id": "x"}}),
    (TOY, TOY_DEFINITIONS[1], {"o": {"inners": [{"n": 2, "tags": ["a"], "colour": "GREEN", "note": None}]},
                               "t": {"value": 1, "children": [{"children": [{"value": None}]}]}}),
    (TOY, TOY_DEFINITIONS[2], {"s": None}),
    (TOY, TOY_DEFINITIONS[2], {}),
    (PRODUCT, PRODUCT_DEFINITIONS[0], {"input": {"showId": "s", "seatIds": ["1", "2"], "idempotencyKey": "k"}}),
    (PRODUCT, PRODUCT_DEFINITIONS[0], {"input": {"showId": "s", "generalAdmission": [{"sectionId": "a", "quantity": 2}],
                                                 "idempotencyKey": "k", "admissionToken": None, "seatIds": None}}),
    (PRODUCT, PRODUCT_DEFINITIONS[1], {"input": {"holdId": "h", "idempotencyKey": "k"}}),
    (PRODUCT, PRODUCT_DEFINITIONS[3], {"input": {"eventId": "e", "startsAt": "2030-01-01T20:00:00+00:00",
                                                 "currency": "USD", "priceTiers": [{"name": "A", "priceCents": 5,
                                                                                    "sections": ["Floor"]}]},
                                       "venue": {"name": "V", "city": "C", "sections": [
                                           {"name": "S", "rows": [{"label": "A", "seatCount": 3,
                                                                   "accessibleSeats": [1]}]}]}}),
    (PRODUCT, PRODUCT_DEFINITIONS[4], {"filter": {"city": "Oslo"}, "first": 5}),
    (PRODUCT, PRODUCT_DEFINITIONS[5], {"id": "abc"}),
])
def test_plain_values_are_coerced_here_as_graphql_core_does(schema: GraphQLSchema, text: str,
                                                            inputs: dict[str, Any]) -> None:
    assert check(schema, text, inputs) is not None


@pytest.mark.parametrize(("schema", "text", "inputs"), [
    (TOY, TOY_DEFINITIONS[0], {}),  # a non-null variable missing
    (TOY, TOY_DEFINITIONS[0], {"b": None}),
    (TOY, TOY_DEFINITIONS[0], {"b": "yes"}),  # a leaf its type refuses
    (TOY, TOY_DEFINITIONS[0], {"b": True, "c": "BLUE"}),
    (TOY, TOY_DEFINITIONS[0], {"b": True, "l": [1]}),  # a single value graphql-core wraps in a list
    (TOY, TOY_DEFINITIONS[0], {"b": True, "o": {"inners": [], "nope": 1}}),  # an unknown field
    (TOY, TOY_DEFINITIONS[0], {"b": True, "o": {"inners": [{"tags": []}]}}),  # a required field missing
    (TOY, TOY_DEFINITIONS[2], {"p": {"a": 1}}),  # one-of input objects are graphql-core's
    (TOY, TOY_DEFINITIONS[3], {}),  # defaults to apply
    (PRODUCT, PRODUCT_DEFINITIONS[0], {"input": {"showId": 5, "idempotencyKey": "k", "seatIds": "1"}}),
    (PRODUCT, PRODUCT_DEFINITIONS[4], {"first": 2**40}),
    (PRODUCT, PRODUCT_DEFINITIONS[3], {"input": {"eventId": "e", "startsAt": "tomorrow", "currency": "USD",
                                                 "priceTiers": []}}),
])
def test_anything_else_is_left_to_graphql_core(schema: GraphQLSchema, text: str, inputs: dict[str, Any]) -> None:
    assert check(schema, text, inputs) is None


def test_nesting_past_graphql_cores_limit_is_left_to_it() -> None:
    tree: dict[str, Any] = {"value": 1}
    for _ in range(120):
        tree = {"children": [tree]}
    assert check(TOY, TOY_DEFINITIONS[4], {"t": tree}) is None
    assert isinstance(get_variable_values(TOY, definitions(TOY_DEFINITIONS[4]), {"t": tree}), list)


def test_a_value_too_deep_for_the_stack_is_left_to_graphql_core() -> None:
    tree: dict[str, Any] = {"value": 1}
    for _ in range(90):  # 180 levels: within graphql-core's limit of 200
        tree = {"children": [tree]}
    coercer = variable_coercer(TOY, definitions(TOY_DEFINITIONS[4]))
    assert coercer is not None and coercer({"t": tree}) is not None
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 100)
    try:
        assert coercer({"t": tree}) is None
    finally:
        sys.setrecursionlimit(limit)


def test_a_definition_of_no_input_type_has_no_coercer() -> None:
    assert variable_coercer(PRODUCT, definitions("($s: Show)")) is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.sampled_from(
        ["RED", "GREEN", "x", "2030-01-01T20:00:00+00:00", "USD", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["n", "tags", "colour", "note", "inner", "inners", "id", "value", "children", "a", "b", "showId", "seatIds",
         "idempotencyKey", "holdId", "generalAdmission", "sectionId", "quantity", "city", "first", "other"]),
        inner, max_size=5),
    max_leaves=12)
NAMES = ["o", "t", "p", "c", "l", "d", "b", "s", "i", "input", "id", "filter", "first", "after", "venue"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([(TOY, d) for d in TOY_DEFINITIONS] + [(PRODUCT, d) for d in PRODUCT_DEFINITIONS]),
       st.dictionaries(st.sampled_from(NAMES), JSON, max_size=4))
def test_any_json_is_coerced_as_graphql_core_coerces_it_or_left_to_it(case: tuple[GraphQLSchema, str],
                                                                       inputs: dict[str, Any]) -> None:
    check(case[0], case[1], inputs)


HOLD = ("mutation Hold($input: HoldSeatsInput!) { holdSeats(input: $input) { ...H } } "
        "fragment H on HoldResult { __typename ... on Hold { id } }")


def test_an_executor_is_the_one_build_makes() -> None:
    document = parse(HOLD)
    variables = {"input": {"showId": "s", "seatIds": ["1"], "idempotencyKey": "k"}}
    prepared = prepare_execution(PRODUCT, document, "Hold")
    assert prepared is not None
    ours = prepared.executor(EXECUTOR, "context", variables, {"e": 1})
    theirs = EXECUTOR.build(PRODUCT, document, None, "context", variables, "Hold",
                            operation_extensions={"e": 1})  # type: ignore[call-arg]
    assert ours is not None and isinstance(theirs, EXECUTOR)
    ignored = {"variable_values", "async_helpers", "collected_errors", "pending_incremental_futures",
               "background_futures", "_relevant_sub_fields", "_stream_usages", "is_awaitable"}
    mine, built = vars(ours), vars(theirs)
    assert mine.keys() == built.keys()
    for name in mine.keys() - ignored:
        assert mine[name] == built[name], name
    same(ours.variable_values, theirs.variable_values)
    assert prepared.executor(EXECUTOR, None, {"input": {"showId": 1}}, None) is None  # graphql-core's to refuse


@pytest.mark.parametrize(("text", "name"), [
    ("query A { __typename } query B { __typename }", None),  # build asks for a name
    ("query A { __typename }", "B"),  # no such operation
    ("query A { ...F } fragment F($x: Int) on Query { __typename }", "A"),  # fragment variables
])
def test_documents_build_refuses_are_not_prepared(text: str, name: str | None) -> None:
    assert prepare_execution(PRODUCT, parse(text, experimental_fragment_arguments=True), name) is None
