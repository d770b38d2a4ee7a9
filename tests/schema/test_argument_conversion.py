"""Converters built once per argument type (schema/argument_conversion.py) answer what strawberry's
`convert_arguments` answers, for every argument of every field of the schema: inputs given in
full, with only what they require, and with every optional field null, as graphql-core coerces
them from a request's variables."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from graphql import (GraphQLEnumType, GraphQLError, GraphQLInputObjectType, GraphQLInputType, GraphQLList,
                     GraphQLNonNull, GraphQLObjectType, GraphQLScalarType, Undefined, coerce_input_value)
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from boxoffice.schema.argument_conversion import argument_converter
from boxoffice.schema.build import build_schema

SCALARS = {"String": "text", "ID": "4d0c9a52-7a4b-4cde-9f3e-5b8f0c2d1a6e", "Int": 7, "Float": 2.5,
           "Boolean": True, "DateTime": "2026-12-04T10:00:00+00:00"}
SHAPES = ("full", "required", "nulls")


def _sample(graphql_type: GraphQLInputType, shape: str, depth: int = 0) -> Any:
    """A request's JSON for the type: every field, only the required ones, or the optional ones null."""
    if isinstance(graphql_type, GraphQLNonNull):
        return _sample(graphql_type.of_type, shape, depth)
    if isinstance(graphql_type, GraphQLList):
        return [_sample(graphql_type.of_type, shape, depth + 1) for _ in range(2)]
    if isinstance(graphql_type, GraphQLScalarType):
        return SCALARS[graphql_type.name]  # a new scalar needs a sample here
    if isinstance(graphql_type, GraphQLEnumType):
        return next(iter(graphql_type.values))
    assert isinstance(graphql_type, GraphQLInputObjectType)
    value = {}
    for name, field in graphql_type.fields.items():
        if shape == "full" or isinstance(field.type, GraphQLNonNull):
            value[name] = _sample(field.type, shape, depth + 1) if depth < 8 else None
        elif shape == "nulls":
            value[name] = None
    return value


def _arguments_of(schema: Any) -> list[tuple[str, StrawberryField]]:
    fields = []
    for graphql_type in schema._schema.type_map.values():
        if isinstance(graphql_type, GraphQLObjectType) and not graphql_type.name.startswith("__"):
            for name, graphql_field in graphql_type.fields.items():
                field = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
                if isinstance(field, StrawberryField) and field.arguments:
                    fields.append((f"{graphql_type.name}.{name}", field))
    return fields


SCHEMA = build_schema()
FIELDS = _arguments_of(SCHEMA)


def test_every_argument_type_of_the_schema_is_built_once() -> None:
    converter = SCHEMA.schema_converter
    assert len(FIELDS) > 40
    left_to_strawberry = [name for name, field in FIELDS
                          if argument_converter(list(field.arguments), converter.scalar_registry,
                                                converter.config)[1]]
    assert left_to_strawberry == []  # none needs strawberry's Info to be converted


@pytest.mark.parametrize("name,field", FIELDS, ids=[name for name, _ in FIELDS])
def test_converters_answer_what_strawberry_answers(name: str, field: StrawberryField) -> None:
    converter = SCHEMA.schema_converter
    scalars, config = converter.scalar_registry, converter.config
    graphql_type, _, field_name = name.partition(".")
    graphql_arguments = SCHEMA._schema.type_map[graphql_type].fields[field_name].args  # type: ignore[union-attr]
    convert, _ = argument_converter(list(field.arguments), scalars, config)
    compared = 0
    for shape in SHAPES:
        try:
            raw = {arg: coerce_input_value(_sample(a.type, shape), a.type) for arg, a in graphql_arguments.items()
                   if shape == "full" or isinstance(a.type, GraphQLNonNull)}
        except GraphQLError:
            continue  # e.g. a oneOf input given every field
        if any(v is Undefined for v in raw.values()):
            continue
        expected = convert_arguments(raw, list(field.arguments), scalar_registry=scalars, config=config)
        assert convert(raw, None) == expected, shape
        assert _types(convert(raw, None)) == _types(expected), shape
        for python_name, value in convert(raw, None).items():  # a list is copied, as strawberry copies it:
            assert not isinstance(value, list) or all(value is not v for v in raw.values())  # defaults are shared
        compared += 1
    assert compared


def _types(value: Any) -> Any:
    """The value's shape by type: equal dataclasses of different classes would compare equal."""
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None:
        return type(value), {k: _types(getattr(value, k)) for k in fields}
    return type(value)


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.input
class Line:
    quantity: int
    note: str | None  # no default: strawberry gives None when it is absent
    colour: Colour = Colour.RED
    tags: list[str | None] | None = None


@strawberry.input
class Basket:
    lines: list[Line]
    inner: Basket | None = None  # an input that contains itself
    colours: list[Colour] | None = None


@strawberry.input
class Labelled:
    label: strawberry.Maybe[str]  # strawberry's: so is every argument of this type


@strawberry.type
class _Query:
    @strawberry.field
    def pair(self, a: Labelled, b: Labelled | None = None) -> int:
        return 0

    @strawberry.field
    def basket(self, basket: Basket, label: strawberry.Maybe[str | None] = None, first: int = 10,
               ids: list[strawberry.ID] | None = None) -> int:
        return first


def test_shapes_this_schema_lacks() -> None:
    """Types the schema does not use today: a field without a default, a recursive input, Maybe."""
    schema = strawberry.Schema(query=_Query)
    field = next(f for f in _Query.__strawberry_definition__.fields if f.python_name == "basket")
    converter = schema.schema_converter
    convert, needs_info = argument_converter(list(field.arguments), converter.scalar_registry, converter.config)
    assert needs_info  # Maybe is strawberry's: Some(...)
    line = {"quantity": 2, "colour": Colour.BLUE, "tags": ["a", None]}
    raws = [{"basket": {"lines": [line, {"quantity": 1, "note": "x"}], "colours": [Colour.RED],
                        "inner": {"lines": [line], "inner": None}},
             "label": "m", "first": 3, "ids": ["1", "2"]},
            {"basket": {"lines": []}, "ids": None}]
    for raw in raws:
        expected = convert_arguments(raw, list(field.arguments), scalar_registry=converter.scalar_registry,
                                     config=converter.config)
        assert convert(raw, None) == expected
        assert _types(convert(raw, None)) == _types(expected)
    converted = convert(raws[0], None)
    assert converted["basket"].lines[0].note is None and converted["basket"].inner.lines[0].quantity == 2
    assert converted["label"].value == "m"


def test_a_type_left_to_strawberry_is_left_to_it_for_every_argument() -> None:
    schema = strawberry.Schema(query=_Query)
    field = next(f for f in _Query.__strawberry_definition__.fields if f.python_name == "pair")
    converter = schema.schema_converter
    convert, needs_info = argument_converter(list(field.arguments), converter.scalar_registry, converter.config)
    raw = {"a": {"label": "x"}, "b": {"label": "y"}}
    expected = convert_arguments(raw, list(field.arguments), scalar_registry=converter.scalar_registry,
                                 config=converter.config)
    assert needs_info and convert(raw, None) == expected and convert(raw, None)["b"].label.value == "y"
