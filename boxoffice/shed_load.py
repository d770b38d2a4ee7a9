"""Load shedding for /graphql, with a lane kept free for checkout.

Past `max_in_flight` concurrent GraphQL requests in a process (about a quarter second of work on
2 cores) the answer is RATE_LIMITED with Retry-After at once, instead of a queue: under overload,
work for clients that already gave up would crowd out those still waiting.

Only requests whose body has arrived whole are counted: ShedLoad sits behind `BodyLimit`
(http_body.py), which reads every body within a deadline first. A client who sends headers and
half a body, or nothing, therefore never holds a slot (32 of them used to take /graphql down).

Checkout steps (`createOrder`, `confirmPayment`) get a reserve on top: a fan who already holds
seats is a few seconds from a sale, and shedding their payment to make room for one more hold
attempt wastes the hold (it sits until expiry). The check is a byte search of the body (already
read, so replayed at once), made only once the limit is reached; a request that merely names
those fields gets into the reserve lane at worst, which is itself bounded.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .http_body import MAX_BODY_BYTES, read_body

CHECKOUT_FIELDS = (b"createOrder", b"confirmPayment")


def _is_checkout(body: bytes) -> bool:
    return any(field in body for field in CHECKOUT_FIELDS)


class ShedLoad:
    def __init__(self, app: ASGIApp, max_in_flight: int = 64, checkout_reserve: int | None = None,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.checkout_reserve = max_in_flight // 2 if checkout_reserve is None else checkout_reserve
        self.max_body_bytes = max_body_bytes
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/graphql" or self.max_in_flight <= 0:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            replay = await self._checkout_or_none(scope, receive)
            if replay is None:
                await _busy(scope, receive, send)
                return
            receive = replay
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _checkout_or_none(self, scope: Scope, receive: Receive) -> Receive | None:
        """`receive` replaying the body if this is a checkout step with room in the reserve."""
        if scope["method"] != "POST" or self.in_flight >= self.max_in_flight + self.checkout_reserve:
            return None
        body, replay = await read_body(receive, self.max_body_bytes)
        if body is None or not _is_checkout(body) or self.in_flight >= self.max_in_flight + self.checkout_reserve:
            return None
        return replay


async def _busy(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"errors": [{"message": "The server is busy; try again in a moment.",
                                    "extensions": {"code": "RATE_LIMITED", "retryAfterSeconds": 1}}]},
                       503, headers={"Retry-After": "1"})(scope, receive, send)
