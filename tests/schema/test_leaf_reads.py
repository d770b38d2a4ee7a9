"""Plain leaf fields read by the executor itself (schema/leaf_reads.py) answer exactly what graphql-core
answers through their resolvers: values, nulls, and every error a read or a serialisation can give.
(tests/schema/test_direct_resolvers.py compares the product's schema with one without its executor's
speed-ups, on every document of the frontend sample.)"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any, NewType

import pytest
import strawberry
from graphql import GraphQLObjectType
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry import Private

from boxoffice.schema.build import build_schema
from boxoffice.schema.direct_resolvers import install_direct_resolvers
from boxoffice.schema.leaf_reads import leaf_read, with_leaf_reads
from boxoffice.schema.record_fields import record_field


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Record:
    id: uuid.UUID
    colour: str
    count: int | None
    name: str


@strawberry.type
class Thing:
    record: Private[Any]
    id = record_field(strawberry.ID)
    colour = record_field(Colour)
    count = record_field(int | None)
    name = record_field(str)


# Serialises null to text and "void" to null: graphql-core never serialises a null, and refuses a
# non-null field whose serialisation is null.
Odd = strawberry.scalar(NewType("Odd", str), serialize=lambda v: "nothing" if v is None else None if v == "void" else v,
                        parse_value=lambda v: v)


@strawberry.type
class Plain:
    label: str
    size: int | None
    tone: Colour | None
    odd: Odd = "fine"  # type: ignore[valid-type]
    maybe: Odd | None = None  # type: ignore[valid-type]

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.label.upper() * times


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing]:
        return [Thing(record=Record(uuid.UUID(int=1), "red", 3, "one")),
                Thing(record=Record(uuid.UUID(int=2), "blue", None, "two"))]

    @strawberry.field
    def odd_things(self) -> list[Thing | None]:
        return [Thing(record=Record(uuid.UUID(int=3), "green", 1, "three")),  # not a Colour
                Thing(record=Record(uuid.UUID(int=4), "blue", 2**40, "four")),  # beyond Int
                Thing(record=object()),  # no attributes at all
                Thing(record=Record(uuid.UUID(int=5), "red", 5, "five"))]

    @strawberry.field
    def plains(self) -> list[Plain | None]:
        return [Plain(label="a", size=1, tone=Colour.RED), Plain(label=None, size=None, tone=None),  # type: ignore[arg-type]
                Plain(label="c", size="many", tone=Colour.BLUE), Plain(label="d", size=4, tone=None),  # type: ignore[arg-type]
                Plain(label="e", size=5, tone=None, odd="void", maybe="void")]  # type: ignore[arg-type]


DOCUMENTS = [
    "{ things { __typename id colour count name } }",
    "{ things { n: name c: count ...F } } fragment F on Thing { id name @include(if: true) }",
    "{ oddThings { __typename id colour count name } }",
    "{ plains { __typename label size tone shout(times: 2) odd maybe } }",
    "{ plains { size } oddThings { name } __typename things { id } }",
]


def _schemas(*, extensions: list[Any] | None = None) -> tuple[strawberry.Schema, strawberry.Schema]:
    plain = strawberry.Schema(query=Query, extensions=extensions or [])
    fast = strawberry.Schema(query=Query, extensions=extensions or [],
                             execution_context_class=with_leaf_reads(StrawberryGraphQLCoreExecutionContext))
    for schema in (plain, fast):
        install_direct_resolvers(schema)
    return plain, fast


def _answer(result: Any) -> str:
    return json.dumps({"data": result.data, "errors": [e.formatted for e in result.errors or []]})


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_same_answers_and_errors_as_graphql_core(document: str) -> None:
    plain, fast = _schemas()
    expected, got = _answer(plain.execute_sync(document)), _answer(fast.execute_sync(document))
    assert got == expected  # key order and error order included
    assert '"name": "one"' in got or '"label": "a"' in got or '"name": "five"' in got  # the reads answered
    assert any(fast.execution_context_class.leaf_reads.values())  # type: ignore[union-attr]


def test_errors_are_graphql_cores_own() -> None:
    _, fast = _schemas()
    errors = {e.message for document in DOCUMENTS for e in fast.execute_sync(document).errors or []}
    assert errors == {"'green' is not a valid Colour",  # a record field's conversion
                      "Int cannot represent non 32-bit signed integer value: 1099511627776",  # serialisation
                      "Int cannot represent non-integer value: 'many'",
                      "'object' object has no attribute 'id'",  # the read
                      "'object' object has no attribute 'name'",
                      "Cannot return null for non-nullable field Plain.label.",
                      "Expected `Odd.coerce_output_value('void')` to return non-nullable value, returned: None"}


def test_resolver_middleware_still_sees_every_field() -> None:
    seen: list[str] = []

    class Watch(SchemaExtension):
        def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(f"{info.parent_type.name}.{info.field_name}")
            return _next(root, info, *args, **kwargs)

    plain, fast = _schemas(extensions=[Watch])
    expected = _answer(plain.execute_sync(DOCUMENTS[4]))
    watched = list(seen)
    seen.clear()
    assert _answer(fast.execute_sync(DOCUMENTS[4])) == expected
    assert seen == watched and "Thing.name" in seen


def test_which_fields_are_read() -> None:
    schema = build_schema()._schema

    def read(type_name: str, field: str) -> bool:
        parent = schema.type_map[type_name]
        assert isinstance(parent, GraphQLObjectType)
        return leaf_read(parent, field) is not None

    # record fields, strawberry fields without a resolver, __typename
    assert read("Hold", "id") and read("Hold", "status") and read("Hold", "expiresAt") and read("Hold", "__typename")
    assert read("Payment", "provider") and read("Seat", "status")
    # objects, lists of objects, resolvers of their own, arguments
    assert not read("Hold", "show") and not read("Hold", "generalAdmission") and not read("Hold", "seats")
    assert not read("Query", "serverTime") and not read("Query", "show")
    # a record field whose direct resolver is not installed keeps strawberry's wrapper
    unwrapped = build_schema(direct_resolvers=False)._schema
    hold = unwrapped.type_map["Hold"]
    assert isinstance(hold, GraphQLObjectType)
    assert leaf_read(hold, "id") is None and leaf_read(hold, "__typename") is not None
