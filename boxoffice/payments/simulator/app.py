"""The simulator's ASGI app: Stripe's REST shapes, mounted by the main app at /stripe-sim."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import Faults, RequestFault
from .forms import decode_form
from .objects import ApiResult, Json, api_error_body, new_id
from .operations import PaymentOperations
from .store import SimulatorStore, StoredResponse, encode_body
from .threeds import AuthenticationPages

# An endpoint body: (transaction, path params, form params) -> result.
Endpoint = Callable[[AsyncConnection, dict[str, Any], Json], Any]


def _stripe_json(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json",
                    headers={"Request-Id": new_id("req", 14), **(headers or {})})


def _unauthorized(message: str) -> Response:
    return _stripe_json(401, encode_body({"error": {"type": "invalid_request_error",
                                                     "message": message}}))


class StripeApi:
    """Plumbing shared by every /v1 endpoint: auth, faults, params, idempotency."""

    def __init__(self, store: SimulatorStore, operations: PaymentOperations) -> None:
        self._store = store
        self._ops = operations

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
                       "This Stripe simulator implements payment_intents and refunds only."}}))

    async def _handle(self, request: Request, path: str, endpoint: Endpoint, *,
                      mutating: bool) -> Response:
        api_key = _bearer(request)
        if api_key is None:
            return _unauthorized("You did not provide an API key. You need to provide your API "
                                 "key in the Authorization header, using Bearer auth.")
        if not api_key.startswith("sk_test_"):
            return _unauthorized(f"Invalid API Key provided: {api_key[:8]}****")
        fault, faults = await self._store.take_request_fault()
        if fault is RequestFault.FAIL_BEFORE:
            return await self._fail(faults, "simulated failure before processing")
        if mutating:
            params = decode_form((await request.body()).decode("utf-8", "replace"))
        else:
            params = decode_form(request.url.query)
        path_params = dict(request.path_params)

        async def work(conn: AsyncConnection) -> ApiResult:
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


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class FaultControl:
    """`GET/POST /_faults`: the test hook. POST replaces all switches ({} resets)."""

    def __init__(self, store: SimulatorStore) -> None:
        self._store = store

    async def handle(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                data = json.loads(await request.body() or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
                faults = await self._store.faults.set(Faults.from_json(data))
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        else:
            faults = await self._store.get_faults()
        return JSONResponse(faults.to_json())


def create_simulator_app(store: SimulatorStore, *, public_url: str,
                         mount_path: str = "/stripe-sim") -> Starlette:
    """The simulator as an ASGI app. `public_url` + `mount_path` is where the main app
    mounts it; 3-D Secure redirect URLs are built from them."""
    base = public_url.rstrip("/") + mount_path
    operations = PaymentOperations(store, authentication_url=lambda pi: f"{base}/3ds/{pi}")
    api = StripeApi(store, operations)
    pages = AuthenticationPages(store, operations)
    faults = FaultControl(store)
    routes = [
        *api.routes(),
        *pages.routes(),
        Route("/_faults", faults.handle, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={Exception: _internal_error})


async def _internal_error(request: Request, exc: Exception) -> Response:
    """A bug or a database failure still answers like Stripe: a JSON api_error."""
    return _stripe_json(500, encode_body(api_error_body(type(exc).__name__)))
