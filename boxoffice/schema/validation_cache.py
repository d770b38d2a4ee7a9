"""Validation results kept by the document's tokens, not its text: whitespace, commas and comments
do not make a document new, so a refused document stays refused for what its check cost once.

strawberry's ValidationCache keys on the parsed document, whose nodes carry their positions
in the text: one added space was a new document, checked again from scratch.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.schema.schema import validate_document

# GraphQL's lexical tokens, and (matched but not kept) what the lexer ignores: white space,
# commas, comments, the byte order mark. Strings are matched whole first, so a `#` or a space in a
# string is part of it. Alternatives never overlap, so matching never backtracks.
_TOKENS = re.compile(r'''
    ("""(?:\\"""|[^"\\]|\\(?!""")|"(?!""))*+"""      # block string
    |"(?:[^"\\\n\r]|\\.)*+"                          # string
    |[_A-Za-z][_0-9A-Za-z]*+                         # name
    |-?[0-9]++(?:\.[0-9]++)?+(?:[eE][+-]?[0-9]++)?+  # number
    |\.\.\.                                          # spread
    |[^\s,\ufeff#])                                  # any other character is a token of its own
    |[\s,\ufeff]++|\#[^\n\r]*+                       # ignored
''', re.VERBOSE)


_LOCATED_CHARS = 4_000


def document_key(query: str) -> bytes:
    """The same for two texts of the same tokens in the same order (two texts that parse to the
    same document but for positions)."""
    tokens = [t for t in _TOKENS.findall(query) if t]
    return hashlib.blake2b("\x00".join(tokens).encode("utf-8", "surrogatepass"), digest_size=20).digest()


class ValidationResults:
    """The errors (none, for a valid document) of the last `maxsize` documents, by token key.
    One per schema: results hold for one schema and one set of rules. Errors are kept by their
    text's positions, not its nodes: a node's location holds the document's every token."""

    def __init__(self, maxsize: int = 1024) -> None:
        self._max = maxsize
        self._entries: OrderedDict[bytes, tuple[bytes, list[GraphQLError]]] = OrderedDict()

    def get(self, key: bytes, query: str) -> list[GraphQLError] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        text, errors = entry
        if text == _text_digest(query) or not errors:
            return errors
        # Another text of the same document: the positions of the first one would mislead.
        return [GraphQLError(e.message, extensions=e.extensions) for e in errors]

    def put(self, key: bytes, query: str, errors: list[GraphQLError]) -> None:
        located = len(query) <= _LOCATED_CHARS  # a large document's errors are kept without its text
        kept = [GraphQLError(e.message, source=e.source if located else None, positions=e.positions if located else None,
                             extensions=e.extensions) for e in errors]
        self._entries[key] = (_text_digest(query), kept)
        self._entries.move_to_end(key)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)


def _text_digest(query: str) -> bytes:
    return hashlib.blake2b(query.encode("utf-8", "surrogatepass"), digest_size=20).digest()


class TokenValidationCache(SchemaExtension):
    def __init__(self, results: ValidationResults) -> None:
        super().__init__()
        self.results = results

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document, query = context.graphql_document, context.query
        if document is not None and query is not None:
            key = document_key(query)
            errors = self.results.get(key, query)
            if errors is None:
                errors = validate_document(context.schema._schema, document, context.validation_rules)
                self.results.put(key, query, errors)  # this request answers with the full errors
            context.pre_execution_errors = errors
        yield
