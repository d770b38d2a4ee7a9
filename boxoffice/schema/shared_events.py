"""Subscription events shared by many subscribers: executed and encoded once, not once each.

The seat hub hands the same delta object to every subscriber of a show. Left alone,
graphql-core executes the subscription's selection set on it once per subscriber and each
`next` message is JSON-encoded once per subscriber: with thousands watching a stadium map that
was most of the server's CPU. An event whose object carries a `shared_results` dict (a
`Private` field) opts in: its fields must resolve the same for every viewer (visibility is
checked when the subscription starts, not per field). The executor then keeps one
ExecutionResult per (operation document, variables its selection reads) on the event, and its
`data` is a `SharedData` that remembers its own JSON. Each subscriber's frame is then its
operation id spliced around those shared bytes.

A subscription whose root value is a `DirectFrames` goes one step further: its executor binds
`render_shared` to it, so a delta's frame can be written to that client's socket by whoever
holds the delta (the seat hub's flush), without waking the operation's task at all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

import orjson
from graphql import ExecutionResult, FieldNode, OperationDefinitionNode, VariableNode, visit
from graphql.language import Visitor
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class SharedData(dict[str, Any]):
    """A subscription event's `data`, shared by every subscriber with the same document."""

    __slots__ = ("_encoded",)

    def encoded(self) -> str:
        try:
            return self._encoded
        except AttributeError:
            self._encoded: str = encode(self)
            return self._encoded


def encode(data: object) -> str:
    try:
        return orjson.dumps(data).decode()
    except TypeError:  # e.g. an unpaired surrogate: the stdlib escapes it
        return json.dumps(data, ensure_ascii=True, default=str)


def frame_prefix(operation_id: object, kind: str = "next") -> str:
    """A data message's text up to its data; the message ends with the data and `}}`."""
    return f'{{"id":{encode(operation_id)},"type":{encode(kind)},"payload":{{"data":'


def encode_message(message: object) -> str:
    """JSON text of a WebSocket message; a shared event's data is spliced in, not re-encoded."""
    if isinstance(message, dict) and message.get("type") in ("next", "data"):
        payload = message.get("payload")
        if isinstance(payload, dict) and len(payload) == 1 and type(payload.get("data")) is SharedData:
            return frame_prefix(message.get("id"), message["type"]) + payload["data"].encoded() + "}}"
    return encode(message)


Event = TypeVar("Event")
# Writes one `next` frame: True when written, or an awaitable when the socket must drain first.
SendFrame = Callable[[str], "bool | Awaitable[None]"]


class DirectFrames:
    """The root value of one subscription over graphql-transport-ws: its shared events can be
    written to the socket as `next` frames straight from their source, not through its task."""

    __slots__ = ("_is_open", "_prefix", "_render", "_send")

    def __init__(self, operation_id: str, is_open: Callable[[], bool], send: SendFrame) -> None:
        self._prefix = frame_prefix(operation_id)
        self._is_open = is_open  # False once the client or the server completed the operation
        self._send = send
        self._render: Callable[[object], SharedData | None] | None = None

    def bind(self, render: Callable[[object], SharedData | None]) -> None:
        """Called by the operation's executor."""
        self._render = render

    def writer(self, view: Callable[[Event], object]) -> Callable[[Event], bool | Awaitable[None]] | None:
        """Writes an event (as `view` presents it to GraphQL): True when written, False when it has
        to go through the operation's task (not shared, errors, operation over), or an awaitable that
        finishes the write. None when this operation cannot write directly."""
        render = self._render
        if render is None:
            return None

        def write(event: Event) -> bool | Awaitable[None]:
            if not self._is_open():
                return False
            data = render(view(event))
            if data is None:
                return False
            return self._send(self._prefix + data.encoded() + "}}")

        return write


class _VariableNames(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: VariableNode, *_: object) -> None:
        self.names.add(node.name.value)


def variables_read_per_event(operation: OperationDefinitionNode, fragments: dict[str, Any]) -> tuple[str, ...]:
    """Variables the per-event execution can read: all but those only in the root fields' arguments
    (`showId`, `sinceVersion` choose the stream; the same delta renders the same for any of them)."""
    collector = _VariableNames()
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode):
            for directive in selection.directives or ():
                visit(directive, collector)
            if selection.selection_set is not None:
                visit(selection.selection_set, collector)
        else:  # a fragment at the root: every variable it mentions
            visit(selection, collector)
    for fragment in fragments.values():
        visit(getattr(fragment, "definition", fragment), collector)
    return tuple(sorted(collector.names))


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, with per-event results shared through the event's `shared_results`."""

    _event_variables: tuple[str, ...] | None = None
    _key: Hashable | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.root_value, DirectFrames):
            # Now, when the client subscribes, rather than for every subscriber in a flush.
            self._event_variables = variables_read_per_event(self.operation, self.fragments)
            self.root_value.bind(self.render_shared)

    def render_shared(self, event: object) -> SharedData | None:
        """This operation's shared `data` for an event, executed at most once per event and
        document; None if the event is not shared or its result is anything but plain data."""
        results = getattr(event, "shared_results", None)
        if not isinstance(results, dict):
            return None
        if self._event_variables is None:
            self._event_variables = variables_read_per_event(self.operation, self.fragments)
        result = results.get(self._result_key())
        if result is None:
            result = self.build_per_event_executor(event).execute_operation(False)
        if (isinstance(result, ExecutionResult) and not result.errors and not result.extensions
                and type(result.data) is SharedData):
            return result.data
        return None

    def build_per_event_executor(self, payload: Any) -> Any:
        if self._event_variables is None:
            self._event_variables = variables_read_per_event(self.operation, self.fragments)
        return super().build_per_event_executor(payload)

    def execute_operation(self, serially: bool | None = None) -> Any:
        results = getattr(self.root_value, "shared_results", None)
        # serially=False is graphql-core's per-event execution of a subscription.
        if serially is not False or not isinstance(results, dict) or self._event_variables is None:
            return super().execute_operation(serially)
        key = self._result_key()
        hit = results.get(key)
        if hit is not None:
            return hit
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            # One execution for everyone; a subscriber that goes away must not cancel it for the rest.
            results[key] = _Shielded(asyncio.ensure_future(_shared(result)))
        else:
            results[key] = _share(result)
        return results[key]

    def _result_key(self) -> Hashable:
        """The document's text and operation (documents are parsed per request or cache entry, so
        node identity would miss), plus the values of the variables the selection reads."""
        if self._key is None:
            self._key = self._compute_result_key()
        return self._key

    def _compute_result_key(self) -> Hashable:
        operation = self.operation
        source: Hashable = operation.loc.source.body if operation.loc is not None else operation
        name = operation.name.value if operation.name is not None else None
        names = self._event_variables or ()
        if not names:
            return source, name
        coerced = self.variable_values.coerced
        return source, name, encode({n: coerced.get(n) for n in names})


def _share(result: Any) -> Any:
    if isinstance(result, ExecutionResult) and isinstance(result.data, dict):
        result.data = SharedData(result.data)
    return result


async def _shared(result: Awaitable[Any]) -> Any:
    return _share(await result)


class _Shielded:
    """Awaitable by many: each await is shielded from the others' cancellation."""

    __slots__ = ("_task",)

    def __init__(self, task: asyncio.Future[ExecutionResult]) -> None:
        self._task = task

    def __await__(self) -> Any:
        return asyncio.shield(self._task).__await__()
