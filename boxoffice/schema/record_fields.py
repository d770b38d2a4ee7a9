"""Fields read straight from the domain record a GraphQL type wraps.

On a type holding `record: Private[SomeRecord]`, `name = record_field(str)` resolves
`self.record.name`, with IDs turned into strawberry IDs and enum values into the schema's enums.
A resolver field rather than a plain one, so it keeps its place among the type's other resolver
fields (strawberry lists plain fields first, and the exported schema must not change).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from enum import Enum
from typing import Any

import strawberry
from strawberry.types.field import StrawberryField


def record_field(graphql_type: Any, *, description: str | None = None) -> Any:
    convert = _converter(graphql_type)

    def resolve(root: Any, info: strawberry.Info) -> Any:
        return convert(getattr(root.record, info.python_name))

    resolve.__annotations__ = {"root": Any, "info": strawberry.Info, "return": graphql_type}
    resolve.record_converter = convert  # type: ignore[attr-defined]  # read by record_reader
    return strawberry.field(resolver=resolve, description=description)


def record_reader(field: StrawberryField) -> Callable[[Any], Any] | None:
    """What a record_field's resolver answers for a source, without an Info (leaf_reads.py);
    None for any other field."""
    resolver = field.base_resolver
    convert = getattr(resolver.wrapped_func, "record_converter", None) if resolver is not None else None
    if convert is None:
        return None
    name = field.python_name  # the Info's python_name, which the resolver reads
    return lambda source: convert(getattr(source.record, name))


def _converter(graphql_type: Any) -> Callable[[Any], Any]:
    if isinstance(graphql_type, types.UnionType) or typing.get_origin(graphql_type) is typing.Union:
        inner = [a for a in typing.get_args(graphql_type) if a is not type(None)]
        convert = _converter(inner[0]) if len(inner) == 1 else _same
        return lambda value: None if value is None else convert(value)
    if graphql_type is strawberry.ID:
        return lambda value: strawberry.ID(str(value))
    if isinstance(graphql_type, type) and issubclass(graphql_type, Enum):
        return graphql_type
    return _same


def _same(value: Any) -> Any:
    return value
