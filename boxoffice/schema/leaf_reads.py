"""Leaf fields read straight off their source, without graphql-core's per-field machinery.

For every field of every answer graphql-core builds a resolve info, checks for arguments, calls the
resolver, tests the result for awaitability and completes it through its type. For a scalar or enum
field that only reads an attribute (a strawberry field without a resolver, or a `record_field`),
that is most of the cost of the field, and answers are mostly such fields. Here the executor reads
the attribute and serialises it itself, once per field, for every document and transport; the
object and list fields around it, and every field with arguments or a resolver of its own, go
through graphql-core as before.

Only a value that reads and serialises cleanly is answered here. Anything else (null, a read or a
serialisation that raises or gives null) goes to graphql-core's own path, which reads the attribute
again (a read has no side effects) and reports what went wrong exactly as it always does. Schema
extensions that wrap resolvers (graphql-core middleware) see every field, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLEnumType, GraphQLField, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType
from graphql.execution import Executor
from graphql.pyutils import AwaitableOrValue, Path, Undefined
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from .record_fields import record_reader

# Directives already applied when a field was collected (also used by leaf_rows.py).
DECIDED_DIRECTIVES = frozenset({"include", "skip"})


@dataclass(frozen=True, slots=True)
class LeafRead:
    read: Callable[[Any], Any]  # source -> the resolver's value
    serialize: Callable[[Any], Any]  # the field's scalar or enum output coercion, as graphql-core calls it


class LeafReadsExecution(Executor):
    """Mixed in before the schema's execution context class (see `with_leaf_reads`)."""

    # (parent type, field name) -> how to read it, or None for a field graphql-core executes.
    # One per schema: `with_leaf_reads` makes the class, build_schema makes one per schema.
    leaf_reads: dict[tuple[GraphQLObjectType, str], LeafRead | None]

    def execute_field(self, parent_type: GraphQLObjectType, source: Any, field_details_list: Any, path: Path,
                      position_context: Any) -> AwaitableOrValue[Any]:
        node = field_details_list[0].node
        key = (parent_type, node.name.value)
        try:
            leaf = self.leaf_reads[key]
        except KeyError:
            leaf = self.leaf_reads[key] = leaf_read(parent_type, node.name.value)
        middleware = self.middleware_manager
        if (leaf is not None and not node.arguments and (middleware is None or not middleware.middlewares)
                and (not node.directives or all(d.name.value in DECIDED_DIRECTIVES for d in node.directives))):
            try:
                value = leaf.read(source)
                if value is not None:
                    serialized = leaf.serialize(value)
                    if serialized is not None and serialized is not Undefined:
                        return serialized
            except Exception:  # noqa: BLE001, S110 - graphql-core reads it again and reports it
                pass
        return super().execute_field(parent_type, source, field_details_list, path, position_context)


def leaf_read(parent_type: GraphQLObjectType, name: str) -> LeafRead | None:
    """How a field reads, when it is a scalar or enum field that only reads an attribute."""
    if name == "__typename":  # graphql-core's meta field: the parent type's name
        type_name = parent_type.name
        return LeafRead(lambda _: type_name, _same)
    definition = parent_type.fields.get(name)
    found = leaf_field(definition) if definition is not None else None
    if found is None:
        return None
    field, leaf = found
    if reads_attribute(field, definition):
        default, python_name = field.default_resolver, field.python_name
        return LeafRead(lambda source: default(source, python_name), leaf.coerce_output_value)
    reader = record_reader(field)
    if reader is None or definition.resolve is None or getattr(definition.resolve, "direct", None) is not field:
        return None  # a resolver of its own, or strawberry's wrapper (exception handlers) around it
    return LeafRead(reader, leaf.coerce_output_value)


def leaf_field(definition: GraphQLField) -> tuple[StrawberryField, GraphQLScalarType | GraphQLEnumType] | None:
    """A scalar or enum field without arguments: its strawberry field and its leaf type, when nothing
    (field extensions, permissions) runs around its resolver. Also used by leaf_rows.py."""
    field_type = definition.type
    leaf = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    if not isinstance(leaf, (GraphQLScalarType, GraphQLEnumType)) or definition.args:
        return None
    field = (definition.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if (not isinstance(field, StrawberryField) or field.extensions or field.permission_classes
            or field.is_subscription):
        return None
    return field, leaf


def reads_attribute(field: StrawberryField, definition: GraphQLField) -> bool:
    """Whether the field resolves by strawberry's own resolver for a field without one (it marks it
    `_is_default`): the config's default resolver with the attribute's name, and nothing else."""
    return field.base_resolver is None and getattr(definition.resolve, "_is_default", False)


def _same(value: Any) -> Any:
    return value


def with_leaf_reads(base: type[Executor]) -> type[Executor]:
    """The schema's execution context class, reading plain leaf fields itself; one class per schema,
    as it keeps what it learnt about the schema's fields."""
    return type(f"LeafReads{base.__name__}", (LeafReadsExecution, base), {"leaf_reads": {}})
