"""holdSeats without the GraphQL executor, for documents compiled by HoldDocuments.

A flash sale is thousands of identical holdSeats requests a second, and strawberry's per-request
machinery (parsing the HTTP request, context, extensions, validation-cache lookups, argument
conversion, field-by-field execution) costs several times the hold itself. This ASGI middleware
answers a POST /graphql whose document compiled to a HoldPlan: it coerces the variables, calls
`place_hold` (the schema's resolver does the same: rate limit, authentication, admission, the
domain hold, the seat-change publish), maps the outcome with the schema's own `problem()`, and
writes the JSON the schema would write for that document. Anything it is not sure about (another
document, a batch, a streaming Accept header, variables GraphQL would coerce or reject, text
PostgreSQL cannot store) is handed on untouched, and strawberry answers it as before.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from ..booking.errors import BookingError, DatabaseUnavailable
from ..db import database_unavailable
from ..booking.records import GALine, HoldRecord
from ..client_address import client_address
from ..http_body import body_of
from ..metrics import Metrics
from ..schema.enums import HoldStatus
from ..schema.results import Rejected, SeatsUnavailable, problem
from .hold_documents import HoldDocuments, HoldPlan, Selection
from .holds import place_hold

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger("boxoffice.holds")

_INPUT_FIELDS = frozenset({"showId", "idempotencyKey", "seatIds", "generalAdmission", "admissionToken"})
_LINE_FIELDS = frozenset({"sectionId", "quantity"})
_INT32 = range(-2**31, 2**31)
_HOLD_STATUS = {s.value: s.name for s in HoldStatus}
_JSON = b"application/json"

# (show id, seat ids, GA lines, idempotency key, admission token): HoldSeatsInput, coerced.
HoldArgs = tuple[str, list[str], list[tuple[str, int]], str, str | None]


class HoldFastPath:
    def __init__(self, app: ASGIApp, documents: HoldDocuments, metrics: Metrics) -> None:
        self.app = app
        self.documents = documents
        self.requests = metrics.graphql_requests.labels("mutation")
        self.latency = metrics.graphql_latency.labels("mutation")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/graphql":
            await self.app(scope, receive, send)
            return
        content_type = accept = authorization = None
        for name, value in scope["headers"]:
            if name == b"content-type" and content_type is None:
                content_type = value
            elif name == b"accept" and accept is None:
                accept = value.lower()
            elif name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
        if (content_type is None or content_type.split(b";", 1)[0].strip().lower() != b"application/json"
                or (accept is not None and (b"multipart" in accept or b"event-stream" in accept))):
            await self.app(scope, receive, send)  # streaming transports and forms are strawberry's
            return
        body, replay = await body_of(scope, receive)  # bounded by BodyLimit in front
        found = self._compiled(body) if b"holdSeats" in body else None
        if found is None:
            await self.app(scope, replay, send)
            return
        plan, args = found
        started = time.perf_counter()
        services: Services = scope["state"]["services"]
        payload = await _answer(plan, args, services, authorization,
                                client_address(scope, services.settings.trusted_proxies))
        await _send_json(send, payload)
        self.requests.inc()
        self.latency.observe(time.perf_counter() - started)

    def _compiled(self, body: bytes) -> tuple[HoldPlan, HoldArgs] | None:
        """The plan and the coerced input, when strawberry would run this request as a
        holdSeats mutation that coerces without errors; else None."""
        # Text PostgreSQL cannot store is refused by the schema's view (a 400): leave it that.
        # orjson refuses unpaired surrogates and raw control characters, so only an escaped
        # NUL can reach the variables.
        if b"\\u0000" in body:
            return None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if type(data) is not dict:
            return None  # a batch, or not a GraphQL request
        query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
        if (type(query) is not str or type(variables) is not dict or (name is not None and type(name) is not str)
                or not isinstance(data.get("extensions"), (dict, type(None)))):
            return None
        plan = self.documents.plan(query, name)
        if plan is None:
            return None
        args = _coerce(variables.get(plan.variable))
        return None if args is None else (plan, args)


def _coerce(value: Any) -> HoldArgs | None:
    """HoldSeatsInput from JSON, only where GraphQL's coercion is the identity; anything it
    would convert (an ID given as a number, one seat id not in a list) or refuse is None."""
    if type(value) is not dict or not value.keys() <= _INPUT_FIELDS:
        return None
    show_id, key, token = value.get("showId"), value.get("idempotencyKey"), value.get("admissionToken")
    seat_ids, ga = value.get("seatIds"), value.get("generalAdmission")
    if type(show_id) is not str or type(key) is not str or (token is not None and type(token) is not str):
        return None
    if seat_ids is None:
        seat_ids = []
    elif type(seat_ids) is not list or any(type(s) is not str for s in seat_ids):
        return None
    lines: list[tuple[str, int]] = []
    if ga is not None:
        if type(ga) is not list:
            return None
        for line in ga:
            if type(line) is not dict or line.keys() != _LINE_FIELDS:
                return None
            section, quantity = line["sectionId"], line["quantity"]
            if type(section) is not str or type(quantity) is not int or quantity not in _INT32:
                return None
            lines.append((section, quantity))
    return show_id, seat_ids, lines, key, token


async def _answer(plan: HoldPlan, args: HoldArgs, services: Services, authorization: str | None,
                  address: str) -> dict[str, Any]:
    try:
        answer: HoldRecord | Rejected | SeatsUnavailable
        try:
            # The schema's context makes the same check: the token must still hold (cached: cheap).
            session = await services.sessions.of_authorization(authorization)
            viewer = session.viewer if session is not None else None
            answer = await place_hold(services, viewer, address, *args)
        except BookingError as err:
            answer = problem(err)
        except Exception as err:  # as attempt_hold (resolvers/problems.py): a failover is a typed refusal
            if not database_unavailable(err):
                raise
            answer = problem(DatabaseUnavailable())
        return {"data": {plan.result_key: _render(plan, answer)}}
    except Exception:
        # What the schema does with a fault in the resolver: logged, masked, data null
        # (holdSeats is non-null).
        log.exception("holdSeats failed")
        return {"data": None, "errors": [plan.masked_error]}


def _render(plan: HoldPlan, answer: HoldRecord | Rejected | SeatsUnavailable) -> dict[str, Any]:
    if isinstance(answer, HoldRecord):
        return {s.key: _HOLD[s.field](answer, s) for s in plan.by_type["Hold"]}
    if isinstance(answer, SeatsUnavailable):
        return {s.key: _UNAVAILABLE[s.field](answer) for s in plan.by_type["SeatsUnavailable"]}
    return {s.key: _REJECTED[s.field](answer) for s in plan.by_type["Rejected"]}


def _line(line: GALine, selections: tuple[Selection, ...]) -> dict[str, Any]:
    return {s.key: _LINE[s.field](line) for s in selections}


# The schema's field resolvers and scalar serialisation, field by field (schema/booking_types.py,
# schema/results.py). Int fields need no range check: totals stay below 100 x 10,000,000 cents.
_HOLD: dict[str, Callable[[HoldRecord, Selection], Any]] = {
    "__typename": lambda h, s: "Hold",
    "id": lambda h, s: str(h.id),
    "status": lambda h, s: _HOLD_STATUS[h.status],
    "expiresAt": lambda h, s: h.expires_at.isoformat(),
    "totalCents": lambda h, s: h.total_cents,
    "currency": lambda h, s: h.currency,
    "generalAdmission": lambda h, s: [_line(g, s.children) for g in h.general_admission],
}
_LINE: dict[str, Callable[[GALine], Any]] = {
    "__typename": lambda g: "GeneralAdmissionLine",
    "sectionId": lambda g: str(g.section_id),
    "quantity": lambda g: g.quantity,
    "priceCents": lambda g: g.price_cents,
}
_UNAVAILABLE: dict[str, Callable[[SeatsUnavailable], Any]] = {
    "__typename": lambda p: "SeatsUnavailable",
    "code": lambda p: p.code.name,
    "message": lambda p: p.message,
    "seatIds": lambda p: [str(s) for s in p.seat_ids],
}
_REJECTED: dict[str, Callable[[Rejected], Any]] = {
    "__typename": lambda p: "Rejected",
    "code": lambda p: p.code.name,
    "message": lambda p: p.message,
    "field": lambda p: p.field,
    "retryAfterSeconds": lambda p: None if p.retry_after_seconds is None else float(p.retry_after_seconds),
}


async def _send_json(send: Send, payload: dict[str, Any]) -> None:
    """Starlette's JSON Response as strawberry sends it: same status, headers and encoding."""
    try:
        body = orjson.dumps(payload)
    except TypeError:  # e.g. an unpaired surrogate in a message
        body = json.dumps(payload, ensure_ascii=True, default=str).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", _JSON)]})
    await send({"type": "http.response.body", "body": body})
