"""CPU to build a request's executor: graphql-core's `build` against the prepared execution (issue 16).

    .venv/bin/python bench/executor_build.py [--iterations 20000] [--rounds 3]

For the journey's documents (bench/_common.py) and a variable-free query, in this process: the
executor the fast path used to have graphql-core build per request (`Executor.build`: the schema
check, the walk for the operation and fragments, the variables' coercion) against the one built
from what schema/prepared_execution.py derives once per document (the variables coerced by
schema/variable_coercion.py). Both are the product schema's executor class; neither executes.
The lowest of --rounds, in µs of this process's CPU per build. Indicative only on a shared box.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graphql import parse  # noqa: E402
from strawberry.execution import optimized_is_awaitable  # noqa: E402

from _common import (CONFIRM_PAYMENT_MUTATION, CREATE_ORDER_MUTATION, HOLD_MUTATION,  # noqa: E402
                     RELEASE_MUTATION)
from boxoffice.schema.build import build_schema  # noqa: E402
from boxoffice.schema.prepared_execution import prepare_execution  # noqa: E402

KEY = "k" * 32
CASES: list[tuple[str, str, str | None, dict[str, Any]]] = [
    ("serverTime (no variables)", "{ serverTime }", None, {}),
    ("holdSeats", HOLD_MUTATION, "Hold",
     {"input": {"showId": str(uuid.uuid4()), "seatIds": ["1", "2"], "idempotencyKey": KEY}}),
    ("releaseHold", RELEASE_MUTATION, "Release", {"id": str(uuid.uuid4())}),
    ("createOrder", CREATE_ORDER_MUTATION, "Order", {"input": {"holdId": str(uuid.uuid4()), "idempotencyKey": KEY}}),
    ("confirmPayment", CONFIRM_PAYMENT_MUTATION, "Pay",
     {"input": {"orderId": str(uuid.uuid4()), "paymentMethod": "pm_card_visa", "idempotencyKey": KEY}}),
]


def per_build(run: Any, iterations: int) -> float:
    started = time.process_time()
    for _ in range(iterations):
        run()
    return (time.process_time() - started) / iterations * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.iterations < 1 or args.rounds < 1:
        parser.error("--iterations and --rounds are at least 1")
    strawberry_schema = build_schema()
    schema, executor_class = strawberry_schema._schema, strawberry_schema.execution_context_class
    print("| document | graphql-core's build, µs | prepared execution, µs |")
    print("|---|---|---|")
    for name, text, operation, variables in CASES:
        document = parse(text)
        prepared = prepare_execution(schema, document, operation)
        assert prepared is not None and prepared.executor(executor_class, None, variables, None) is not None

        def built() -> Any:
            return executor_class.build(schema, document, None, None, variables, operation,
                                        is_awaitable=optimized_is_awaitable, operation_extensions=None)

        def from_prepared() -> Any:
            return prepared.executor(executor_class, None, variables, None)

        rounds = [(per_build(built, args.iterations), per_build(from_prepared, args.iterations))
                  for _ in range(args.rounds)]
        print(f"| {name} | {min(r[0] for r in rounds):.1f} | {min(r[1] for r in rounds):.1f} |")


if __name__ == "__main__":
    main()
