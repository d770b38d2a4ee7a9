"""A request's variables coerced by code built once per operation, where graphql-core's answer is plain.

graphql-core coerces variables by walking their types generically on every request: each
definition's signature from its AST, a nesting-depth walk, then `coerce_input_value`'s recursion
with its type tests at every level (holdSeats' input: 10 µs here, 3 µs this way; an ID: 3.5 against
1.1). A VariableCoercer is that walk for one operation, built once: each variable's type becomes a
nest of closures that do only what graphql-core does for a value of exactly the type's shape (a
list for a list, an object of known fields for an input object, a leaf its type accepts, null where
the type is nullable), with the schema's own leaf coercion, field defaults and input classes.

Anything else declines, and graphql-core coerces that request itself: a value it would refuse (so
its errors and their wording stay its own), a single value it would wrap in a list, a missing
variable with a default, a one-of input object, nesting past its limit. tests/schema/
test_variable_coercion.py holds the two to the same answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphql import (GraphQLInputObjectType, GraphQLInputType, GraphQLList, GraphQLNonNull, GraphQLSchema,
                     Undefined, VariableDefinitionNode, is_input_type, is_leaf_type, type_from_ast)
from graphql.execution.get_variable_signature import GraphQLVariableSignature
from graphql.execution.values import VariableValues, VariableValueSource, input_is_nested_too_deeply
from graphql.language.parser import MAX_NESTING_DEPTH
from graphql.type import GraphQLDefaultInput, is_required_input_field
from graphql.utilities.coerce_input_value import coerce_default_value

Coerce = Callable[[Any], Any]


class _Decline(Exception):
    """graphql-core's coercion decides this value. Raised as the class, a new instance each time: an
    instance raised again keeps every earlier raise's frames in its traceback."""


class VariableCoercer:
    """get_variable_values for one operation's definitions, or None where graphql-core decides."""

    __slots__ = ("_variables",)

    def __init__(self, variables: Sequence[tuple[str, GraphQLInputType, VariableDefinitionNode, bool, Coerce]]):
        self._variables = variables

    def __call__(self, inputs: dict[str, Any]) -> VariableValues | None:
        sources: dict[str, VariableValueSource] = {}
        coerced: dict[str, Any] = {}
        try:
            for name, type_, node, deep, coerce in self._variables:
                default = node.default_value
                # A fresh signature per request, as graphql-core makes it: its default memoizes its
                # coerced value, which must not be shared between requests.
                signature = GraphQLVariableSignature(
                    name, type_, GraphQLDefaultInput(literal=default) if default else None)
                value = inputs.get(name, Undefined)
                if value is Undefined:
                    if default or isinstance(type_, GraphQLNonNull):
                        return None  # a default to apply, or a missing value to refuse
                    sources[name] = VariableValueSource(signature)
                    continue
                sources[name] = VariableValueSource(signature, value)
                if deep and input_is_nested_too_deeply(value, type_):
                    return None
                coerced[name] = coerce(value)
        except (_Decline, RecursionError):  # graphql-core answers a value too deep for the stack itself
            return None
        return VariableValues(sources, coerced)


def variable_coercer(schema: GraphQLSchema, definitions: Sequence[VariableDefinitionNode]) -> VariableCoercer | None:
    """The coercer of an operation's variable definitions; None if one's type is no input type
    (graphql-core refuses the request)."""
    variables = []
    for node in definitions:
        type_ = type_from_ast(schema, node.type)
        if type_ is None or not is_input_type(type_):
            return None
        deep = _depth(type_, ()) > MAX_NESTING_DEPTH
        variables.append((node.variable.name.value, type_, node, deep, _coercer(type_, {})))
    return VariableCoercer(tuple(variables))


def _depth(type_: GraphQLInputType, seen: tuple[GraphQLInputObjectType, ...]) -> float:
    """The deepest nesting graphql-core's depth check can count in a value of this type."""
    if isinstance(type_, GraphQLNonNull):
        return _depth(type_.of_type, seen)
    if isinstance(type_, GraphQLList):
        return 1 + _depth(type_.of_type, seen)
    if isinstance(type_, GraphQLInputObjectType):
        if type_ in seen:
            return float("inf")  # a recursive input type: only the value's own depth bounds it
        return 1 + max((_depth(f.type, (*seen, type_)) for f in type_.fields.values()), default=0)
    return 0


def _coercer(type_: GraphQLInputType, built: dict[int, Coerce]) -> Coerce:
    """coerce_input_value for this type, on the values it passes through unchanged in shape."""
    if isinstance(type_, GraphQLNonNull):
        inner = _coercer(type_.of_type, built)

        def non_null(value: Any) -> Any:
            if value is None:
                raise _Decline
            return inner(value)
        return non_null
    if isinstance(type_, GraphQLList):
        item = _coercer(type_.of_type, built)

        def list_of(value: Any) -> Any:
            if value is None:
                return None
            if type(value) is not list:
                raise _Decline  # a single value as a list of one, or no list at all
            return [item(v) for v in value]
        return list_of
    if isinstance(type_, GraphQLInputObjectType):
        return _input_object(type_, built)
    assert is_leaf_type(type_)
    parse = type_.coerce_input_value  # type: ignore[union-attr]

    def leaf(value: Any) -> Any:
        if value is None:
            return None
        try:
            result = parse(value)
        except Exception:
            raise _Decline from None
        if result is Undefined:
            raise _Decline
        return result
    return leaf


def _input_object(type_: GraphQLInputObjectType, built: dict[int, Coerce]) -> Coerce:
    known = built.get(id(type_))
    if known is not None:
        return known
    if type_.is_one_of:
        return _one_of  # a property of the type: decided here, not for every value
    fields: list[tuple[str, str, bool, Any, Coerce]] = []

    def input_object(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is not dict or not names.issuperset(value):  # not an object, or an unknown field
            raise _Decline
        out: dict[str, Any] = {}
        for name, out_name, required, field, coerce in fields:
            given = value.get(name, Undefined)
            if given is Undefined:
                if required:
                    raise _Decline
                default = coerce_default_value(field)
                if default is not Undefined:
                    out[out_name] = default
            else:
                out[out_name] = coerce(given)
        return type_.out_type(out)

    built[id(type_)] = input_object  # before the fields: a recursive input type refers to itself
    for name, field in type_.fields.items():
        fields.append((name, field.out_name or name, is_required_input_field(field), field,
                       _coercer(field.type, built)))
    names = frozenset(type_.fields)
    return input_object


def _one_of(value: Any) -> Any:
    """A one-of input object: its exactly-one-field rule is graphql-core's to apply."""
    if value is None:
        return None
    raise _Decline
