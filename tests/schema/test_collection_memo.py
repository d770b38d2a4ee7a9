"""Sub-field collections shared between executions of a document (schema/collection_memo.py): the
same answers as collecting per execution, for documents whose @skip/@include read variables too,
and graphql-core's collection runs once per document, not once per execution."""

from __future__ import annotations

import json
from typing import Any

import graphql.execution.executor as graphql_executor
import pytest
import strawberry
from graphql import parse
from strawberry.extensions import ParserCache
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from boxoffice.schema.collection_memo import SharedCollections, collection_is_fixed, with_collection_memo


@strawberry.type
class Seat:
    id: str
    row: str
    price: int


@strawberry.type
class Problem:
    code: str
    message: str


@strawberry.type
class Query:
    @strawberry.field
    def results(self, fail: bool = False) -> list[Seat | Problem]:
        return [Seat(id="s1", row="A", price=10), Problem(code="GONE", message="taken"),
                Seat(id="s2", row="B", price=20)][::-1 if fail else 1]


DOCUMENTS = {
    "fragments on a union, aliases": """
        query { results { __typename ...S ... on Problem { code m: message } } a: results { ... on Seat { id } } }
        fragment S on Seat { id row p: price }""",
    "literal @include and @skip": """
        { results { ... on Seat { id row @include(if: false) price @skip(if: false) } ... on Problem @skip(if: true) { code } } }""",
    "@include reading a variable": """
        query($with: Boolean!) { results(fail: $with) { ... on Seat { id row @include(if: $with) }
                                                         ...P @skip(if: $with) } }
        fragment P on Problem { code message }""",
}


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    """Documents parsed once, as the product's schema parses them (build.py ParsedDocuments)."""
    memo = with_collection_memo(StrawberryGraphQLCoreExecutionContext, max_chars=10_000)
    return (strawberry.Schema(query=Query, extensions=[ParserCache()]),
            strawberry.Schema(query=Query, extensions=[ParserCache()], execution_context_class=memo))


def _answer(schema: strawberry.Schema, document: str, variables: dict[str, Any]) -> str:
    result = schema.execute_sync(document, variables)
    return json.dumps({"data": result.data, "errors": [e.formatted for e in result.errors or []]})


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_the_same_answers_as_collecting_per_execution(name: str) -> None:
    plain, shared = _schemas()
    for variables in ({"with": True}, {"with": False}, {"with": True}, {"with": False}):
        assert _answer(shared, DOCUMENTS[name], variables) == _answer(plain, DOCUMENTS[name], variables)
    assert '"errors": []' in _answer(shared, DOCUMENTS[name], {"with": True})


def test_collected_once_per_document(monkeypatch: pytest.MonkeyPatch) -> None:
    _, shared = _schemas()
    calls = []
    real = graphql_executor.collect_subfields

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[4].name)  # the runtime type
        return real(*args, **kwargs)

    monkeypatch.setattr(graphql_executor, "collect_subfields", counting)
    document = DOCUMENTS["fragments on a union, aliases"]
    first = _answer(shared, document, {})
    once = len(calls)
    assert once == 4  # Seat and Problem for `results`, Seat and Problem for `a`
    for _ in range(3):
        assert _answer(shared, document, {}) == first
    assert len(calls) == once
    varying = DOCUMENTS["@include reading a variable"]
    _answer(shared, varying, {"with": True})
    _answer(shared, varying, {"with": True})
    assert len(calls) == once + 4  # collected on every execution


def test_which_documents_are_fixed() -> None:
    def fixed(text: str) -> bool:
        document = parse(text, experimental_fragment_arguments=True)
        operation = document.definitions[0]
        fragments = {d.name.value: d for d in document.definitions[1:]}  # type: ignore[attr-defined]
        return collection_is_fixed(operation, fragments)  # type: ignore[arg-type]

    assert fixed("query($id: ID!) { show(id: $id) { id a: name @include(if: true) } }")
    assert fixed("query($n: Int) { shows(first: $n) { ...F } } fragment F on Show { id @skip(if: false) }")
    assert not fixed("query($x: Boolean!) { show { id @include(if: $x) } }")
    assert not fixed("query($x: Boolean!) { show { ...F } } fragment F on Show { id @skip(if: $x) }")
    assert not fixed("{ show { ...F @defer } } fragment F on Show { id }")
    assert not fixed("{ show { ...F(x: 1) } } fragment F($x: Int) on Show { id }")


def test_kept_within_a_bound_on_the_documents_length() -> None:
    kept = SharedCollections(max_chars=30)
    documents = [parse(f"{{ field{i} {{ id }} }}") for i in range(3)]  # 17 characters each
    operations = [d.definitions[0] for d in documents]
    first = kept.for_operation(operations[0], {})  # type: ignore[arg-type]
    assert first == {} and kept.for_operation(operations[0], {}) is first  # type: ignore[arg-type]
    second = kept.for_operation(operations[1], {})  # type: ignore[arg-type]  # 34 > 30: the first goes
    assert kept.for_operation(operations[1], {}) is second  # type: ignore[arg-type]
    assert kept.for_operation(operations[0], {}) is not first  # type: ignore[arg-type]
    assert kept.for_operation(parse("{ " + "a " * 20 + "}").definitions[0], {}) is None  # type: ignore[arg-type]
    assert kept.for_operation(parse("{ a }", no_location=True).definitions[0], {}) is None  # type: ignore[arg-type]
