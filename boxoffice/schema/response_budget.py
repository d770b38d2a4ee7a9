"""A budget on the size of one GraphQL answer: a small request may not ask for a huge one.

Lists make answers large. As each list is completed, the least it can add to the answer is
counted: its items times what each item certainly writes (its selected keys, a character of
value each, the braces and commas). Once that passes the budget the answer can only be too
large: nothing more is completed, and the answer is one typed error instead of partial data.
No answer under the budget is refused this way (the count is a lower bound). The encoded
answer is checked again before it is sent over HTTP, which catches the rest (long strings).
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

import orjson
from graphql import ExecutionResult, FieldNode, GraphQLError, GraphQLList, GraphQLNonNull
from graphql.execution import Executor
from starlette.responses import Response


def too_large_message(max_bytes: int) -> str:
    return (f"This answer would be larger than {max_bytes:,} bytes; ask for less "
            "(fewer aliases, a page, or one section's seats).")


def too_large_error(max_bytes: int) -> GraphQLError:
    return GraphQLError(too_large_message(max_bytes), extensions={"code": "INVALID_INPUT"})


def _least_item_bytes(item_type: Any, field_details_list: Any) -> int:
    """The fewest bytes one item of the list writes, followed by a comma."""
    node = field_details_list[0].node
    if node.selection_set is None:
        return 2  # a scalar: at least one character
    keys = {(s.alias or s.name).value for s in node.selection_set.selections
            if isinstance(s, FieldNode) and not s.directives}  # @skip/@include may drop a field
    least = 3 + sum(len(key) + 4 for key in keys)  # {"key":v,...},
    return least if isinstance(item_type, GraphQLNonNull) else min(least, 5)  # null,


class ResponseBudgetExecution(Executor):
    """Mixed in before the schema's execution context class (see `with_response_budget`)."""

    max_response_bytes: int = 0  # 0: no budget
    _least_bytes = 0
    _over_budget = False

    def complete_list_value(self, return_type: GraphQLList[Any], field_details_list: Any, info: Any, path: Any,
                            result: Any, position_context: Any) -> Any:
        budget = self.max_response_bytes
        if budget and isinstance(result, Sized):
            self._least_bytes += len(result) * _least_item_bytes(return_type.of_type, field_details_list)
            if self._least_bytes > budget:
                self._over_budget = True
                raise too_large_error(budget)
        return super().complete_list_value(return_type, field_details_list, info, path, result, position_context)

    def build_response(self, data: dict[str, Any] | None) -> Any:
        response = super().build_response(data)
        if self._over_budget:
            return ExecutionResult(None, [too_large_error(self.max_response_bytes)])
        return response


def with_response_budget(base: type[Executor], max_bytes: int) -> type[Executor]:
    """The schema's execution context class, refusing answers certainly over `max_bytes`."""
    return type(f"Budgeted{base.__name__}", (ResponseBudgetExecution, base), {"max_response_bytes": max_bytes})


def within_budget(response: Response, max_bytes: int) -> Response:
    """The encoded HTTP answer, or the typed refusal when it is over `max_bytes` (0: no budget)."""
    if not max_bytes or len(response.body) <= max_bytes:
        return response
    body = orjson.dumps({"data": None, "errors": [too_large_error(max_bytes).formatted]})
    return Response(body, status_code=200, media_type="application/json")
