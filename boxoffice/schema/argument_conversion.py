"""A field's arguments converted to Python values by converters built once per argument type.

strawberry's `convert_argument` works a type out on every call: it resolves each input field's
annotation, converts its name to camelCase and walks the isinstance checks again, for every field
of every input value. For a mutation's input that is most of the argument's cost (about a tenth
of a holdSeats on the general path, measured with py-spy). The answer depends only on the type,
so `argument_converter` works each type out once, when the schema is built, and the call only
walks the value.

The converters give what `convert_argument` gives: None and UNSET kept, lists copied, leaves and
enum values as graphql-core coerced them, input objects built with None for every field without
a default. A type whose conversion strawberry lets the type itself decide (`from_input`), or
that strawberry treats specially (Maybe, GlobalID), is left to strawberry's own function, with
the Info it may need. tests/schema/test_argument_conversion.py compares the two on every
argument of the schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any

from strawberry.relay.types import GlobalID
from strawberry.schema.config import StrawberryConfig
from strawberry.types.arguments import StrawberryArgument, convert_argument
from strawberry.types.base import StrawberryList, StrawberryMaybe, StrawberryOptional, has_object_definition
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.lazy_type import LazyType
from strawberry.scalars import is_scalar
from strawberry.types.unset import UNSET

Convert = Callable[[Any], Any]
# (arguments as graphql-core coerced them, strawberry's Info or None) -> the resolver's kwargs
ArgumentsConverter = Callable[[dict[str, Any], Any], dict[str, Any]]


class _Unsupported(Exception):
    """The type needs strawberry's own conversion."""


def argument_converter(arguments: list[StrawberryArgument], scalars: Mapping[object, Any],
                       config: StrawberryConfig) -> tuple[ArgumentsConverter, bool]:
    """The kwargs builder for a field's arguments, and whether it needs strawberry's Info
    (only an argument left to strawberry's own conversion may)."""
    plans: list[tuple[str, str, Convert | None, Any]] = []
    built: dict[int, list[Convert]] = {}
    for argument in arguments:
        assert argument.python_name
        name = config.name_converter.from_argument(argument)
        try:
            plans.append((name, argument.python_name, _converter(argument.type, scalars, config, built), None))
        except _Unsupported:
            plans.append((name, argument.python_name, None, argument.type))
    needs_info = any(convert is None for _, _, convert, _ in plans)

    def convert_arguments(value: dict[str, Any], info: Any) -> dict[str, Any]:
        kwargs = {}
        for name, python_name, convert, type_ in plans:
            if name in value:
                kwargs[python_name] = (convert(value[name]) if convert is not None
                                       else convert_argument(value[name], type_, scalars, config, info, path=(name,)))
        return kwargs

    return convert_arguments, needs_info


def _converter(type_: Any, scalars: Mapping[object, Any], config: StrawberryConfig,
               built: dict[int, list[Convert]]) -> Convert:
    if isinstance(type_, StrawberryMaybe):
        raise _Unsupported  # Some(...) and its own null rules
    if isinstance(type_, StrawberryOptional):
        return _converter(type_.of_type, scalars, config, built)
    if isinstance(type_, StrawberryList):
        item = type_.of_type
        if _is_leaf(item, scalars) or (isinstance(item, StrawberryOptional) and _is_leaf(item.of_type, scalars)):
            # copied: graphql-core gives the same default to every request that omits the value
            return _keeping_absent(list)
        convert_item = _converter(item, scalars, config, built)
        return _keeping_absent(lambda value: [convert_item(x) for x in value])
    if type_ is GlobalID:
        raise _Unsupported
    if _is_leaf(type_, scalars):
        return _identity
    if isinstance(type_, LazyType):
        return _converter(type_.resolve_type(), scalars, config, built)
    if has_enum_definition(type_):
        return _identity  # graphql-core's coercion already gives the enum's Python value
    if has_object_definition(type_):
        return _input_object(type_, scalars, config, built)
    raise _Unsupported


def _input_object(type_: Any, scalars: Mapping[object, Any], config: StrawberryConfig,
                  built: dict[int, list[Convert]]) -> Convert:
    definition = type_.__strawberry_definition__
    if definition.from_input is not None:
        raise _Unsupported
    pending = built.get(id(type_))
    if pending is not None:  # an input type that contains itself: resolved once its plan is built
        return lambda value: pending[0](value)
    cell: list[Convert] = []
    built[id(type_)] = cell
    # None for fields without a default, as strawberry does: graphql-core has checked the required ones.
    defaults = {f.python_name: None for f in definition.fields
                if f.default_value is MISSING and f.default_factory is MISSING} if definition.is_input else {}
    try:
        fields = [(config.name_converter.from_field(f), f.python_name,
                   _converter(f.resolve_type(type_definition=definition), scalars, config, built))
                  for f in definition.fields]
    except _Unsupported:
        del built[id(type_)]  # another argument of the field must not find it half built
        raise

    def build(value: Any) -> Any:
        kwargs = dict(defaults)
        for name, python_name, convert in fields:
            if name in value:
                kwargs[python_name] = convert(value[name])
        return type_(**kwargs)

    convert = _keeping_absent(build)
    cell.append(convert)
    return convert


def _is_leaf(type_: Any, scalars: Mapping[object, Any]) -> bool:
    if type_ is GlobalID:
        return False
    if isinstance(type_, LazyType):
        return _is_leaf(type_.resolve_type(), scalars)
    return is_scalar(type_, scalars) or isinstance(type_, StrawberryEnumDefinition)


def _identity(value: Any) -> Any:
    return value


def _keeping_absent(convert: Convert) -> Convert:
    """None stays None and UNSET stays UNSET, whatever the type (strawberry's first checks)."""
    def keeping(value: Any) -> Any:
        return value if value is None or value is UNSET else convert(value)
    return keeping
