"""What graphql-core's `Executor.build` derives from a document, derived once per prepared document.

For every request, `build` checks the schema, walks the document for its operation and fragments
and coerces the variables. Only the last depends on the request: the rest is done here once, and
the variables go through the operation's VariableCoercer (variable_coercion.py). The executor is
then constructed with exactly the arguments `build` would give it for the fast path's call of
`execute` (boxoffice/fast_path.py). Where this cannot stand in for `build` (no such operation,
fragment variables, variables graphql-core must coerce or refuse itself), `executor` answers None
and the caller runs graphql-core's `execute` as before.
"""

from __future__ import annotations

from typing import Any

from graphql import (DocumentNode, FragmentDefinitionNode, GraphQLSchema, OperationDefinitionNode, assert_valid_schema,
                     default_field_resolver, default_type_resolver)
from graphql.execution import Executor
from graphql.execution.collect_fields import FragmentDetails
from strawberry.execution import optimized_is_awaitable

from .variable_coercion import VariableCoercer, variable_coercer


class PreparedExecution:
    __slots__ = ("schema", "operation", "fragment_definitions", "fragments", "coerce")

    def __init__(self, schema: GraphQLSchema, operation: OperationDefinitionNode,
                 fragment_definitions: dict[str, FragmentDefinitionNode], fragments: dict[str, FragmentDetails],
                 coerce: VariableCoercer) -> None:
        self.schema = schema
        self.operation = operation
        self.fragment_definitions = fragment_definitions
        self.fragments = fragments
        self.coerce = coerce

    def executor(self, executor_class: type[Executor], context: Any, variables: dict[str, Any] | None,
                 extensions: dict[str, Any] | None) -> Executor | None:
        values = self.coerce(variables or {})
        if values is None:
            return None
        # build's arguments for execute()'s defaults; operation_extensions is strawberry's executor's own.
        return executor_class(  # type: ignore[call-arg]
            self.schema, self.fragment_definitions, self.fragments, None, context, self.operation, values,
            default_field_resolver, default_type_resolver, default_field_resolver, False, None,
            optimized_is_awaitable, None, hide_suggestions=False, abort_signal=None,  # type: ignore[arg-type]
            hooks=None, operation_extensions=extensions)


def prepare_execution(schema: GraphQLSchema, document: DocumentNode,
                      operation_name: str | None) -> PreparedExecution | None:
    """build()'s walk of the document (same choice of operation); None where build would answer
    errors or where fragments take variables."""
    assert_valid_schema(schema)  # build checks it for every request; it is checked once and cached
    operation: OperationDefinitionNode | None = None
    fragment_definitions: dict[str, FragmentDefinitionNode] = {}
    fragments: dict[str, FragmentDetails] = {}
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            if operation_name is None:
                if operation:
                    return None  # "Must provide operation name"
                operation = definition
            elif definition.name and definition.name.value == operation_name:
                operation = definition
        elif isinstance(definition, FragmentDefinitionNode):
            if definition.variable_definitions:
                return None  # fragment variables: signatures per request, as build makes them
            fragment_definitions[definition.name.value] = definition
            fragments[definition.name.value] = FragmentDetails(definition, None)
    if operation is None:
        return None
    coerce = variable_coercer(schema, operation.variable_definitions or ())
    if coerce is None:
        return None
    return PreparedExecution(schema, operation, fragment_definitions, fragments, coerce)
