"""Text PostgreSQL cannot store (NUL, unpaired UTF-16 surrogates) is refused at the door, typed."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule

UNSTORABLE_TEXT = "Text may not contain NUL characters or unpaired surrogates."


def unstorable(value: str) -> bool:
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def has_unstorable_text(value: Any, depth: int = 0) -> bool:
    """Walks variables (bounded: the JSON parser already limits nesting)."""
    if depth > 64:
        return True
    if isinstance(value, str):
        return unstorable(value)
    if isinstance(value, dict):
        return any(has_unstorable_text(k, depth + 1) or has_unstorable_text(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(has_unstorable_text(v, depth + 1) for v in value)
    return False


class RejectUnstorableText(ValidationRule):
    """For string literals written in the document itself."""

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if unstorable(node.value):
            self.report_error(GraphQLError(UNSTORABLE_TEXT, node, extensions={"code": "INVALID_INPUT"}))
