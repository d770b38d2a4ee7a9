"""Field resolvers called without strawberry's per-call wrapper, where the wrapper adds nothing.

For every field with a resolver, strawberry installs a wrapper that on each call builds an
Info, converts the arguments through `get_arguments`, chains the field's extensions with
partials (a `reduce` even when there are none), and only then calls `field.get_result`. That
is a few microseconds a field on every field of every answer: an order's answer resolves dozens.
For a field with no field extensions and no exception handlers, the wrapper comes down to:
convert the arguments (by converters built once per argument type, which answer what strawberry's
`convert_arguments` answers: schema/argument_conversion.py), pass the
source as self, root or parent and the Info where the resolver asks for them, and call
`field.get_result`. `install_direct_resolvers` installs that, once, when the schema is built, on
every such field of every object type, for every document and transport alike. Schema
extensions that wrap resolvers (graphql-core middleware) still wrap these. Subscription fields
keep strawberry's resolvers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from .argument_conversion import argument_converter

Resolver = Callable[..., Any]


def install_direct_resolvers(schema: strawberry.Schema) -> int:
    """Replaces strawberry's wrapper on every field that needs none of it; returns how many."""
    converter = schema.schema_converter
    graphql_schema = schema._schema
    subscription = graphql_schema.subscription_type
    installed = 0
    for graphql_type in graphql_schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type is subscription:
            continue
        if graphql_type.name.startswith("__"):
            continue
        for graphql_field in graphql_type.fields.values():
            field = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if not isinstance(field, StrawberryField):
                continue
            direct = _direct(field, converter)
            if direct is not None:
                graphql_field.resolve = direct
                installed += 1
    return installed


def _direct(field: StrawberryField, converter: Any) -> Resolver | None:
    resolver = field.base_resolver
    if resolver is None or field.extensions or field.is_subscription:
        return None  # a plain attribute (strawberry's own is already bare), or something to run around it
    handlers = getattr(converter, "_get_field_exception_handlers", None)
    if handlers is None or handlers(field):
        return None  # exception handlers to apply, or a strawberry that may have them without saying
    config, scalars = converter.config, converter.scalar_registry
    info_class = config.info_class
    arguments = list(field.arguments)
    takes_self = resolver.self_parameter is not None
    # kwargs names the resolver gets the source under (root= / parent=), and the Info under.
    source_names = [p.name for p in (resolver.root_parameter, resolver.parent_parameter) if p is not None]
    info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None
    convert_arguments, conversion_needs_info = argument_converter(arguments, scalars, config)
    needs_info = info_name is not None or conversion_needs_info  # input types may build themselves from it
    get_result = field.get_result

    def resolve(source: Any, info: GraphQLResolveInfo, **raw: Any) -> Any:
        strawberry_info = info_class(_raw_info=info, _field=field) if needs_info else None
        kwargs = convert_arguments(raw, strawberry_info) if arguments else {}
        for name in source_names:
            kwargs[name] = source
        if info_name is not None:
            kwargs[info_name] = strawberry_info
        return get_result(source, strawberry_info, [source] if takes_self else [], kwargs)

    resolve.direct = field  # type: ignore[attr-defined]  # nothing runs around the field's resolver
    return resolve
