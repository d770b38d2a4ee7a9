"""Fans shopping and browsing through the balancer while a drill breaks something, keeping every answer."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

HOLD = """mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { __typename ... on Hold { id }
  ... on Rejected { code message } ... on SeatsUnavailable { code } } }"""
ORDER = """mutation($i: CreateOrderInput!) { createOrder(input: $i) { __typename ... on Order { id status }
  ... on Rejected { code message } } }"""
PAY = """mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) { __typename ... on Order { id status }
  ... on Rejected { code message } } }"""
BROWSE = """query($s: ID!) { events(first: 20) { edges { node { id name } } }
  show(id: $s) { id availability { version } seats { id status } } }"""


@dataclass
class Answer:
    url: str
    query: str
    variables: dict[str, Any]
    token: str | None
    status: int
    body: dict[str, Any] | None
    text: str


@dataclass
class Load:
    """Shoppers (hold, order, pay) and browsers against `urls`, until stop() is called."""

    urls: list[str]
    show_id: str
    seats: list[str]
    tokens: list[str]
    answers: list[Answer] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def call(self, client: httpx.AsyncClient, url: str, query: str, variables: dict[str, Any],
                   token: str | None) -> Answer:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            r = await client.post(f"{url}/graphql", json={"query": query, "variables": variables}, headers=headers)
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
            answer = Answer(url, query, variables, token, r.status_code, body, r.text)
        except httpx.HTTPError as err:  # the balancer or a host refused the connection itself
            answer = Answer(url, query, variables, token, 0, None, repr(err))
        self.answers.append(answer)
        return answer

    async def _shopper(self, n: int) -> None:
        rng = random.Random(n)
        token = self.tokens[n % len(self.tokens)]
        async with httpx.AsyncClient(timeout=20) as client:
            while not self._stop.is_set():
                url = rng.choice(self.urls)
                held = await self.call(client, url, HOLD, {"i": {"showId": self.show_id,
                                                                 "seatIds": [rng.choice(self.seats)],
                                                                 "idempotencyKey": uuid.uuid4().hex}}, token)
                hold = (held.body or {}).get("data") or {}
                if (hold.get("holdSeats") or {}).get("__typename") != "Hold":
                    await asyncio.sleep(0.02)
                    continue
                ordered = await self.call(client, rng.choice(self.urls), ORDER, {"i": {
                    "holdId": hold["holdSeats"]["id"], "idempotencyKey": uuid.uuid4().hex}}, token)
                order = ((ordered.body or {}).get("data") or {}).get("createOrder") or {}
                if order.get("__typename") == "Order":
                    await self.call(client, rng.choice(self.urls), PAY, {"i": {
                        "orderId": order["id"], "paymentMethod": "pm_card_visa",
                        "idempotencyKey": uuid.uuid4().hex}}, token)

    async def _browser(self, n: int) -> None:
        rng = random.Random(1000 + n)
        async with httpx.AsyncClient(timeout=20) as client:
            while not self._stop.is_set():
                await self.call(client, rng.choice(self.urls), BROWSE, {"s": self.show_id}, None)
                await asyncio.sleep(0.02)

    def start(self, shoppers: int = 4, browsers: int = 2) -> None:
        self._tasks = ([asyncio.create_task(self._shopper(i)) for i in range(shoppers)]
                       + [asyncio.create_task(self._browser(i)) for i in range(browsers)])

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def count(self) -> int:
        return len(self.answers)

    async def more(self, n: int, timeout: float = 30) -> None:
        """Until n more answers have come (the load goes on meanwhile)."""
        target = len(self.answers) + n
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.answers) < target:
            if loop.time() > deadline:
                raise AssertionError(f"only {len(self.answers)} answers of {target} within {timeout} s")
            await asyncio.sleep(0.05)

    def server_errors(self) -> list[Answer]:
        """5xx answers, and answers that leak internals. A 503 with the typed refusal (RATE_LIMITED: the
        caller could not be looked up while the database was away, or load was shed) is an answer."""
        return [a for a in self.answers if (a.status >= 500 and not (a.status == 503 and "RATE_LIMITED" in a.text))
                or "Traceback" in a.text or "asyncpg" in a.text or "sqlalchemy" in a.text.lower()]

    def unexpected(self) -> list[Answer]:
        """Masked faults ("Unexpected error.") rather than data or a typed Problem (a database away is
        a typed refusal: RATE_LIMITED, "briefly unavailable", also for queries: schema/outage_errors.py)."""
        return [a for a in self.answers if a.body is not None
                and any(e.get("extensions", {}).get("code") != "RATE_LIMITED" for e in a.body.get("errors") or [])]

    def refused_as_unavailable(self) -> list[Answer]:
        return [a for a in self.answers if "briefly unavailable" in a.text]
