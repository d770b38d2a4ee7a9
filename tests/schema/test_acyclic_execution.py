"""An execution is freed by reference counting when it ends (schema/acyclic_execution.py): the
cyclic collector has nothing of it to find, however many requests ran."""

from __future__ import annotations

import gc
import inspect
from typing import Any

from graphql import execute, parse
from strawberry.execution import optimized_is_awaitable

from boxoffice.schema.build import build_schema

DOCUMENT = parse("query Times($a: Boolean = true) { serverTime now: serverTime @include(if: $a) __typename }")


async def _run(schema: Any) -> Any:
    result = execute(schema._schema, DOCUMENT, variable_values={"a": True}, is_awaitable=optimized_is_awaitable,
                     executor_class=schema.execution_context_class)
    return await result if inspect.isawaitable(result) else result


async def test_an_execution_leaves_nothing_for_the_cyclic_collector() -> None:
    schema = build_schema()
    assert (await _run(schema)).errors is None
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            result = await _run(schema)
            assert result.errors is None and result.data["__typename"] == "Query"
        assert gc.collect() < 50  # graphql-core's executor alone leaves dozens of objects a request
    finally:
        gc.enable()
