"""The query-cost limit refuses expensive documents before they run, and lets real pages through;
validation costs what the document's text costs, however its fragments spread."""

import time

import pytest

from boxoffice.schema.cost import MAX_COST


async def test_expensive_nesting_is_refused_cheap_pages_pass(api) -> None:
    heavy = """{ events(first: 100) { edges { node { shows { seats { id status version priceCents x y row number
      section sectionId accessible obstructedView } } } } } }"""
    body = await api.post(heavy)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert "too much" in body["errors"][0]["message"] and str(MAX_COST) in body["errors"][0]["message"]
    listing = """{ events(first: 20) { edges { cursor node { id name performer category venue { name city
      sections { id name capacity } } shows { id startsAt priceTiers { name priceCents }
      availability { version sections { name available } } } } } pageInfo { hasNextPage endCursor } } }"""
    assert "errors" not in await api.post(listing)
    # A page size given as a variable counts as the largest page: the document is judged once.
    variable = heavy.replace("{ events(first: 100)", "query($n: Int) { events(first: $n)")
    assert (await api.post(variable, {"n": 1}))["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_the_whole_schema_is_read_once_a_document(api) -> None:
    """The introspection query passes, with a seat map beside it; the whole schema thirty times
    under aliases (0.8 s of CPU and 1.3 MB an anonymous request) does not."""
    from graphql import get_introspection_query

    body = await api.post(get_introspection_query())
    assert "errors" not in body and body["data"]["__schema"]["queryType"]["name"] == "Query"
    types = "types { name kind possibleTypes { name fields { name type { name } } } }"
    two = await api.post("{ a: __schema { %s } b: __schema { %s } }" % (types, types))
    assert two["errors"][0]["extensions"]["code"] == "INVALID_INPUT" and "too much" in two["errors"][0]["message"]
    small = await api.post('{ a: __type(name: "Show") { name } b: __type(name: "Order") { name } __typename }')
    assert small["data"] == {"a": {"name": "Show"}, "b": {"name": "Order"}, "__typename": "Query"}


# ------------------------------------------------------------------------------------------ validation work


def fragment_bomb(levels: int, field: str = "a: serverTime", spacing: str = " ") -> str:
    fragments = [f"fragment F0 on Query {{ {field} }}"]
    fragments += [f"fragment F{i} on Query {{{spacing}...F{i - 1} {field}{spacing}...F{i - 1} }}"
                  for i in range(1, levels + 1)]
    return f"{{ ...F{levels} }}{spacing}" + spacing.join(fragments)


def validation_cpu(schema, document: str) -> tuple[float, list]:  # noqa: ANN001
    """CPU seconds of validating `document` with the rules the server uses, and the errors."""
    from graphql import parse
    from graphql.validation import OverlappingFieldsCanBeMergedRule, specified_rules
    from strawberry.schema.schema import validate_document

    from boxoffice.schema.document_limits import LimitedValidation, ValidationClock

    limited = next(e for e in schema.get_extensions() if isinstance(e, LimitedValidation))
    rules = (*(r for r in specified_rules if r is not OverlappingFieldsCanBeMergedRule), *limited.validation_rules)
    parsed = parse(document, max_tokens=5_000)
    clock = ValidationClock()  # the budget's clock: a garbage collection meanwhile is not counted
    started = clock()
    errors = validate_document(schema._schema, parsed, rules)
    return clock() - started, errors


def test_fragment_bombs_are_measured_once_per_fragment() -> None:
    """Validation work grows with the document's text, not with what its fragments expand to."""
    from graphql import GraphQLSchema, ValidationContext, parse
    from graphql.utilities import TypeInfo

    from boxoffice.schema.build import MAX_ALIASES, MAX_DEPTH, build_schema
    from boxoffice.schema.document_limits import Limits, measure_document

    schema: GraphQLSchema = build_schema()._schema
    limits = Limits(max_depth=MAX_DEPTH, max_aliases=MAX_ALIASES, max_spreads=100, budget_ms=1_000)
    walked = {}
    for levels in (10, 20, 25):
        # __typename costs nothing, aliases nothing, adds no depth: every level is walked, none refused.
        document = parse(fragment_bomb(levels, field="__typename"))
        context = ValidationContext(schema, document, TypeInfo(schema), lambda error: None)
        walked[levels] = measure_document(context, limits, deadline=time.thread_time() + 10).walked
    # Written: one selection in the operation, one in F0, three in each other fragment. Walked: each once.
    assert walked == {levels: 3 * levels + 2 for levels in (10, 20, 25)}


@pytest.mark.parametrize("field", ["a: serverTime", "serverTime", "__typename"])
def test_a_25_level_fragment_bomb_is_validated_in_well_under_100_ms(field: str) -> None:
    from boxoffice.schema.build import build_schema

    schema = build_schema()
    took, errors = validation_cpu(schema, fragment_bomb(25, field))
    assert took < 0.05, took
    if field != "__typename":  # 2^25 aliases, or fields: refused, typed
        (error,) = errors
        assert error.extensions == {"code": "INVALID_INPUT"}, error
        assert "aliases found. Allowed: 30" in error.message or "too much" in error.message, error.message


@pytest.mark.parametrize("document", [
    "{ " + " ".join('show(id: "1") { id }' for _ in range(450)) + " }",
    "{ " + " ".join('show(id: "1") { event { id } }' for _ in range(320)) + " }",
    "{ " + " ".join("serverTime" for _ in range(900)) + " }",
    "{ " + " ".join(f"...F{i}" for i in range(100)) + " } "
    + " ".join(f'fragment F{i} on Query {{ show(id: "1") {{ id }} }}' for i in range(100)),
], ids=["same-field-450", "same-nested-field-320", "same-leaf-900", "100-fragments"])
def test_documents_under_10_kb_cost_validation_under_100_ms(document: str) -> None:
    """graphql-core's overlap check compares every pair of same-named fields (up to 500,000 steps,
    a second): here it has a budget, and the CPU budget (BOXOFFICE_VALIDATION_BUDGET_MS) stops the rest."""
    from boxoffice.schema.build import build_schema

    assert len(document.encode()) < 10_000
    took, errors = validation_cpu(build_schema(), document)
    assert took < 0.1, took
    assert [e.extensions for e in errors] == [{"code": "INVALID_INPUT"}], errors


def test_fragment_spreads_are_capped_document_wide() -> None:
    from boxoffice.schema.build import MAX_FRAGMENT_SPREADS, build_schema

    many = "{ " + " ".join("...F" for _ in range(MAX_FRAGMENT_SPREADS + 1)) + " } fragment F on Query { serverTime }"
    result = build_schema().execute_sync(many)
    (error,) = result.errors or []
    assert error.message == f"{MAX_FRAGMENT_SPREADS + 1} fragment spreads found. Allowed: {MAX_FRAGMENT_SPREADS}"
    allowed = many.replace("...F ", "", 1)
    assert not build_schema().execute_sync(allowed).errors


def test_the_validation_budget_refuses_a_document_that_takes_longer() -> None:
    from boxoffice.schema.build import build_schema

    schema = build_schema(validation_budget_ms=0)  # every document is over it
    result = schema.execute_sync("{ serverTime }")
    (error,) = result.errors or []
    assert "took too long to check" in error.message and error.extensions == {"code": "INVALID_INPUT"}


def test_spellings_of_one_document_are_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from boxoffice.schema import validation_cache
    from boxoffice.schema.build import build_schema

    validated = []
    real = validation_cache.validate_document
    monkeypatch.setattr(validation_cache, "validate_document", lambda *a: validated.append(1) or real(*a))
    schema = build_schema()
    spellings = [fragment_bomb(25), fragment_bomb(25, spacing="\n\t "), fragment_bomb(25, spacing=" , "),
                 "# a comment first\n" + fragment_bomb(25).replace("} fragment", "}\ufefffragment")]
    for document in spellings:
        (error,) = schema.execute_sync(document).errors or []
        assert "aliases found" in error.message and error.extensions == {"code": "INVALID_INPUT"}
    assert len(validated) == 1
    # Another document is another validation.
    schema.execute_sync(fragment_bomb(24))
    assert len(validated) == 2


@pytest.mark.parametrize("one, other", [
    ("{ a b }", "{ ab }"),
    ('{ show(id: "a b") { id } }', '{ show(id: "a  b") { id } }'),
    ('{ show(id: "#1") { id } }', '{ show(id: "#2") { id } }'),
    ('{ show(id: """a\n b""") { id } }', '{ show(id: """a\nb""") { id } }'),
    ("{ a(n: 1.5) }", "{ a(n: 1 .5) }"),
])
def test_documents_that_differ_get_different_keys(one: str, other: str) -> None:
    from boxoffice.schema.validation_cache import document_key

    assert document_key(one) != document_key(other)


def test_white_space_commas_and_comments_do_not_make_a_new_document() -> None:
    from boxoffice.schema.validation_cache import document_key

    assert len({document_key("{ a b }"), document_key("{a,b}"), document_key("\ufeff{\n  a # a comment\n\tb\n}"),
                document_key("{ a, b, }")}) == 1


def test_seat_maps_are_priced_by_the_largest_venue() -> None:
    from boxoffice.schema.build import build_schema
    from boxoffice.schema.cost import MAX_SHOW_SEATS

    schema = build_schema()
    one = 'query($id: ID!) { show(id: $id) { id seats { id status } availability { version } } }'
    _, errors = validation_cpu(schema, one)
    assert not errors
    # A map and a section's map (as tests and tools ask) fit; three maps do not.
    two = 'query($id: ID!) { a: show(id: $id) { seats { id } } b: show(id: $id) { seats(sectionId: "1") { id } } }'
    assert not validation_cpu(schema, two)[1]
    three = two[:-1] + "c: show(id: $id) { seats { id } } }"
    (error,) = validation_cpu(schema, three)[1]
    assert f"estimated cost {3 * (2 + MAX_SHOW_SEATS)} > {MAX_COST}" in error.message
    # Every show of an event: ten seat maps.
    _, errors = validation_cpu(schema, 'query($id: ID!) { show(id: $id) { event { shows { seats { id } } } } }')
    assert "too much" in errors[0].message


async def test_a_document_logs_in_or_signs_up_once(api) -> None:
    """Each is a password hash (argon2, tens of ms): thirty aliased successful log-ins, which the
    failed-log-in limit does not count, were seconds of CPU for one request."""
    log_in = 'a: logIn(email: "nobody@example.test", password: "not-this-one") { __typename }'
    two = await api.post("mutation { %s %s }" % (log_in, log_in.replace("a:", "b:")))
    assert two["errors"][0]["extensions"]["code"] == "INVALID_INPUT" and "too much" in two["errors"][0]["message"]
    sign_up = 'b: signUp(input: {email: "x@example.test", password: "long enough pass", name: "X"}) { __typename }'
    assert "too much" in (await api.post("mutation { %s %s }" % (log_in, sign_up)))["errors"][0]["message"]
    one = await api.post("mutation { %s }" % log_in)
    assert one["data"]["a"]["__typename"] == "Rejected", one
