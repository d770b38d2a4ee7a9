"""Which documents answer the same whatever the caller: the schema marks the fields that do not.

A field whose answer depends on who asks carries `metadata={VIEWER: ...}` on its strawberry field
(root.py): PER_VIEWER when it is the caller's own data (`viewer`, `hold`, `order`, ...), DRAFTS when
the caller only decides whether drafts are visible (`show`, `event`: drafts are their organizer's
and admins'). Every other field answers the same for everybody: its resolver reads no viewer.

A query document touching no marked field is shared by every caller (EVERYONE); one touching
DRAFTS fields too is shared by every caller who sees only published events (PUBLISHED_ONLY:
anonymous callers and fans); one touching a PER_VIEWER field, and every mutation, is never
shared. The whole document is looked at (every operation and fragment, whatever the variables):
a field an @include or an unused fragment might select counts as selected.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from graphql import (DocumentNode, FieldNode, GraphQLError, GraphQLSchema, TypeInfo,
                     TypeInfoVisitor, Visitor, visit)
from strawberry.schema.schema_converter import GraphQLCoreConverter

from ..booking.records import Viewer
from .operations import selected_operation

VIEWER = "boxoffice.viewer"  # the metadata key


class Audience(enum.Enum):
    EVERYONE = "everyone"
    PUBLISHED_ONLY = "published-only"  # callers who see no draft: anonymous ones and fans

    def admits(self, viewer: Viewer | None) -> bool:
        """Whether this caller gets the answer anonymous callers get (booking/catalog/browse.py
        can_see_event: drafts are for admins and their organizer; fans cannot organize)."""
        return self is Audience.EVERYONE or viewer is None or viewer.role == "fan"


PER_VIEWER = "per-viewer"
DRAFTS = "drafts"


def per_viewer() -> dict[str, str]:
    """A field's metadata: its answer is the caller's own data."""
    return {VIEWER: PER_VIEWER}


def drafts_visible() -> dict[str, str]:
    """A field's metadata: it shows drafts to their organizer and to admins."""
    return {VIEWER: DRAFTS}


@dataclass(frozen=True, slots=True)
class DocumentKind:
    operation: str | None  # "query", "mutation", "subscription"; None: not one runnable operation
    audience: Audience | None  # None: never shared

    @property
    def shared(self) -> Audience | None:
        """Who may share this request's answer: only queries are ever shared."""
        return self.audience if self.operation == "query" else None


NOT_SHARED = DocumentKind(None, None)


def audience_of(schema: GraphQLSchema, document: DocumentNode) -> Audience | None:
    """The callers who all get the same answer to this document, from the marks of its fields."""
    type_info = TypeInfo(schema)
    marks: set[str] = set()
    unknown = False

    class Marks(Visitor):
        def enter_field(self, node: FieldNode, *_: object) -> None:
            nonlocal unknown
            definition = type_info.get_field_def()
            if definition is None:
                unknown = True  # not valid against the schema: the executor says so
                return
            field = definition.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            mark = getattr(field, "metadata", None) or {}
            if VIEWER in mark:
                marks.add(mark[VIEWER])

    visit(document, TypeInfoVisitor(type_info, Marks()))
    if unknown or PER_VIEWER in marks or marks - {DRAFTS}:
        return None
    return Audience.PUBLISHED_ONLY if marks else Audience.EVERYONE


class DocumentKinds:
    """Kinds of request bodies' documents, by (document, operation name), least recently used
    first out, bounded by their total length (`parse` is the schema's: schema/build.py ParsedDocuments)."""

    def __init__(self, schema: GraphQLSchema, parse: Callable[[str], DocumentNode], max_chars: int = 64_000) -> None:
        self._schema = schema
        self._parse = parse
        self._max_chars = max_chars
        self._chars = 0
        self._kinds: OrderedDict[tuple[str, str | None], DocumentKind] = OrderedDict()

    def of_body(self, body: bytes) -> DocumentKind:
        """The kind of one GraphQL request body (a JSON object with a query); NOT_SHARED for
        anything else (a batch, a body that is not JSON, ...)."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return NOT_SHARED
        if not isinstance(data, dict) or not isinstance(data.get("query"), str):
            return NOT_SHARED
        name = data.get("operationName")
        return self.of(data["query"], name if isinstance(name, str) else None)

    def of(self, query: str, operation_name: str | None) -> DocumentKind:
        key = (query, operation_name)
        kind = self._kinds.get(key)
        if kind is not None:
            self._kinds.move_to_end(key)
            return kind
        kind = self._classify(query, operation_name)
        self._kinds[key] = kind
        self._chars += len(query)
        while self._chars > self._max_chars and len(self._kinds) > 1:
            (oldest, _), _ = self._kinds.popitem(last=False)
            self._chars -= len(oldest)
        return kind

    def _classify(self, query: str, operation_name: str | None) -> DocumentKind:
        try:
            document = self._parse(query)
        except GraphQLError:
            return NOT_SHARED
        selected = selected_operation(document, operation_name)
        if selected is None:
            return NOT_SHARED
        operation = selected.operation.value
        return DocumentKind(operation, audience_of(self._schema, document) if operation == "query" else None)
