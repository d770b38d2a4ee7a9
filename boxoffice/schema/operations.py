"""Which operation of a parsed document a request selects, for the layers that look before executing."""

from __future__ import annotations

from graphql import DocumentNode, OperationDefinitionNode


def selected_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    """The operation named `operation_name`, or the only one when no name is given; None when that
    selects nothing or more than one (the executor reports it)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    return operations[0] if len(operations) == 1 else None


# graphql-core's words (execution's build), which GraphQL tooling and developers know.
OPERATION_NAME_NEEDED = "Must provide operation name if query contains multiple operations."


def needs_operation_name(document: DocumentNode, operation_name: str | None) -> bool:
    """True when the request names no operation and the document holds several: the GraphQL spec's
    GetOperation refuses it (strawberry would run the first; every transport refuses it instead)."""
    if operation_name is not None:
        return False
    return sum(isinstance(d, OperationDefinitionNode) for d in document.definitions) > 1
