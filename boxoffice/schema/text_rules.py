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


MAX_VARIABLE_DEPTH = 64  # far past any input type of the schema
TOO_DEEP = f"Variables may nest at most {MAX_VARIABLE_DEPTH} levels."


def has_unstorable_text(value: Any, depth: int = 0) -> bool:
    """Walks variables (bounded: the JSON parser already limits nesting); nesting past the walk's
    depth counts as unstorable (variables_problem tells the two apart)."""
    if depth > MAX_VARIABLE_DEPTH:
        return True
    if isinstance(value, str):
        return unstorable(value)
    if isinstance(value, dict):
        return any(has_unstorable_text(k, depth + 1) or has_unstorable_text(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(has_unstorable_text(v, depth + 1) for v in value)
    return False


def _deeper_than(value: Any, depth: int) -> bool:
    if depth < 0:
        return True
    if isinstance(value, dict):
        return any(_deeper_than(v, depth - 1) for v in value.values())
    if isinstance(value, list):
        return any(_deeper_than(v, depth - 1) for v in value)
    return False


def variables_problem(variables: Any, operation_name: Any) -> str | None:
    """Why a request's variables or operation name are refused before anything reads them, or None."""
    if not (has_unstorable_text(variables) or has_unstorable_text(operation_name)):
        return None
    return TOO_DEEP if _deeper_than(variables, MAX_VARIABLE_DEPTH) else UNSTORABLE_TEXT


class RejectUnstorableText(ValidationRule):
    """For string literals written in the document itself."""

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if unstorable(node.value):
            self.report_error(GraphQLError(UNSTORABLE_TEXT, node, extensions={"code": "INVALID_INPUT"}))
