"""GraphQL over HTTP POST without strawberry's per-request machinery, for every document.

strawberry rebuilds, for each request, its extensions, an extension runner, an execution
context, and runs async hooks around parsing, validation and execution, then looks the document
up in its parse and validation caches: several times the cost of executing a small operation.
This ASGI middleware answers POST /graphql with a JSON body itself: the document comes from
PreparedDocuments (parsed, validated and resolved to its operation once per text, and what
graphql-core's `build` derives from it prepared once: schema/prepared_execution.py), it is executed
by graphql-core on the schema strawberry built, with the schema's execution context class and
the view's own context (BoxofficeGraphQL.get_context: the caller authenticated), and the answer
is written with orjson. What the schema's extensions do per request is done here in the same
order: errors logged by the schema (a client's mistake one INFO line), unexpected ones masked
(MaskErrors), the operation counted and timed (MetricsExtension), the answer held to the
response budget (BoxofficeGraphQL.create_response). tests/resolvers/test_fast_path.py proves
the answers are strawberry's, byte for byte.

Whatever strawberry would refuse with an HTTP error of its own, or answers in another shape (a
body that is not one JSON object with a query, a batch, unstorable text, a document over the
length cap, an operation name not in the document, a subscription, GET, multipart and
streaming transports) is handed on untouched, and strawberry answers it as before.
"""

from __future__ import annotations

import inspect
import json
import time
from typing import TYPE_CHECKING, Any

import orjson
from graphql import ExecutionResult, GraphQLError, execute
from graphql.execution.executor import UNEXPECTED_MULTIPLE_PAYLOADS
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.execution import optimized_is_awaitable

from .http_body import body_of
from .metrics import Metrics
from .schema.build import MAX_DOCUMENT_CHARS
from .schema.outage_errors import unavailable_answer
from .schema.prepared_documents import PreparedDocument, PreparedDocuments, Undecided
from .schema.response_budget import too_large_error
from .schema.text_rules import has_unstorable_text

if TYPE_CHECKING:
    from .graphql_view import BoxofficeGraphQL

_JSON = b"application/json"


class GraphQLFastPath:
    def __init__(self, app: ASGIApp, view: BoxofficeGraphQL, documents: PreparedDocuments,
                 metrics: Metrics) -> None:
        self.app = app
        self.view = view
        self.documents = documents
        self.strawberry_schema = view.schema
        self.executor_class = view.schema.execution_context_class  # type: ignore[attr-defined]
        self.metrics = metrics
        self._meters: dict[str, tuple[Any, Any]] = {}
        self.served = 0  # requests answered here (for tests and operators' curiosity)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/graphql":
            await self.app(scope, receive, send)
            return
        content_type = accept = None
        for name, value in scope["headers"]:
            if name == b"content-type" and content_type is None:
                content_type = value
            elif name == b"accept" and accept is None:
                accept = value.lower()
        if (content_type is None or content_type.split(b";", 1)[0].strip().lower() != _JSON
                or (accept is not None and (b"multipart" in accept or b"event-stream" in accept))):
            await self.app(scope, receive, send)  # forms and streaming transports are strawberry's
            return
        body, replay = await body_of(scope, receive)  # bounded by BodyLimit in front
        request = self.request(body)
        if request is None:
            await self.app(scope, replay, send)
            return
        query, variables, operation_name, extensions, prepared = request
        http = Request(scope=scope, receive=replay)
        sub_response = await self.view.get_sub_response(http)
        try:
            context = await self.view.get_context(http, response=sub_response)
        except Exception as err:  # the caller could not be looked up: as BoxofficeGraphQL answers it
            refused = unavailable_answer(err)
            if refused is None:
                raise
            await refused(scope, replay, send)
            return
        started = time.perf_counter()  # where MetricsExtension starts: the operation, not the context
        data, errors = await self.execute(prepared, context, variables, extensions)
        payload: dict[str, Any] = {"data": data}
        if errors:
            payload["errors"] = [error.formatted for error in errors]
        count, latency = self.meters(prepared.operation_type)
        count.inc()
        latency.observe(time.perf_counter() - started)
        self.served += 1
        await self.send(send, payload, sub_response)

    def meters(self, kind: str) -> tuple[Any, Any]:
        """MetricsExtension's counter and histogram for an operation type (children looked up once)."""
        found = self._meters.get(kind)
        if found is None:
            found = self._meters[kind] = (self.metrics.graphql_requests.labels(kind),
                                          self.metrics.graphql_latency.labels(kind))
        return found

    def request(self, body: bytes) -> tuple[str, dict[str, Any] | None, str | None, dict[str, Any] | None,
                                          PreparedDocument] | None:
        """The request's parts and its prepared document, or None for one strawberry answers."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None  # strawberry's reading (the stdlib's, for edge cases), or its 400
        if type(data) is not dict:
            return None  # a batch, or not a GraphQL request
        query, variables = data.get("query"), data.get("variables")
        operation_name, extensions = data.get("operationName"), data.get("extensions")
        if (type(query) is not str or not query or len(query) > MAX_DOCUMENT_CHARS
                or not (variables is None or type(variables) is dict)
                or not (operation_name is None or type(operation_name) is str)
                or not (extensions is None or type(extensions) is dict)):
            return None
        # Walked only where it can find something: orjson refuses unpaired surrogates and raw control
        # characters, so an escaped NUL is the only unstorable text, and nesting past the walk's 64
        # levels needs more than 64 brackets.
        if ((b"\\u0000" in body or body.count(b"{") + body.count(b"[") > 64)
                and ((variables and has_unstorable_text(variables))
                     or (operation_name and has_unstorable_text(operation_name)))):
            return None  # refused at the door with a 400 (app.py parse_http_body)
        try:
            prepared = self.documents.get(query, operation_name)
        except Undecided:
            return None
        return query, variables, operation_name, extensions, prepared

    async def execute(self, prepared: PreparedDocument, context: Any, variables: dict[str, Any] | None,
                      extensions: dict[str, Any] | None) -> tuple[Any, list[GraphQLError]]:
        """What strawberry's Schema.execute makes of a prepared document: data and errors, the
        errors logged by the schema first, then masked as MaskErrors masks them."""
        if prepared.errors:
            data, errors = None, prepared.errors
        else:
            assert prepared.document is not None
            try:
                executor = (None if prepared.execution is None
                            else prepared.execution.executor(self.executor_class, context, variables, extensions))
                result: Any
                if executor is not None:  # what execute() runs, built without its per-request walk
                    result = executor.execute_operation()
                else:
                    result = execute(self.documents.schema, prepared.document, context_value=context,
                                     variable_values=variables, operation_name=prepared.operation_name,
                                     is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                                     executor_class=self.executor_class,
                                     operation_extensions=extensions)
                if inspect.isawaitable(result):
                    result = await result
                if not isinstance(result, ExecutionResult):  # as execute() refuses @defer / @stream
                    raise GraphQLError(UNEXPECTED_MULTIPLE_PAYLOADS)
                data, errors = result.data, result.errors or []
            except Exception as error:  # strawberry turns any failure around execution into an error
                data, errors = None, [error if isinstance(error, GraphQLError)
                                      else GraphQLError(str(error), original_error=error)]
        if not errors:
            return data, []
        self.strawberry_schema._process_errors(errors)
        mask = self.documents.mask
        if mask is not None:
            errors = [mask.anonymise_error(e) if mask.should_mask_error(e) else e for e in errors]
        return data, errors

    async def send(self, send: Send, payload: dict[str, Any], sub_response: Any) -> None:
        """The JSON response strawberry's view writes: same status, headers and encoding."""
        try:
            body = orjson.dumps(payload)
        except TypeError:  # e.g. an unpaired surrogate in a message: the stdlib escapes it
            body = json.dumps(payload, ensure_ascii=True, default=str).encode()
        status = sub_response.status_code or 200
        extra = sub_response.headers.raw
        budget = self.view.max_response_bytes
        if budget and len(body) > budget:  # BoxofficeGraphQL.create_response's typed refusal
            body = orjson.dumps({"data": None, "errors": [too_large_error(budget).formatted]})
            status, extra = 200, []
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", _JSON), *extra]})
        await send({"type": "http.response.body", "body": body})
        if sub_response.background is not None:
            await sub_response.background()
