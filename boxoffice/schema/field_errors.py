"""Typed GraphQL errors for fields that have no result union (queries and their arguments)."""

from __future__ import annotations

from graphql import GraphQLError

from ..booking.errors import BookingError


def query_error(err: BookingError) -> GraphQLError:
    """A bad argument is a GraphQL error carrying the Problem code, never a masked fault."""
    return GraphQLError(err.message, extensions={"code": err.code, "field": err.field})
