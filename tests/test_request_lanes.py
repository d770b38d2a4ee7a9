"""Which lane a request body belongs to: only documents made of a lane's fields alone."""

import orjson
from graphql import DocumentNode

from boxoffice.request_lanes import Lane, LaneReader
from boxoffice.schema.build import PARSED_CHARS_KEPT, ParsedDocuments


def body(query: str, **extra: object) -> bytes:
    return orjson.dumps({"query": query, **extra})


def reader(max_documents: int = 512) -> LaneReader:
    return LaneReader(ParsedDocuments(max_chars=PARSED_CHARS_KEPT).parse, max_documents)  # app.py: the schema's


def test_documents_are_read_by_their_top_level_fields() -> None:
    lanes = reader()
    assert lanes.of_body(body("mutation E($id: ID!) { enterWaitingRoom(showId: $id) { __typename "
                              "... on WaitingRoomTicket { id position } } }")) is Lane.WAITING_ROOM
    assert lanes.of_body(body("query { t: waitingRoomTicket(id: 1) { id } __typename }")) is Lane.WAITING_ROOM
    assert lanes.of_body(body("mutation { confirmPayment(input: {orderId: 1}) { __typename } }")) is Lane.CHECKOUT
    assert lanes.of_body(body("mutation { createOrder(input: {holdId: 1}) { __typename } }")) is Lane.CHECKOUT
    assert lanes.of_body(body("query O($id: ID!) { order(id: $id) { status tickets { id } } }")) is Lane.CHECKOUT
    assert lanes.of_body(orjson.dumps([{"query": "{ waitingRoomTicket(id: 1) { id } }"}] * 2)) is Lane.WAITING_ROOM


def test_naming_a_lane_field_is_not_enough() -> None:
    lanes = reader()
    general = [
        body("{ serverTime } # enterWaitingRoom"),  # a comment
        body("{ serverTime }", variables={"x": "confirmPayment"}),  # a variable
        body("mutation { enterWaitingRoom(showId: 1) { id } holdSeats(input: {}) { __typename } }"),  # beside another
        body("mutation { confirmPayment(input: {}) { __typename } enterWaitingRoom(showId: 1) { id } }"),  # two lanes
        body("query { ...F } fragment F on Query { waitingRoomTicket(id: 1) { id } }"),  # a spread at the top
        body("{ waitingRoomTicket(id: 1) { id }"),  # does not parse
        body("{ waitingRoomTicket(id: 1) { id } }" + " " * 3000),  # too long to be one of them
        b'{"query": "{ waitingRoomTicket(id: 1) { id } }"',  # not JSON
        orjson.dumps([{"query": "{ waitingRoomTicket(id: 1) { id } }"}, {"query": "{ serverTime }"}]),  # mixed batch
    ]
    assert [lanes.of_body(b) for b in general] == [Lane.GENERAL] * len(general)


def test_get_requests_are_read_from_the_url() -> None:
    lanes = reader()
    assert lanes.of_query_string(b"query=%7B+waitingRoomTicket(id%3A+1)+%7B+id+%7D+%7D") is Lane.WAITING_ROOM
    assert lanes.of_query_string(b"query=%7B+serverTime+%7D") is Lane.GENERAL


def test_only_the_latest_documents_are_remembered() -> None:
    lanes = reader(max_documents=2)
    for i in range(5):
        assert lanes.of_document(f"query Q{i} {{ waitingRoomTicket(id: {i}) {{ id }} }}") is Lane.WAITING_ROOM
    assert len(lanes._lanes) == 2


def test_documents_of_more_than_a_thousand_tokens_are_general() -> None:
    def waiting_room_ticket(empty_lists: int) -> str:
        return "{ waitingRoomTicket(id: [" + "[]" * empty_lists + "]) { id } }"  # 12 tokens and 2 a list

    lanes = reader()
    assert lanes.of_document(waiting_room_ticket(480)) is Lane.WAITING_ROOM  # 972 tokens
    assert lanes.of_document(waiting_room_ticket(520)) is Lane.GENERAL  # 1,052 tokens, 1,076 characters


def test_a_document_is_parsed_once_for_its_lane_and_its_execution() -> None:
    """The lane is read from the schema's parse, which execution then finds done."""
    documents = ParsedDocuments(max_chars=PARSED_CHARS_KEPT)
    parsed: list[DocumentNode] = []

    def parse(query: str) -> DocumentNode:
        parsed.append(documents.parse(query))
        return parsed[-1]

    query = "mutation { createOrder(input: {holdId: 1}) { __typename } }"
    assert LaneReader(parse).of_body(body(query)) is Lane.CHECKOUT
    assert documents.parse(query) is parsed[0]
