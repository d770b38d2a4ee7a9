"""The BigInt scalar: a whole number past GraphQL's 32-bit Int, as a decimal string in JSON.

A show's takings pass Int's 2,147,483,647 cents ($21.4M) at a sold-out stadium. A string, as
PostGraphile and Hasura write PostgreSQL's bigint, because a JSON number past 2^53 loses digits in
JavaScript; JavaScript clients read it with BigInt() or, for money, Number() (exact to 2^53 cents)."""

from __future__ import annotations

import re
from typing import NewType

import strawberry

_DIGITS = re.compile(r"-?[0-9]{1,19}")
_LIMIT = 2**63


def _parse(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    else:
        raise ValueError("BigInt is a whole number written as a string of digits.")
    if not -_LIMIT <= number < _LIMIT:
        raise ValueError("BigInt holds 64 bits.")
    return number


BigInt = strawberry.scalar(
    NewType("BigInt", int), name="BigInt", serialize=str, parse_value=_parse,
    description="A whole number past Int's 32 bits (up to 64), as a decimal string in JSON.")
