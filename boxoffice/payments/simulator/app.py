"""The simulator's ASGI app: Stripe's REST shapes, mounted by the main app at /stripe-sim."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .faults import Faults, RequestFault
from .forms import decode_form
from .keys import key_matches
from .objects import ApiResult, Json, api_error_body, new_id
from .operations import PaymentOperations
from .store import Db, SimulatorStore, StoredResponse, encode_body
from .testing import TestControls, bearer, unauthorized_body
from .threeds import AuthenticationPages

logger = logging.getLogger(__name__)

# An endpoint body: (transaction, path params, form params) -> result.
Endpoint = Callable[[Db, dict[str, Any], Json], Any]


def _stripe_json(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json",
                    headers={"Request-Id": new_id("req", 14), **(headers or {})})


class StripeApi:
    """Plumbing shared by every /v1 endpoint: auth, faults, params, idempotency.

    Only the deployment's own API keys are accepted (a 401 in Stripe's shape otherwise); fault
    switches are obeyed only in test mode. `latency_ms`: every call waits that long first, as a
    call to a remote PSP does (asyncio.sleep: the loop serves others meanwhile)."""

    def __init__(self, store: SimulatorStore, operations: PaymentOperations, *, api_keys: frozenset[str],
                 test_mode: bool, latency_ms: int = 0) -> None:
        self._store = store
        self._ops = operations
        self._keys = api_keys
        self._test_mode = test_mode
        self._latency_s = latency_ms / 1000

    def routes(self) -> list[Route]:
        ops = self._ops
        return [
            self._route("/v1/payment_intents",
                        write=lambda c, p, f: ops.create_intent(c, f)),
            self._route("/v1/payment_intents/{id}",
                        read=lambda c, p, f: ops.retrieve_intent(c, p["id"]),
                        write=lambda c, p, f: ops.update_intent(c, p["id"], f)),
            self._route("/v1/payment_intents/{id}/confirm",
                        write=lambda c, p, f: ops.confirm_intent(c, p["id"], f)),
            self._route("/v1/payment_intents/{id}/cancel",
                        write=lambda c, p, f: ops.cancel_intent(c, p["id"], f)),
            self._route("/v1/refunds", write=lambda c, p, f: ops.create_refund(c, f)),
            self._route("/v1/refunds/{id}", read=lambda c, p, f: ops.retrieve_refund(c, p["id"])),
            self._route("/v1/charges/{id}", read=lambda c, p, f: ops.retrieve_charge(c, p["id"])),
            self._route("/v1/disputes/{id}", read=lambda c, p, f: ops.retrieve_dispute(c, p["id"])),
            Route("/v1/{rest:path}", self._unknown, methods=["GET", "POST", "DELETE"]),
        ]

    def _route(self, path: str, *, read: Endpoint | None = None,
               write: Endpoint | None = None) -> Route:
        """GET runs `read` without idempotency; POST runs `write` idempotently."""
        async def handle(request: Request) -> Response:
            if request.method == "GET" and read is not None:
                return await self._handle(request, path, read, mutating=False)
            assert write is not None
            return await self._handle(request, path, write, mutating=True)
        methods = (["GET"] if read else []) + (["POST"] if write else [])
        return Route(path, handle, methods=methods)

    async def _unknown(self, request: Request) -> Response:
        return _stripe_json(404, encode_body({"error": {
            "type": "invalid_request_error",
            "message": f"Unrecognized request URL ({request.method}: {request.url.path}). "
                       "This Stripe simulator implements payment_intents, refunds, charges and disputes only."}}))

    async def _handle(self, request: Request, path: str, endpoint: Endpoint, *,
                      mutating: bool) -> Response:
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        api_key = bearer(request)
        if api_key is None or not key_matches(api_key, self._keys):
            return _stripe_json(401, encode_body(unauthorized_body(api_key)))
        if self._test_mode:
            fault, faults = await self._store.take_request_fault()
        else:
            fault, faults = RequestFault.NONE, Faults()
        if fault is RequestFault.FAIL_BEFORE:
            return await self._fail(faults, "simulated failure before processing")
        if mutating:
            params = decode_form((await request.body()).decode("utf-8", "replace"))
        else:
            params = decode_form(request.url.query)
        path_params = dict(request.path_params)

        async def work(conn: Db) -> ApiResult:
            result: ApiResult = await endpoint(conn, path_params, params)
            return result

        if mutating:
            # Template + ids rather than the URL: independent of where we are mounted.
            fingerprint = json.dumps([path, path_params, params], sort_keys=True)
            stored = await self._store.execute(
                work, api_key=api_key, idempotency_key=request.headers.get("idempotency-key"),
                fingerprint=fingerprint)
        else:
            stored = await self._store.read(work)
        if fault is RequestFault.FAIL_AFTER:
            # The work is committed (and stored for replay); only the answer is lost.
            return await self._fail(faults, "simulated failure after processing")
        if fault is RequestFault.TIMEOUT:
            await asyncio.sleep(faults.hang_ms / 1000)
        return await self._respond(stored, faults, request.headers.get("idempotency-key"))

    async def _respond(self, stored: StoredResponse, faults: Faults,
                       idempotency_key: str | None) -> Response:
        await _latency(faults)
        headers: dict[str, str] = {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if stored.replayed:
            headers["Idempotent-Replayed"] = "true"
        return _stripe_json(stored.status, stored.body, headers)

    async def _fail(self, faults: Faults, reason: str) -> Response:
        await _latency(faults)
        return _stripe_json(500, encode_body(api_error_body(reason)))


async def _latency(faults: Faults) -> None:
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)


def create_simulator_app(store: SimulatorStore, *, public_url: str, api_keys: frozenset[str],
                         test_mode: bool = False, mount_path: str = "/stripe-sim",
                         latency_ms: int = 0) -> Starlette:
    """The simulator as an ASGI app. `public_url` + `mount_path` is where the main app
    mounts it ("" when it is served on its own); 3-D Secure redirect URLs are built from them.
    `api_keys`: the only keys its API answers. `test_mode`: fault switches and test disputes
    exist (for those keys only). `latency_ms`: added to every API call, like a remote PSP's."""
    if latency_ms < 0:
        raise ValueError("latency_ms must not be negative")
    if not api_keys:
        raise ValueError("the simulator needs at least one API key")
    base = public_url.rstrip("/") + mount_path
    # Like Stripe's hosted page, the link carries the client secret: only the buyer holding it
    # (sent there by boxoffice) can complete or fail the authentication.
    operations = PaymentOperations(store, authentication_url=lambda pi: f"{base}/3ds/{pi.client_secret}")
    api = StripeApi(store, operations, api_keys=api_keys, test_mode=test_mode, latency_ms=latency_ms)
    pages = AuthenticationPages(store, operations)
    routes = [*api.routes(), *pages.routes()]
    if test_mode:
        routes += TestControls(store, operations, api_keys).routes()
    return Starlette(routes=routes, middleware=[Middleware(AnswerErrorsLikeStripe)])


class AnswerErrorsLikeStripe:
    """A bug or a database failure still answers like Stripe: a JSON api_error, logged here.
    Starlette's exception handlers would re-raise it to the server, which then closes the
    client's kept-alive connection while the client may already be reusing it (its next
    request failing with a read error)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started:  # half an answer is out: only closing the connection tells the client
                raise
            logger.exception("stripe simulator: %s %s failed", scope.get("method"), scope.get("path"))
            await _stripe_json(500, encode_body(api_error_body(type(exc).__name__)))(scope, receive, send)
