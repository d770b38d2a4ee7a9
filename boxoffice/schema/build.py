"""Builds the strawberry schema once per app, with its caches and limits; exports schema.graphql."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache, partial
from pathlib import Path

import strawberry
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from strawberry.extensions import (AddValidationRules, MaskErrors, MaxAliasesLimiter, MaxTokensLimiter,
                                   ParserCache, QueryDepthLimiter, ValidationCache)
from strawberry.extensions.base_extension import SchemaExtension

from ..booking.errors import BookingError
from .cost import QueryCostLimit
from .text_rules import RejectUnstorableText
from .root import Mutation, Query, Subscription
from .leaf_rows import with_leaf_rows
from .shared_events import SharedEventExecutor

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")
MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5_000


class ForgivingParserCache(ParserCache):
    """A document that does not parse is left to strawberry's own parser, which reports the
    syntax error on every transport (the cache raising instead ends a WebSocket operation
    with a bare `complete`)."""

    def on_parse(self) -> Iterator[None]:
        try:
            self.execution_context.graphql_document = self.cached_parse_document(
                self.execution_context.query, **self.execution_context.parse_options)
        except GraphQLError:
            pass
        yield


@lru_cache(maxsize=1024)
def operation_type(query: str, operation_name: str | None) -> str | None:
    """"query", "mutation" or "subscription" for the operation a request selects; None when the
    document does not parse or selects nothing (the executor reports that)."""
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    return operations[0].operation.value if len(operations) == 1 else None


def is_subscription(query: str, operation_name: str | None) -> bool:
    return operation_type(query, operation_name) == OperationType.SUBSCRIPTION.value


def _should_mask(error: GraphQLError) -> bool:
    """Only unexpected exceptions are masked; validation and typed input errors reach the client."""
    original = error.original_error
    return original is not None and not isinstance(original, (GraphQLError, BookingError))


def build_schema(extra_extensions: Sequence[Callable[[], SchemaExtension]] | None = None) -> strawberry.Schema:
    # Limiters are built once here: a new rule class per request would defeat the validation cache.
    depth = QueryDepthLimiter(max_depth=MAX_DEPTH)
    aliases = MaxAliasesLimiter(max_alias_count=MAX_ALIASES)
    rules = [*depth.validation_rules, *aliases.validation_rules, QueryCostLimit, RejectUnstorableText]
    extensions: list[object] = [
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        partial(AddValidationRules, rules),
        partial(ForgivingParserCache, maxsize=1024),
        partial(ValidationCache, maxsize=1024),
        partial(MaskErrors, should_mask_error=_should_mask, error_message="Unexpected error."),
        *(extra_extensions or []),
    ]
    return strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription,
                             extensions=extensions,  # type: ignore[arg-type]
                             # Shared subscription events; Show.seats completed as whole rows.
                             execution_context_class=with_leaf_rows(SharedEventExecutor))


def export_sdl() -> str:
    return build_schema().as_str() + "\n"


def main() -> None:
    SCHEMA_FILE.write_text(export_sdl())
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
