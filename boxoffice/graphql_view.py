"""The GraphQL view over HTTP and WebSocket: strawberry's ASGI app with our context, JSON, limits and GraphiQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL

from .client_address import client_address
from .graphiql_page import graphiql_page
from .request_lanes import LaneReader
from .resolvers.context import Context
from .schema.build import DOCUMENT_TOO_LONG, MAX_DOCUMENT_CHARS, BoxofficeSchema
from .schema.operations import OPERATION_NAME_NEEDED
from .schema.outage_errors import unavailable_answer
from .schema.response_budget import within_budget
from .schema.shared_events import encode_message
from .schema.text_rules import variables_problem
from .schema.transport_ws import LiveTransportWSHandler
from .schema.viewer_marks import DocumentKinds
from .shed_load import RequestSlots


class BoxofficeGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = LiveTransportWSHandler  # seat deltas written from the hub's flush
    schema: BoxofficeSchema  # build.py's (app.py): parse_http_body and the WebSocket transport read its parses

    async def get_context(self, request: Any, response: Any = None) -> Context:
        services = request.state.services
        context = Context(services=services, request=request, response=response,
                          client_address=client_address(request.scope, services.settings.trusted_proxies))
        if request.scope["type"] == "http":  # a WebSocket's caller is known at connection_init
            await context.authenticate()
        return context

    async def on_ws_connect(self, context: Context) -> Any:
        await context.authenticate()  # before the ack: no operation runs with an unknown caller
        return await super().on_ws_connect(context)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        try:
            return json.loads(data)  # the stdlib's reading of edge cases (e.g. lone surrogates)
        except RecursionError:  # nested past the stack: not JSON we read (a WebSocket closes with 4400)
            raise json.JSONDecodeError("nested too deeply", "", 0) from None

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return graphiql_page()  # our build, every asset same-origin: strawberry's loads them from a CDN

    max_response_bytes = 0  # set from the settings: larger HTTP answers become a typed error
    # app.py's: the process's load-shedding slots and the lanes of documents, shared with ShedLoad
    # so that queries and mutations over a WebSocket take slots as HTTP requests do.
    request_slots: RequestSlots
    lanes: LaneReader
    # A signed-in caller's mutation over a WebSocket, noted like one over HTTP (query_cache.py's
    # SharedAnswers), so their next read is not a shared answer from before it.
    note_write: Callable[[bytes], None] | None = None
    document_kinds: DocumentKinds | None = None

    def create_response(self, response_data: Any, sub_response: Any) -> Any:
        return within_budget(super().create_response(response_data, sub_response), self.max_response_bytes)

    def encode_json(self, data: object) -> str:
        # str, not bytes: graphql-transport-ws requires text frames on the WebSocket.
        return encode_message(data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as err:  # a refused request is still a GraphQL response, typed
            response = JSONResponse({"errors": [{"message": err.reason, "extensions": {"code": "INVALID_INPUT"}}]},
                                    status_code=err.status_code)
        except Exception as err:  # the caller could not be looked up: the database away or busy
            refused = unavailable_answer(err)
            if refused is None:
                raise
            response = refused
        await response(scope, receive, send)

    async def parse_http_body(self, request: Any) -> Any:
        try:
            data = await super().parse_http_body(request)
        except HTTPException:
            raise
        except (UnicodeError, ValueError, TypeError, AttributeError, RecursionError):
            raise HTTPException(400, "The body is not a GraphQL request: a JSON object with a query.") from None
        for item in data if isinstance(data, list) else [data]:
            if (problem := variables_problem(item.variables, item.operation_name)) is not None:
                raise HTTPException(400, problem)
            if item.query and len(item.query) > MAX_DOCUMENT_CHARS:  # before anything parses it
                raise HTTPException(400, DOCUMENT_TOO_LONG)
            if item.query and self.schema.parsed_documents.needs_operation_name(item.query, item.operation_name):
                raise HTTPException(400, OPERATION_NAME_NEEDED)
            if item.query and self.schema.parsed_documents.is_subscription(item.query, item.operation_name):
                raise HTTPException(400, "Subscriptions are served over WebSocket at /graphql (graphql-transport-ws).")
        return data
