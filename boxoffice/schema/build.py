"""Builds the strawberry schema once per app, with its caches and limits; exports schema.graphql."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from collections import OrderedDict
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationType, parse
from strawberry.extensions import MaxTokensLimiter
from strawberry.extensions.base_extension import SchemaExtension

from ..config import Settings
from .date_time import DATE_TIME
from .direct_resolvers import install_direct_resolvers
from .document_limits import Limits, LimitedValidation, ValidationClock, document_limits_rule
from .error_log import LoggedSchema, is_client_error
from .outage_errors import MaskFaults
from .text_rules import RejectUnstorableText
from .root import Mutation, Query, Subscription
from .collection_memo import with_collection_memo
from .leaf_reads import with_leaf_reads
from .leaf_rows import with_leaf_rows
from .operations import needs_operation_name, selected_operation
from .response_budget import with_response_budget
from .shared_events import SharedEventExecutor
from .acyclic_execution import without_cycles
from .validation_cache import TokenValidationCache, ValidationResults

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")
MAX_DEPTH = 12
MAX_ALIASES = 30
# GraphiQL's introspection query is about 200 tokens, the fan app's largest document under 100;
# parsing is about 7 ms per 1,000 tokens, so this bounds a document's parse near 15 ms.
MAX_TOKENS = 2_000
MAX_FRAGMENT_SPREADS = 100  # document-wide; real documents spread a handful
# Comments, white space and a string's characters are not tokens: a 1 MB document is a 100-250 ms
# parse whatever its tokens. A search string of 200 KB still fits.
MAX_DOCUMENT_CHARS = 256_000
# Parsed documents kept: a 10 KB document parses to about 2.7 MB of nodes, which every full garbage
# collection walks; the documents clients send again and again are a few KB together.
PARSED_CHARS_KEPT = 64_000
DOCUMENT_TOO_LONG = f"The GraphQL document is longer than {MAX_DOCUMENT_CHARS:,} characters."


class ParsedDocuments:
    """Parsed documents by text, least recently used first out, bounded by their total length: a
    parsed 10 KB document holds about 2.7 MB of nodes and tokens, so a bound by count (strawberry's
    ParserCache of 1,024) let distinct large documents fill gigabytes, and made every full garbage
    collection slower. The frontend's documents together are a few KB. One per schema (build_schema)."""

    def __init__(self, max_chars: int) -> None:
        self._max_chars = max_chars
        self._chars = 0
        self._documents: OrderedDict[str, DocumentNode | GraphQLError] = OrderedDict()

    def parse(self, query: str) -> DocumentNode:
        """Raises GraphQLError (remembered too) for a document that does not parse."""
        document = self._documents.get(query)
        if document is not None:
            self._documents.move_to_end(query)
        else:
            try:
                document = parse(query, max_tokens=MAX_TOKENS)
            except GraphQLError as error:
                document = error.with_traceback(None)
            self._keep(query, document)
        if isinstance(document, GraphQLError):
            raise document.with_traceback(None)  # one error for every caller: no frames pile up on it
        return document

    def _keep(self, query: str, document: DocumentNode | GraphQLError) -> None:
        self._documents[query] = document
        self._chars += len(query)
        while self._chars > self._max_chars and len(self._documents) > 1:
            oldest, _ = self._documents.popitem(last=False)
            self._chars -= len(oldest)

    def operation_type(self, query: str, operation_name: str | None) -> str | None:
        """"query", "mutation" or "subscription" for the operation a request selects; None when the
        document does not parse or selects nothing (the executor reports that)."""
        try:
            document = self.parse(query)
        except GraphQLError:
            return None
        operation = selected_operation(document, operation_name)
        return None if operation is None else operation.operation.value

    def is_subscription(self, query: str, operation_name: str | None) -> bool:
        return self.operation_type(query, operation_name) == OperationType.SUBSCRIPTION.value

    def names_no_operation(self, query: str, operation_name: str | None) -> bool:
        """A document that parses, with no operation of the name the request gives."""
        if operation_name is None:
            return False
        try:
            return selected_operation(self.parse(query), operation_name) is None
        except GraphQLError:
            return False

    def needs_operation_name(self, query: str, operation_name: str | None) -> bool:
        """schema/operations.py needs_operation_name; False for a document that does not parse."""
        if operation_name is not None:
            return False
        try:
            return needs_operation_name(self.parse(query), None)
        except GraphQLError:
            return False


class ForgivingParserCache(SchemaExtension):
    """Documents from the schema's ParsedDocuments. A document that does not parse is left to
    strawberry's own parser, which reports the syntax error on every transport (the cache raising
    instead ends a WebSocket operation with a bare `complete`)."""

    def __init__(self, documents: ParsedDocuments) -> None:
        self.documents = documents

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is not None:
            try:
                self.execution_context.graphql_document = self.documents.parse(query)
            except GraphQLError:
                pass
        yield


class BoxofficeSchema(LoggedSchema):
    """The schema with its parsed documents: its execution and the HTTP and WebSocket layers'
    looks at a request's operation (graphql_view.py, fast_path.py, request_lanes.py, ...) share
    one parse, the costliest step of a new document."""

    def __init__(self, *, parsed_documents: ParsedDocuments, **options: Any) -> None:
        super().__init__(**options)
        self.parsed_documents = parsed_documents


def _should_mask(error: GraphQLError) -> bool:
    """Only unexpected exceptions are masked; validation and typed input errors reach the client."""
    return not is_client_error(error)


def build_schema(extra_extensions: Sequence[Callable[[], SchemaExtension]] | None = None, *,
                 validation_budget_ms: float = Settings.validation_budget_ms,
                 max_response_bytes: int = Settings.max_response_bytes,
                 direct_resolvers: bool = True, leaf_reads: bool = True,
                 collection_memo: bool = True) -> BoxofficeSchema:
    """`direct_resolvers`: fields resolved without strawberry's per-call wrapper where it adds nothing
    (direct_resolvers.py); `leaf_reads`: plain leaf fields read by the executor itself (leaf_reads.py);
    `collection_memo`: sub-field collections shared by a document's executions (collection_memo.py).
    Each is off only to prove the answers are the same either way."""
    # Rules are built once here: a new rule class per request would defeat the validation cache.
    limits = Limits(max_depth=MAX_DEPTH, max_aliases=MAX_ALIASES, max_spreads=MAX_FRAGMENT_SPREADS,
                    budget_ms=validation_budget_ms, clock=ValidationClock())
    rules = [document_limits_rule(limits), RejectUnstorableText]
    parsed_documents = ParsedDocuments(max_chars=PARSED_CHARS_KEPT)
    extensions: list[object] = [
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        partial(LimitedValidation, rules),
        partial(ForgivingParserCache, parsed_documents),
        partial(TokenValidationCache, ValidationResults(maxsize=1024)),
        partial(MaskFaults, should_mask_error=_should_mask, error_message="Unexpected error."),
        *(extra_extensions or []),
    ]
    executor = with_leaf_rows(without_cycles(SharedEventExecutor))
    if collection_memo:
        executor = with_collection_memo(executor, max_chars=PARSED_CHARS_KEPT)
    if leaf_reads:
        executor = with_leaf_reads(executor)
    schema = BoxofficeSchema(query=Query, mutation=Mutation, subscription=Subscription,
                             extensions=extensions, parsed_documents=parsed_documents,
                             scalar_overrides={datetime: DATE_TIME},
                             # Shared subscription events; Show.seats completed as whole rows; sub-field
                             # collections shared between executions of a document; plain leaf
                             # fields read without a resolver call; answers certainly over the
                             # size budget refused before they are completed; each execution freed
                             # when it ends, not by the cyclic collector.
                             execution_context_class=with_response_budget(executor, max_response_bytes))
    if direct_resolvers:
        install_direct_resolvers(schema)
    return schema


def export_sdl() -> str:
    return build_schema().as_str() + "\n"


def main() -> None:
    SCHEMA_FILE.write_text(export_sdl())
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
