"""Builds the strawberry schema once per app, with its caches and limits; exports schema.graphql."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (AddValidationRules, MaskErrors, MaxAliasesLimiter, MaxTokensLimiter,
                                   ParserCache, QueryDepthLimiter, ValidationCache)
from strawberry.extensions.base_extension import SchemaExtension

from ..booking.errors import BookingError
from .cost import QueryCostLimit
from .root import Mutation, Query, Subscription

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")
MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5_000


def _should_mask(error: GraphQLError) -> bool:
    """Only unexpected exceptions are masked; validation and typed input errors reach the client."""
    original = error.original_error
    return original is not None and not isinstance(original, (GraphQLError, BookingError))


def build_schema(extra_extensions: Sequence[Callable[[], SchemaExtension]] | None = None) -> strawberry.Schema:
    # Limiters are built once here: a new rule class per request would defeat the validation cache.
    depth = QueryDepthLimiter(max_depth=MAX_DEPTH)
    aliases = MaxAliasesLimiter(max_alias_count=MAX_ALIASES)
    rules = [*depth.validation_rules, *aliases.validation_rules, QueryCostLimit]
    extensions: list[object] = [
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        partial(AddValidationRules, rules),
        partial(ParserCache, maxsize=1024),
        partial(ValidationCache, maxsize=1024),
        partial(MaskErrors, should_mask_error=_should_mask, error_message="Unexpected error."),
        *(extra_extensions or []),
    ]
    return strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription,
                             extensions=extensions)  # type: ignore[arg-type]


def export_sdl() -> str:
    return build_schema().as_str() + "\n"


def main() -> None:
    SCHEMA_FILE.write_text(export_sdl())
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
