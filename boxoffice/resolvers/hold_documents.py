"""Which holdSeats documents the fast path may answer, and what each one selects.

A request document is compiled once (cached by its text and operation name) into a HoldPlan:
the variable carrying HoldSeatsInput and, for each result type, the response keys in the order
GraphQL execution would write them. Compiling accepts only what the fast path can answer
exactly as the schema would: a document that passes the schema's own validation (its rules and
token limit), with one mutation selecting `holdSeats(input: $var)` once, `$var: HoldSeatsInput!`,
no directives, and only fields computed from the hold record or the problem (never `seats` or
`show`, which read the database). Everything else gets None and goes through strawberry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import (FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError, GraphQLObjectType,
                     GraphQLSchema, InlineFragmentNode, NamedTypeNode, NonNullTypeNode, OperationDefinitionNode,
                     OperationType, SelectionSetNode, VariableNode, is_abstract_type, parse, specified_rules)
from strawberry.extensions import AddValidationRules, MaskErrors, MaxTokensLimiter
from strawberry.schema.schema import validate_document

INPUT_TYPE = "HoldSeatsInput"
RESULT_TYPES = ("Hold", "SeatsUnavailable", "Rejected")
# The fields each answer can give without another query; any other field declines the document.
ANSWERABLE = {
    "Hold": {"__typename", "id", "status", "expiresAt", "totalCents", "currency", "generalAdmission"},
    "GeneralAdmissionLine": {"__typename", "sectionId", "quantity", "priceCents"},
    "SeatsUnavailable": {"__typename", "code", "message", "seatIds"},
    "Rejected": {"__typename", "code", "message", "field", "retryAfterSeconds"},
}
NESTED = {("Hold", "generalAdmission"): "GeneralAdmissionLine"}
MAX_QUERY_CHARS = 8_000


@dataclass(frozen=True, slots=True)
class Selection:
    key: str  # the response key: the alias, else the field name
    field: str
    children: tuple[Selection, ...] = ()


@dataclass(frozen=True, slots=True)
class HoldPlan:
    variable: str
    result_key: str
    by_type: dict[str, tuple[Selection, ...]]
    # What MaskErrors makes of an unexpected failure of this field (it keeps location and path).
    masked_error: dict[str, Any]


class _Decline(Exception):
    pass


class HoldDocuments:
    """Compiled plans by (document, operation name); None remembers a declined document."""

    def __init__(self, schema: strawberry.Schema, max_entries: int = 256) -> None:
        self._schema: GraphQLSchema = schema._schema
        extensions = schema.get_extensions()
        extra = [rule for e in extensions if isinstance(e, AddValidationRules) for rule in e.validation_rules]
        self._rules = (*specified_rules, *extra)
        self._max_tokens = next((e.max_token_count for e in extensions if isinstance(e, MaxTokensLimiter)), None)
        self._mask_message = next((e.error_message for e in extensions if isinstance(e, MaskErrors)), None)
        self._plans: dict[tuple[str, str | None], HoldPlan | None] = {}
        self._max = max_entries

    def plan(self, query: str, operation_name: str | None) -> HoldPlan | None:
        key = (query, operation_name)
        try:
            return self._plans[key]
        except KeyError:
            pass
        try:
            plan: HoldPlan | None = self._compile(query, operation_name)
        except _Decline:
            plan = None
        if len(self._plans) >= self._max:
            self._plans.clear()  # bounded: real clients send a handful of documents
        self._plans[key] = plan
        return plan

    def _compile(self, query: str, operation_name: str | None) -> HoldPlan:
        if len(query) > MAX_QUERY_CHARS or "holdSeats" not in query or self._mask_message is None:
            raise _Decline
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLError:
            raise _Decline from None
        if validate_document(self._schema, document, self._rules):
            raise _Decline
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        if len(operations) != 1 or any(f.directives for f in fragments.values()):
            raise _Decline
        operation = operations[0]
        name = operation.name.value if operation.name else None
        if operation.operation != OperationType.MUTATION or operation.directives or (
                operation_name is not None and operation_name != name):
            raise _Decline
        variable = _input_variable(operation)
        roots = operation.selection_set.selections
        if len(roots) != 1 or not isinstance(roots[0], FieldNode):
            raise _Decline
        root = roots[0]
        arguments = root.arguments or ()
        if (root.name.value != "holdSeats" or root.directives or len(arguments) != 1
                or arguments[0].name.value != "input" or not isinstance(arguments[0].value, VariableNode)
                or arguments[0].value.name.value != variable or root.selection_set is None):
            raise _Decline
        by_type = {t: self._selections(t, [root.selection_set], fragments) for t in RESULT_TYPES}
        result_key = root.alias.value if root.alias else root.name.value
        masked = GraphQLError(self._mask_message, nodes=root, path=[result_key]).formatted
        return HoldPlan(variable, result_key, by_type, dict(masked))

    def _selections(self, type_name: str, selection_sets: Sequence[SelectionSetNode],
                    fragments: dict[str, FragmentDefinitionNode]) -> tuple[Selection, ...]:
        """GraphQL's field collection for one runtime type: fragments that apply are flattened,
        and a response key keeps the place of its first occurrence."""
        runtime = self._schema.get_type(type_name)
        assert isinstance(runtime, GraphQLObjectType)
        grouped: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()

        def applies(condition: NamedTypeNode | None) -> bool:
            if condition is None or condition.name.value == type_name:
                return True
            named = self._schema.get_type(condition.name.value)
            return named is not None and is_abstract_type(named) and self._schema.is_sub_type(named, runtime)

        def visit(selection_set: SelectionSetNode) -> None:
            for node in selection_set.selections:
                if node.directives:
                    raise _Decline
                if isinstance(node, FieldNode):
                    grouped.setdefault(node.alias.value if node.alias else node.name.value, []).append(node)
                elif isinstance(node, InlineFragmentNode):
                    if applies(node.type_condition):
                        visit(node.selection_set)
                elif isinstance(node, FragmentSpreadNode) and node.name.value not in visited:
                    visited.add(node.name.value)
                    fragment = fragments[node.name.value]
                    if applies(fragment.type_condition):
                        visit(fragment.selection_set)

        for selection_set in selection_sets:
            visit(selection_set)
        out = []
        for key, nodes in grouped.items():
            field = nodes[0].name.value
            if field not in ANSWERABLE[type_name]:
                raise _Decline
            nested = NESTED.get((type_name, field))
            children: tuple[Selection, ...] = ()
            if nested is not None:
                children = self._selections(nested, [n.selection_set for n in nodes if n.selection_set], fragments)
            out.append(Selection(key, field, children))
        return tuple(out)


def _input_variable(operation: OperationDefinitionNode) -> str:
    """The one variable, declared `HoldSeatsInput!` without a default."""
    definitions = operation.variable_definitions or ()
    if len(definitions) != 1:
        raise _Decline
    definition = definitions[0]
    kind = definition.type
    if (definition.default_value is not None or definition.directives or not isinstance(kind, NonNullTypeNode)
            or not isinstance(kind.type, NamedTypeNode) or kind.type.name.value != INPUT_TYPE):
        raise _Decline
    return definition.variable.name.value
