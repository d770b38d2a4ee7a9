"""Which load-shedding lane a GraphQL request belongs to (shed_load.py), read from its body.

Two kinds of request must not be turned away with the crowd:
  * checkout (`createOrder`, `confirmPayment`, and `order`, the buyer reading the order they are paying
    for and its tickets): a fan who holds seats is seconds from a sale, and one who paid is waiting for
    their tickets;
  * the waiting room (`enterWaitingRoom`, `waitingRoomTicket`): it is the shock absorber that exists
    to take a flash crowd, and each request is one Redis round trip.

A request is in such a lane only if every operation of its document selects nothing but that lane's
fields at the top level (so naming the field in a comment or beside an expensive query gets the
general lane). The check is a byte search first (a body that names none of the fields costs one
scan), then the document from the schema's parse (schema/build.py ParsedDocuments, which its
execution then finds parsed), the lane remembered by its text: clients send the same few documents
again and again. Documents too long to be one of these are never parsed here.
"""

from __future__ import annotations

import enum
import re
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import parse_qs

import orjson
from graphql import DocumentNode, FieldNode, GraphQLError, OperationDefinitionNode


class Lane(enum.Enum):
    GENERAL = "general"
    CHECKOUT = "checkout"
    WAITING_ROOM = "waiting_room"


LANE_FIELDS: dict[Lane, frozenset[str]] = {
    Lane.CHECKOUT: frozenset({"createOrder", "confirmPayment", "order"}),
    Lane.WAITING_ROOM: frozenset({"enterWaitingRoom", "waitingRoomTicket"}),
}
_NAMES = re.compile(b"|".join(re.escape(name.encode()) for fields in LANE_FIELDS.values() for name in fields))
MAX_LANE_DOCUMENT_CHARS = 2000  # a checkout or waiting-room document is a few hundred characters
MAX_LANE_TOKENS = 1000  # counted as graphql-core's parse(max_tokens=...) counts them, comments too
MAX_BATCH = 10


def _document_lane(document: DocumentNode) -> Lane:
    # graphql-core records the count on the documents it parses; one without it counts as too long.
    if getattr(document, "token_count", MAX_LANE_TOKENS + 1) > MAX_LANE_TOKENS:
        return Lane.GENERAL
    names: set[str] = set()
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue  # fragments only matter where an operation's top level spreads them: refused below
        for selection in definition.selection_set.selections:
            if not isinstance(selection, FieldNode):
                return Lane.GENERAL
            if selection.name.value != "__typename":
                names.add(selection.name.value)
    for lane, fields in LANE_FIELDS.items():
        if names and names <= fields:
            return lane
    return Lane.GENERAL


class LaneReader:
    """Classifies request bodies, remembering the last `max_documents` documents' lanes. `parse` is
    the schema's (app.py: `schema.parsed_documents.parse`): raises GraphQLError for a document that
    does not parse."""

    def __init__(self, parse: Callable[[str], DocumentNode], max_documents: int = 512) -> None:
        self._parse = parse
        self._max = max_documents
        self._lanes: OrderedDict[str, Lane] = OrderedDict()

    def of_body(self, body: bytes) -> Lane:
        if _NAMES.search(body) is None:
            return Lane.GENERAL
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Lane.GENERAL
        items = data if isinstance(data, list) else [data]
        if not items or len(items) > MAX_BATCH or not all(isinstance(item, dict) for item in items):
            return Lane.GENERAL
        lanes = {self.of_document(item.get("query")) for item in items}
        return lanes.pop() if len(lanes) == 1 else Lane.GENERAL

    def of_query_string(self, query_string: bytes) -> Lane:
        """A GET request: the document is in the URL."""
        if _NAMES.search(query_string) is None:
            return Lane.GENERAL
        queries = parse_qs(query_string.decode("latin-1")).get("query", [])
        return self.of_document(queries[0]) if len(queries) == 1 else Lane.GENERAL

    def of_document(self, query: object) -> Lane:
        if not isinstance(query, str) or len(query) > MAX_LANE_DOCUMENT_CHARS:
            return Lane.GENERAL
        lane = self._lanes.get(query)
        if lane is not None:
            self._lanes.move_to_end(query)
            return lane
        try:
            lane = _document_lane(self._parse(query))
        except GraphQLError:
            lane = Lane.GENERAL
        self._lanes[query] = lane
        if len(self._lanes) > self._max:
            self._lanes.popitem(last=False)
        return lane
