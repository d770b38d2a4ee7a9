"""graphql-transport-ws whose subscriptions can take frames straight from the seat hub.

strawberry runs every subscription event through the operation's task: a queue wake-up, the
resolver's generator, graphql-core's map, strawberry's result handling and its send, about
120 µs per subscriber and message. Here each subscription gets a `DirectFrames` root value that
writes a shared event's ready-made `next` frame to the socket from the caller (the hub's flush,
in one pass over the subscribers). Everything else (connection_init, ping/pong, errors,
`complete`, close codes) is strawberry's own handling, unchanged.

A connection that signed in at connection_init lasts as long as its session: when the token
expires, or the user logs out or has their password or role changed, its operations stop and the
socket closes with 4403 ("Token expired" / "Session ended"; clients may reconnect with a new
token). Anonymous connections (public seat maps) are not affected.
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Generator
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import CompleteMessage, ConnectionInitMessage
from strawberry.utils.aio import aclosing

from ..resolvers.context import Context
from ..subscriptions.session_watch import Watched
from .build import BoxofficeSchema
from .shared_events import DirectFrames


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


SESSION_CLOSE_CODE = 4403  # graphql-ws's Forbidden: a client may reconnect after signing in again


class LiveTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    schema: BoxofficeSchema  # the view's (graphql_view.py BoxofficeGraphQL takes only ours)
    _session: Watched | None = None

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
        if not self.schema.parsed_documents.is_subscription(operation.query, operation.operation_name):
            return None  # queries and mutations keep the connection's root value
        ws = getattr(self.websocket, "ws", None)  # the Starlette WebSocket under strawberry's adapter
        if ws is None:
            return None

        def is_open() -> bool:
            return self.operations.get(operation.id) is operation and not operation.completed

        def send(frame: str) -> bool | Awaitable[None]:
            return send_now(ws.send_text(frame))

        return DirectFrames(operation.id, is_open, send)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        # strawberry 0.341's run_operation, but with the operation's own root value.
        frames = self._frames(operation)
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=self.context,
                root_value=frames if frames is not None else self.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            await operation.send_operation_message(CompleteMessage(id=operation.id, type="complete"))
        except _OperationStreamClosed:
            return
        except Exception as error:  # pragma: no cover - strawberry's own last resort
            await self.handle_task_exception(error)
            try:
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            except Exception:  # noqa: BLE001
                pass
            self.operations.pop(operation.id, None)
            raise
