"""GraphQL documents parsed, checked and resolved to their operation once, kept by their text.

What strawberry does for every request before it executes (build the extensions, run their
parse and validation hooks, look the document up in the parse and validation caches, find the
operation) depends only on the document's text and the operation name. A PreparedDocument is
that work done once: the parsed document, the operation type strawberry would derive, and the
validation errors (none for a valid document) from the schema's own rules and the schema's own
validation-results cache, so a refused document stays refused for what its check cost once (#15).

The validation rules are not restated here: they are read off the schema's extensions, by
running their operation hook on a scratch execution context, so the rule list (and its order,
which orders the errors) is the one strawberry builds per request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import strawberry
from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, specified_rules
from strawberry.extensions import AddValidationRules, MaskErrors
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType as StrawberryOperationType
from strawberry.utils.operation import get_first_operation, get_operation_type

from .build import MAX_DOCUMENT_CHARS, BoxofficeSchema
from .operations import needs_operation_name
from .prepared_execution import PreparedExecution, prepare_execution
from .validation_cache import TokenValidationCache, ValidationResults, document_key


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    document: DocumentNode | None  # None: the text does not parse (`errors` holds the syntax error)
    operation_type: str  # "query" / "mutation" as strawberry names it; "invalid" when it does not parse
    operation_name: str | None  # what strawberry executes: the name asked for, else the only operation's
    errors: list[GraphQLError]  # parse or validation errors; empty for a document to execute
    # build()'s work for a valid document, done once (None: graphql-core's execute builds it per request)
    execution: PreparedExecution | None = None


class Undecided(Exception):
    """Strawberry answers this request itself: it refuses it with an HTTP error of its own
    (no operation of that name, several operations and none named, a subscription over HTTP)."""


class PreparedDocuments:
    """Prepared documents by (text, operation name), least recently used out first, bounded by
    their total length like the parse cache (schema/build.py ParsedDocuments)."""

    def __init__(self, schema: BoxofficeSchema, max_chars: int = MAX_DOCUMENT_CHARS) -> None:
        self.schema: GraphQLSchema = schema._schema
        self.parse = schema.parsed_documents.parse  # the parse strawberry's execution uses too
        extensions = schema.get_extensions()
        self.rules = _validation_rules(schema, extensions)
        self.results: ValidationResults | None = next(
            (e.results for e in extensions if isinstance(e, TokenValidationCache)), None)
        self.mask: MaskErrors | None = next((e for e in extensions if isinstance(e, MaskErrors)), None)
        self._max_chars = max_chars
        self._chars = 0
        self._entries: OrderedDict[tuple[str, str | None], PreparedDocument] = OrderedDict()

    def get(self, query: str, operation_name: str | None) -> PreparedDocument:
        """Raises Undecided for what strawberry refuses before validating."""
        key = (query, operation_name)
        prepared = self._entries.get(key)
        if prepared is not None:
            self._entries.move_to_end(key)
            return prepared
        prepared = self._prepare(query, operation_name)
        self._entries[key] = prepared
        self._chars += len(query)
        while self._chars > self._max_chars and len(self._entries) > 1:
            (oldest, _), _ = self._entries.popitem(last=False)
            self._chars -= len(oldest)
        return prepared

    def _prepare(self, query: str, operation_name: str | None) -> PreparedDocument:
        try:
            document = self.parse(query)
        except GraphQLError as error:
            return PreparedDocument(None, "invalid", None, [error])
        if needs_operation_name(document, operation_name):
            raise Undecided  # refused with a 400 (graphql_view.py parse_http_body)
        try:
            # strawberry's own reading: the named operation, else the first one.
            kind = get_operation_type(document, operation_name)
        except RuntimeError:
            raise Undecided from None  # "Can't get GraphQL operation type": a 400 of strawberry's
        if kind == StrawberryOperationType.SUBSCRIPTION:
            raise Undecided  # refused over HTTP (app.py parse_http_body)
        if operation_name is None:
            first = get_first_operation(document)
            operation_name = first.name.value if first is not None and first.name is not None else None
        errors = self._validate(query, document)
        execution = None if errors else prepare_execution(self.schema, document, operation_name)
        return PreparedDocument(document, kind.value, operation_name, errors, execution)

    def _validate(self, query: str, document: DocumentNode) -> list[GraphQLError]:
        """As TokenValidationCache does it, on the same results."""
        if self.results is None:
            return validate_document(self.schema, document, self.rules)
        key = document_key(query)
        errors = self.results.get(key, query)
        if errors is None:
            errors = validate_document(self.schema, document, self.rules)
            self.results.put(key, query, errors)
        return errors


def _validation_rules(schema: strawberry.Schema, extensions: Sequence[object]) -> tuple[type[ASTValidationRule], ...]:
    """The rules strawberry validates with: graphql-core's, then each AddValidationRules
    extension's change, in the extensions' order (LimitedValidation also removes one)."""
    context = ExecutionContext(query=None, schema=schema, allowed_operations=(), context=None,
                               validation_rules=tuple(specified_rules))
    for extension in extensions:
        if isinstance(extension, AddValidationRules):
            extension.execution_context = context
            hook = extension.on_operation()
            next(hook)  # type: ignore[call-overload]
    return tuple(context.validation_rules)


