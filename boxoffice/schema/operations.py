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
