"""A query-cost limit: list fields multiply the cost of what they select by their page size.

Depth, alias and token limits bound a document's shape; this bounds the work it asks for,
e.g. events(first: 100) { … shows { seats { … } } } is refused before anything runs.
Introspection is exempt (partners rely on it; strawberry caches validation of it).
"""

from __future__ import annotations

from typing import Any

from graphql import (FieldNode, FragmentSpreadNode, GraphQLError, GraphQLList, GraphQLNonNull,
                     GraphQLObjectType, GraphQLInterfaceType, InlineFragmentNode, IntValueNode,
                     OperationDefinitionNode, SelectionSetNode, ValidationRule, get_named_type)

MAX_COST = 100_000
UNBOUNDED_LIST = 10  # what an unpaged list is assumed to hold
VARIABLE_PAGE = 100  # a `first` given as a variable is assumed to be the largest page


def _page_size(node: FieldNode) -> int | None:
    for arg in node.arguments or ():
        if arg.name.value == "first":
            return int(arg.value.value) if isinstance(arg.value, IntValueNode) else VARIABLE_PAGE
    return None


class QueryCostLimit(ValidationRule):
    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        schema = self.context.schema
        root = {"query": schema.query_type, "mutation": schema.mutation_type,
                "subscription": schema.subscription_type}[node.operation.value]
        if root is None:
            return
        cost = self._cost(node.selection_set, root, paged=False, seen=set())
        if cost > MAX_COST:
            self.report_error(GraphQLError(
                f"This query asks for too much (estimated cost {cost} > {MAX_COST}); page or split it.",
                node, extensions={"code": "INVALID_INPUT"}))

    def _cost(self, selection_set: SelectionSetNode | None, parent: Any, *, paged: bool, seen: set[str]) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, paged=paged, seen=seen)
            elif isinstance(selection, InlineFragmentNode):
                target = (self.context.schema.get_type(selection.type_condition.name.value)
                          if selection.type_condition else parent)
                total += self._cost(selection.selection_set, target, paged=paged, seen=seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.context.get_fragment(name)
                if fragment is None or name in seen:  # cycles are reported by another rule
                    continue
                target = self.context.schema.get_type(fragment.type_condition.name.value)
                total += self._cost(fragment.selection_set, target, paged=paged, seen=seen | {name})
        return total

    def _field(self, node: FieldNode, parent: Any, *, paged: bool, seen: set[str]) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            return 0
        definition = parent.fields.get(name)
        if definition is None:
            return 0  # unknown fields are another rule's business
        field_type = definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type
        page = _page_size(node)
        if page is not None:
            multiplier = max(page, 1)
        elif isinstance(field_type, GraphQLList):
            multiplier = 1 if paged else UNBOUNDED_LIST  # a connection's edges are its page
        else:
            multiplier = 1
        children = self._cost(node.selection_set, get_named_type(definition.type), paged=page is not None, seen=seen)
        return 1 + multiplier * children
