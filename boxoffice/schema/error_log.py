"""How GraphQL errors are logged: a client's mistake is one line at INFO, a fault a traceback at ERROR."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext
from strawberry.utils.logging import StrawberryLogger

from ..booking.errors import BookingError

log = StrawberryLogger.logger  # strawberry.execution, where operators already look


def is_client_error(error: GraphQLError) -> bool:
    """Syntax, validation and typed input errors: the request was wrong, the server is fine."""
    original = error.original_error
    return original is None or isinstance(original, (GraphQLError, BookingError))


def one_line(error: GraphQLError) -> str:
    where = ", ".join(f"{loc.line}:{loc.column}" for loc in error.locations or [])
    path = ".".join(str(p) for p in error.path or [])
    return " ".join(part for part in (error.message.replace("\n", " "),
                                      f"at {where}" if where else "", f"path {path}" if path else "") if part)


class LoggedSchema(strawberry.Schema):
    """strawberry.Schema, but a client's bad query is not logged as a server error block."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            if is_client_error(error):
                if log.isEnabledFor(logging.INFO):
                    log.info("rejected request: %s", one_line(error))
            else:
                StrawberryLogger.error(error, execution_context)  # with the traceback
