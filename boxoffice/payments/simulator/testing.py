"""Test-mode controls of the simulator: fault switches and the bank's side of a dispute.

Mounted only when the operator turns test mode on (BOXOFFICE_STRIPE_SIM_FAULTS=1, never in
production), and even then answered only for the simulator's API key: a switch here makes every
fan's payment hang or fail, and a dispute voids someone's tickets.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import Faults
from .forms import decode_form
from .keys import key_matches
from .objects import ApiError, dispute_json
from .operations import PaymentOperations
from .store import SimulatorStore

Handler = Callable[[Request], Awaitable[Response]]


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def unauthorized_body(offered: str | None) -> dict[str, Any]:
    if offered is None:
        message = ("You did not provide an API key. You need to provide your API key in the "
                   "Authorization header, using Bearer auth.")
    else:
        message = f"Invalid API Key provided: {offered[:8]}****"
    return {"error": {"type": "invalid_request_error", "message": message}}


class TestControls:
    def __init__(self, store: SimulatorStore, operations: PaymentOperations, api_keys: frozenset[str]) -> None:
        self._store = store
        self._ops = operations
        self._keys = api_keys

    def routes(self) -> list[Route]:
        return [Route("/_faults", self._keyed(self.faults), methods=["GET", "POST"]),
                Route("/_disputes", self._keyed(self.open_dispute), methods=["POST"]),
                Route("/_disputes/{id}/close", self._keyed(self.close_dispute), methods=["POST"])]

    def _keyed(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            offered = bearer(request)
            if not key_matches(offered, self._keys):
                return JSONResponse(unauthorized_body(offered), status_code=401)
            return await handler(request)
        return guarded

    async def faults(self, request: Request) -> Response:
        """GET reads the switches; POST replaces all of them ({} resets)."""
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

    async def open_dispute(self, request: Request) -> Response:
        """The card holder charges back: form `payment_intent`, optional `reason`."""
        params = decode_form((await request.body()).decode("utf-8", "replace"))
        intent_id, reason = params.get("payment_intent"), params.get("reason") or "fraudulent"
        if not isinstance(intent_id, str) or not isinstance(reason, str):
            return JSONResponse({"error": {"type": "invalid_request_error",
                                           "message": "payment_intent is required."}}, status_code=400)
        try:
            async with self._store.transaction() as conn:
                dispute = await self._ops.open_dispute(conn, intent_id, reason)
        except ApiError as error:
            return JSONResponse(error.body, status_code=error.status)
        return JSONResponse(dispute_json(dispute))

    async def close_dispute(self, request: Request) -> Response:
        """The bank decides: form `status` = won | lost."""
        params = decode_form((await request.body()).decode("utf-8", "replace"))
        try:
            async with self._store.transaction() as conn:
                dispute = await self._ops.close_dispute(conn, request.path_params["id"],
                                                        str(params.get("status", "")))
        except ApiError as error:
            return JSONResponse(error.body, status_code=error.status)
        return JSONResponse(dispute_json(dispute))
