"""Sub-field collection remembered across requests, for documents whose collection cannot vary.

graphql-core collects an object's sub-fields (fragments applied to the runtime type, fields
grouped by response key, @skip and @include decided) once per execution and per field group.
Clients send the same few documents again and again, parsed once (build.py ParsedDocuments),
and for a document in which no directive reads a variable and no fragment declares variables the
collection depends on the document and the types alone. For those documents the collections are
kept with the operation and shared by every later execution of it, on every transport. A
document whose @skip or @include reads a variable is collected per execution, as before.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from graphql import (BREAK, DirectiveNode, FragmentDefinitionNode, GraphQLObjectType, OperationDefinitionNode,
                     VariableNode, Visitor, visit)
from graphql.execution import Executor

_UNSEEN = object()
# Directives that make collection start deferred or streamed parts, kept per execution.
_INCREMENTAL = frozenset({"defer", "stream"})

# (runtime type, the ids of the field group's nodes) -> graphql-core's CollectedFields
Collections = dict[tuple[Any, ...], Any]


class SharedCollections:
    """Per schema: each operation's collections, least recently used out first. The operation and its
    fragments are kept alive with them, so no id in a key can be another node's while they are kept;
    what is kept is bounded as the parse cache bounds it, by the documents' total length."""

    def __init__(self, max_chars: int) -> None:
        self._max_chars = max_chars
        self._chars = 0
        self._by_operation: OrderedDict[int, tuple[OperationDefinitionNode, tuple[FragmentDefinitionNode, ...],
                                                   Collections | None, int]] = OrderedDict()

    def for_operation(self, operation: OperationDefinitionNode,
                      fragments: Mapping[str, FragmentDefinitionNode]) -> Collections | None:
        """The operation's shared collections; None when its collection may vary between executions."""
        key = id(operation)
        entry = self._by_operation.get(key)
        if entry is not None and entry[0] is operation:
            self._by_operation.move_to_end(key)
            return entry[2]
        if operation.loc is None or len(operation.loc.source.body) > self._max_chars:
            return None  # its size unknown, or more than all the rest: collected per execution
        chars = len(operation.loc.source.body)
        collections: Collections | None = {} if collection_is_fixed(operation, fragments) else None
        self._by_operation[key] = (operation, tuple(fragments.values()), collections, chars)
        self._chars += chars
        while self._chars > self._max_chars:
            *_, dropped = self._by_operation.popitem(last=False)[1]
            self._chars -= dropped
        return collections


class _VariesPerExecution(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.varies = False

    def enter_directive(self, node: DirectiveNode, *_: object) -> Any:
        if node.name.value in _INCREMENTAL:
            self.varies = True
            return BREAK
        return None

    def enter_variable(self, node: VariableNode, _key: object, _parent: object, _path: object,
                       ancestors: list[Any]) -> Any:
        if any(isinstance(a, DirectiveNode) for a in ancestors):
            self.varies = True
            return BREAK
        return None


def collection_is_fixed(operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]) -> bool:
    """Whether collecting the operation's fields depends on the document alone: no directive reads a
    variable, no fragment declares variables, nothing is deferred or streamed."""
    if any(f.variable_definitions for f in fragments.values()):
        return False
    finder = _VariesPerExecution()
    for node in (operation, *fragments.values()):
        visit(node, finder)
        if finder.varies:
            return False
    return True


class CollectionMemoExecution(Executor):
    """Mixed in before the schema's execution context class (see `with_collection_memo`)."""

    shared_collections: SharedCollections  # one per schema: `with_collection_memo` makes the class

    def collect_subfields(self, return_type: GraphQLObjectType, field_details_list: Any) -> Any:
        local = self._relevant_sub_fields  # graphql-core's own memo, per execution and field group
        cached = local.get((return_type, id(field_details_list)))
        if cached is not None:
            return cached[1]
        shared = self.__dict__.get("_shared", _UNSEEN)
        if shared is _UNSEEN:
            shared = self._shared = self.shared_collections.for_operation(self.operation, self.fragment_definitions)
        if shared is None:
            return super().collect_subfields(return_type, field_details_list)
        key = (return_type, *[id(details.node) for details in field_details_list])
        collected = shared.get(key)
        if collected is None:
            collected = shared[key] = super().collect_subfields(return_type, field_details_list)
        else:
            local[(return_type, id(field_details_list))] = (field_details_list, collected)
        return collected


def with_collection_memo(base: type[Executor], max_chars: int) -> type[Executor]:
    """The schema's execution context class, sharing sub-field collections between executions of
    documents of at most `max_chars` characters in all."""
    return type(f"CollectionMemo{base.__name__}", (CollectionMemoExecution, base),
                {"shared_collections": SharedCollections(max_chars)})
