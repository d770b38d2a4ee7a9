"""Shared by the hardening tests: what a faulty GraphQL response looks like, and the server's log."""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

MASKED = "Unexpected error."

# Anywhere in the body: unmistakable leaks of server internals.
HARD_LEAKS = re.compile(r"Traceback \(most recent call last\)|File \"/|\[SQL:|sqlalche\.me|Background on this error"
                        r"|asyncpg\.|psycopg|site-packages")
# In `errors` only (`data` may legitimately echo generated text back): exception class names, SQL.
ERROR_LEAKS = re.compile(
    r"\b(?:[A-Z][A-Za-z]*(?:Error|Exception)|DBAPIError|KeyError|StopIteration|CancelledError)\b"
    r"|\b(?:SELECT\b.+\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.S)
# Error messages of graphql-core / strawberry that legitimately contain a word ending in "Error".
ERROR_LEAK_ALLOWED = re.compile(r"GraphQLError")


# ------------------------------------------------------------------------------------ server log


class ServerLog(logging.Handler):
    """Errors the in-process server logs (strawberry's execution errors, uvicorn's 500s)."""

    LOGGERS = ("strawberry.execution", "uvicorn.error", "boxoffice")

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self._lock_records = threading.Lock()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_records:
            self.records.append(record)

    def since(self, index: int) -> list[str]:
        with self._lock_records:
            new = self.records[index:]
        lines = []
        for record in new:
            exc = record.exc_info[1] if record.exc_info else None
            original = getattr(exc, "original_error", None) or exc
            first = record.getMessage().splitlines()[0] if record.getMessage() else ""
            lines.append(f"{record.name}: {type(original).__name__ + ': ' if original else ''}{first}"[:400])
        return lines

    def __len__(self) -> int:
        with self._lock_records:
            return len(self.records)

    def __enter__(self) -> "ServerLog":
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)


# ------------------------------------------------------------------------------------ judging


# Faults already pinned by an xfail(strict=True) test: not reported again by the fuzz run, only counted.
# Remove an entry together with the xfail marker when the fault is fixed.
KNOWN_FAULTS: dict[str, Any] = {}


def known_fault(error: dict[str, Any]) -> str | None:
    return next((name for name, matches in KNOWN_FAULTS.items() if matches(error)), None)


def judge(status: int, text: str, known: dict[str, int] | None = None) -> list[str]:
    """What is wrong with one GraphQL response; [] when nothing is (known faults are counted in `known`)."""
    problems: list[str] = []
    if status >= 500:
        problems.append(f"HTTP {status}")
    if HARD_LEAKS.search(text):
        problems.append(f"server internals in the body: {HARD_LEAKS.search(text).group(0)!r}")  # type: ignore[union-attr]
    try:
        body = json.loads(text)
    except ValueError:
        problems.append("the body is not JSON")
        return problems
    if not isinstance(body, dict) or not ({"data", "errors"} & body.keys()):
        problems.append("not a GraphQL response (no data, no errors)")
        return problems
    errors = body.get("errors") or []
    if not isinstance(errors, list):
        return [*problems, "`errors` is not a list"]
    for error in errors:
        message = str(error.get("message", "")) if isinstance(error, dict) else ""
        if not isinstance(error, dict) or not message:
            problems.append(f"an error without a message: {error!r}")
            continue
        dumped = ERROR_LEAK_ALLOWED.sub("", json.dumps(error, ensure_ascii=False))
        leak = ERROR_LEAKS.search(dumped)
        if leak:
            problems.append(f"exception name or SQL in an error: {leak.group(0)[:80]!r}")
        fault = known_fault(error)
        if fault is not None:
            if known is not None:
                known[fault] = known.get(fault, 0) + 1
            continue
        if message == MASKED:
            problems.append(f"masked fault {MASKED!r} at path {error.get('path')}")
        elif "path" in error:
            code = (error.get("extensions") or {}).get("code")
            if not isinstance(code, str) or not code:
                problems.append(f"execution error without a typed extensions.code: {message[:160]!r}")
    return problems


