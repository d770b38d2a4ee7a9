"""Decode Stripe's form encoding (`metadata[order_id]=7`, `payment_method_types[0]=card`)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def decode_form(raw: str) -> dict[str, Any]:
    """Nested dicts for `a[b]`, lists for `a[0]` / `a[]`; later duplicates win."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        match = _KEY.match(key)
        parts = [match.group(1), *_PART.findall(match.group(2))] if match else [key]
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        last = parts[-1]
        node[str(len(node)) if last == "" else last] = value
    return _with_lists(root)


def _with_lists(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            value = _with_lists(value)
            if value and all(k.isdigit() for k in value):
                value = [value[k] for k in sorted(value, key=int)]
        out[key] = value
    return out
