"""graphql-transport-ws whose subscriptions can take frames straight from the seat hub.

strawberry runs every subscription event through the operation's task: a queue wake-up, the
resolver's generator, graphql-core's map, strawberry's result handling and its send, about
120 µs per subscriber and message. Here each subscription gets a `DirectFrames` root value that
writes a shared event's ready-made `next` frame to the socket from the caller (the hub's flush,
in one pass over the subscribers). Everything else (connection_init, ping/pong, errors,
`complete`, close codes) is strawberry's own handling, unchanged, once a message has the shape the
protocol gives it (`protocol_error`): strawberry reads fields without checking their types, so a
subscribe whose payload was a number ended the socket with an exception and a stack trace.

A connection's open operations keep their documents and variables for as long as they run, so what
they keep is bounded too: MAX_BODY_BYTES in all, what one request body or WebSocket message may
carry. Past it a new operation is refused with an `error` (INVALID_INPUT) and the connection stays;
without the bound, 100 subscriptions of 900 KB of unused variables each held 90 MB per connection.
strawberry's bound on their number (100) answers with LIMIT_EXCEEDED here; its own error had no code.

A query or mutation sent over the socket takes one of the process's load-shedding slots as an HTTP
request does (shed_load.py RequestSlots), or ends with an `error` of code RATE_LIMITED: the socket is
no way around the in-flight limit. Subscriptions take none: they wait on events.

A connection that signed in at connection_init lasts as long as its session: when the token
expires, or the user logs out or has their password or role changed, its operations stop and the
socket closes with 4403 ("Token expired" / "Session ended"; clients may reconnect with a new
token). Anonymous connections (public seat maps) are not affected.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any

import orjson
from graphql import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
    Message,
)
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.utils.aio import aclosing

from ..http_body import MAX_BODY_BYTES
from ..resolvers.context import Context
from ..shed_load import BUSY, BUSY_EXTENSIONS, RequestSlots, answer_whole, holding
from ..subscriptions.session_watch import Watched
from .build import BoxofficeSchema
from .operations import OPERATION_NAME_NEEDED
from .shared_events import DirectFrames
from .text_rules import variables_problem


def send_now(write: Coroutine[Any, Any, None]) -> bool | Awaitable[None]:
    """Runs a socket write as far as it goes without waiting: True when done, else an awaitable
    that finishes it (a paused transport waits for its buffer to drain). Errors are raised here."""
    try:
        waiting_for = write.send(None)
    except StopIteration:
        return True
    return _Rest(write, waiting_for)


class _Rest:
    """The rest of a coroutine that was started by hand and is waiting for `waiting_for`."""

    __slots__ = ("_coro", "_waiting_for")

    def __init__(self, coro: Coroutine[Any, Any, None], waiting_for: Any) -> None:
        self._coro, self._waiting_for = coro, waiting_for

    def __await__(self) -> Generator[Any, Any, None]:
        waiting_for = self._waiting_for
        while True:  # what `yield from` does, from where the coroutine stopped
            try:
                sent = yield waiting_for
            except BaseException as exc:  # noqa: BLE001 - cancellation goes into the write
                try:
                    waiting_for = self._coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waiting_for = self._coro.send(sent)
                except StopIteration:
                    return


# What each client message may carry besides `type` (graphql-transport-ws, PROTOCOL.md): each
# field's JSON types; a field that may be null may also be absent. Unknown types are strawberry's.
_Kinds = tuple[type, ...]
_OBJECT_OR_NULL: _Kinds = (dict, type(None))
_FIELDS: dict[str, dict[str, _Kinds]] = {
    "connection_init": {"payload": _OBJECT_OR_NULL},
    "ping": {"payload": _OBJECT_OR_NULL},
    "pong": {"payload": _OBJECT_OR_NULL},
    "subscribe": {"id": (str,), "payload": (dict,)},
    "complete": {"id": (str,)},
}
_KIND_NAMES: dict[type, str] = {dict: "an object", str: "a non-empty string", type(None): "null"}
_SUBSCRIBE_PAYLOAD: dict[str, _Kinds] = {
    "query": (str,), "operationName": (str, type(None)), "variables": _OBJECT_OR_NULL, "extensions": _OBJECT_OR_NULL,
}


def protocol_error(message: object) -> str | None:
    """Why a client message is not one the protocol allows, or None. The socket is then closed with
    4400 and this reason, as graphql-ws's own server does."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "A message is a JSON object with a string `type`."
    kind = message["type"]
    fields = [("", name, message, kinds) for name, kinds in _FIELDS.get(kind, {}).items()]
    if kind == "subscribe" and isinstance(message.get("payload"), dict):
        fields += [("payload.", name, message["payload"], kinds) for name, kinds in _SUBSCRIBE_PAYLOAD.items()]
    for prefix, name, holder, kinds in fields:
        if name not in holder and type(None) in kinds:
            continue
        value = holder.get(name)
        if not isinstance(value, kinds) or value == "":
            wanted = " or ".join(_KIND_NAMES[k] for k in kinds)
            return f"A `{kind}` message needs `{prefix}{name}` to be {wanted}."
    return None


def operation_bytes(message: dict[str, Any]) -> int:
    """About what a subscribe message's operation keeps while it runs: its id and payload as JSON."""
    try:
        payload = orjson.dumps(message["payload"])
    except TypeError:  # an integer past 64 bits (the stdlib read it): the stdlib writes it
        payload = json.dumps(message["payload"]).encode()
    return len(message["id"]) + len(payload)


SESSION_CLOSE_CODE = 4403  # graphql-ws's Forbidden: a client may reconnect after signing in again


class LiveTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    schema: BoxofficeSchema  # the view's (graphql_view.py BoxofficeGraphQL takes only ours)
    _session: Watched | None = None
    max_operation_bytes = MAX_BODY_BYTES  # what the connection's open operations keep, in all
    _kept: dict[str, int] | None = None  # operation id -> operation_bytes, for the open ones

    async def handle_message(self, message: Message) -> None:
        problem = protocol_error(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        if message["type"] == "connection_init" and message.get("payload") is None:
            message = ConnectionInitMessage(type="connection_init")  # the protocol allows null; strawberry not
        if message["type"] != "subscribe" or not self.connection_acknowledged or message["id"] in self.operations:
            await super().handle_message(message)  # strawberry's answers (4401, 4409) come first
            return
        limit = self.max_subscriptions_per_connection
        if limit is not None and len(self.operations) >= limit:  # strawberry's check, with a code
            await self._refuse(message["id"], f"This connection has {limit} operations open, the most it may have; "
                               "complete some first.", code="LIMIT_EXCEEDED")
            return
        payload = message["payload"]
        # As over HTTP (graphql_view.parse_http_body): text PostgreSQL cannot store is refused, typed.
        if (problem := variables_problem(payload.get("variables"), payload.get("operationName"))) is not None:
            await self._refuse(message["id"], problem)
            return
        if self.schema.parsed_documents.needs_operation_name(payload["query"], payload.get("operationName")):
            await self._refuse(message["id"], OPERATION_NAME_NEEDED)
            return
        if self.schema.parsed_documents.names_no_operation(payload["query"], payload.get("operationName")):
            await self._refuse(message["id"], f'Unknown operation named "{payload["operationName"]}".')
            return
        kept = {op: size for op, size in (self._kept or {}).items() if op in self.operations}
        size = operation_bytes(dict(message))
        if sum(kept.values()) + size > self.max_operation_bytes:
            await self._refuse(message["id"], f"This connection's open operations would keep more than "
                               f"{self.max_operation_bytes:,} bytes of documents and variables; complete some first.")
            return
        await super().handle_message(message)
        if message["id"] in self.operations:
            kept[message["id"]] = size
        self._kept = kept

    async def send_message(self, message: Message) -> None:
        # A query's or mutation's answer is computed once it is sent: its slot goes back first, so a
        # client that stops reading holds its socket, not the server's capacity.
        answer_whole()
        await super().send_message(message)

    async def _refuse(self, operation_id: str, reason: str, code: str = "INVALID_INPUT") -> None:
        """The operation ends with an `error` message of that code; the connection stays."""
        error = GraphQLError(reason, extensions={"code": code})
        await self.send_message({"id": operation_id, "type": "error", "payload": [error.formatted]})

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)  # authenticates (on_ws_connect), then acks
        session = self.context.session
        if self.connection_acknowledged and session is not None and self._session is None:
            self._session = self.context.services.sessions.watch.watch(session.claims, self._end_session)

    async def _end_session(self, reason: str) -> None:
        # Operations first, so nothing writes to the socket while it closes.
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        await self.websocket.close(code=SESSION_CLOSE_CODE, reason=reason)

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            if self._session is not None:
                self._session.cancel()

    def _frames(self, operation: Operation[Context, None]) -> DirectFrames | None:
        """A subscription's root value (queries and mutations keep the connection's)."""
        ws = getattr(self.websocket, "ws", None)  # the Starlette WebSocket under strawberry's adapter
        if ws is None:
            return None

        def is_open() -> bool:
            return self.operations.get(operation.id) is operation and not operation.completed

        def send(frame: str) -> bool | Awaitable[None]:
            return send_now(ws.send_text(frame))

        return DirectFrames(operation.id, is_open, send)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        if self.schema.parsed_documents.is_subscription(operation.query, operation.operation_name):
            await self._run_operation(operation, self._frames(operation))
            return
        # A query or mutation is a request's work: it takes a slot as over HTTP, or is shed as there.
        slots: RequestSlots = self.view.request_slots  # type: ignore[attr-defined]  # graphql_view.py's
        held = await slots.admit(self.view.lanes.of_document(operation.query))  # type: ignore[attr-defined]
        if held is None:
            error = GraphQLError(BUSY, extensions=BUSY_EXTENSIONS)
            await operation.send_operation_message({"id": operation.id, "type": "error", "payload": [error.formatted]})
            return
        with holding(held):
            await self._run_operation(operation, None)
        self._note_write(operation)

    def _note_write(self, operation: Operation[Context, None]) -> None:
        """A signed-in caller's mutation is theirs to read next, over HTTP too (query_cache.py)."""
        note, kinds = self.view.note_write, self.view.document_kinds  # type: ignore[attr-defined]
        authorization = self.context.authorization()
        if note is None or kinds is None or not authorization:
            return
        if kinds.of(operation.query, operation.operation_name).operation != "query":
            note(authorization.encode("latin-1", "replace"))

    async def _run_operation(self, operation: Operation[Context, None], frames: DirectFrames | None) -> None:
        # strawberry 0.341's run_operation, but with the operation's own root value.
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=self.context.for_operation(),
                root_value=frames if frames is not None else self.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            await operation.send_operation_message(CompleteMessage(id=operation.id, type="complete"))
        except (_OperationStreamClosed, WebSocketDisconnected):  # the client is gone: nothing to tell
            return
        except Exception as error:  # pragma: no cover - strawberry's own last resort
            await self.handle_task_exception(error)
            try:
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            except Exception:  # noqa: BLE001
                pass
            self.operations.pop(operation.id, None)
            raise
