"""Faults masked as "Unexpected error." — except a database that is away (a failover, a pooler
restart): that is said as the typed, retryable refusal it is (code RATE_LIMITED), the same answer
a mutation's result union gives (resolvers/problems.py)."""

from __future__ import annotations

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from starlette.responses import JSONResponse

from ..booking.errors import BookingError, DatabaseUnavailable, RateLimited
from ..db import database_unavailable


class MaskFaults(MaskErrors):
    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if error.original_error is not None and database_unavailable(error.original_error):
            refusal = DatabaseUnavailable()
            return GraphQLError(refusal.message, nodes=error.nodes, source=error.source, positions=error.positions,
                                path=error.path, extensions={"code": refusal.code,
                                                             "retryAfterSeconds": refusal.retry_after_s})
        return super().anonymise_error(error)


def unavailable_answer(err: BaseException) -> JSONResponse | None:
    """The answer for a request whose caller could not even be looked up (the sessions' read failed
    with the database away, or was refused as busy): 503 with the typed refusal, as load shedding
    answers (shed_load.py), rather than a plain 500. None for any other failure."""
    if isinstance(err, RateLimited):
        refusal: BookingError = err
    elif database_unavailable(err):
        refusal = DatabaseUnavailable()
    else:
        return None
    retry = int(refusal.retry_after_s or 1)
    return JSONResponse({"errors": [{"message": refusal.message,
                                     "extensions": {"code": refusal.code, "retryAfterSeconds": retry}}]},
                        503, headers={"Retry-After": str(retry)})
