"""Load-generator process for bench/journey.py: closed loops of clients, each serving a list of signed-up
fans in turn (so that no fan passes its own rate limits), one keep-alive connection per client.

Run as `python bench/_journey_load.py SPEC.json` (through journey.py); prints one JSON result on stdout.
Every loop is bounded by the spec's duration, a per-client request cap and a hard timeout.

Scenarios:
  cycle     holdSeats(2 random seats of the show) -> releaseHold when held
  room      every fan enterWaitingRoom once (the crowd, `clients` at a time), then waitingRoomTicket
            polls of those tickets for `poll_s` seconds
  purchase  holdSeats(2) -> createOrder -> confirmPayment(pm_card_visa) -> order CONFIRMED with tickets
            (polled while PENDING_PAYMENT); a shed checkout step is tried again after Retry-After
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
import uuid
from typing import Any

import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (CONFIRM_PAYMENT_MUTATION, CREATE_ORDER_MUTATION, HOLD_MUTATION, RELEASE_MUTATION,  # noqa: E402
                     install_uvloop)
from _http import HttpConn, _head  # noqa: E402

ENTER_MUTATION = ("mutation Enter($id: ID!) { enterWaitingRoom(showId: $id) { __typename "
                  "... on WaitingRoomTicket { id status position estimatedWaitSeconds } "
                  "... on Rejected { code message } } }")
TICKET_QUERY = "query Ticket($id: ID!) { waitingRoomTicket(id: $id) { id status position estimatedWaitSeconds } }"
ORDER_TICKETS_QUERY = "query OrderTickets($id: ID!) { order(id: $id) { id status tickets { id } } }"
MAX_REQUESTS_PER_CLIENT = 1_000_000
RETRY_AFTER_S = 1.0  # the server's Retry-After on a 503
CHECKOUT_TRIES = 10
ORDER_POLLS = 100


class Tally:
    """Outcome counts and latencies of what completed inside the measured window [start, end]."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.outcomes: dict[str, int] = {}
        self.latency: dict[str, list[float]] = {}
        self.notes: list[str] = []
        self.fan_waits = 0

    def record(self, kind: str, outcome: str, latency: float, done_at: float) -> None:
        if kind == "journey" and done_at < self.start:  # the start-up, reported apart from the window
            self.latency.setdefault("warmup_journey", []).append(round(latency, 6))
        if not self.start <= done_at <= self.end:
            return
        key = f"{kind}:{outcome}"
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        self.latency.setdefault(kind, []).append(round(latency, 6))

    def note(self, text: str) -> None:
        if len(self.notes) < 20 and text not in self.notes:
            self.notes.append(text)


class Client:
    """One connection, serving its fans in turn; a fan is used again only after `gap_s`."""

    def __init__(self, host: str, port: int, fans: list[str], gap_s: float, tally: Tally) -> None:
        self.conn = HttpConn(host, port)
        self.heads = [_head(host, port, t) for t in fans]
        self.next_ok = [0.0] * len(fans)
        self.turn = 0
        self.gap_s = gap_s
        self.tally = tally

    async def next_fan(self) -> int:
        i = self.turn % len(self.heads)
        self.turn += 1
        wait = self.next_ok[i] - time.perf_counter()
        if wait > 0:
            self.tally.fan_waits += 1
            await asyncio.sleep(wait)
        self.next_ok[i] = time.perf_counter() + self.gap_s
        return i

    async def call(self, fan: int, kind: str, query: str, variables: dict[str, Any],
                   timeout: float) -> tuple[str, Any, float, float]:
        """One GraphQL POST as `fan`: (outcome, data or None, latency, completion time). Outcomes: ok,
        http_503 (shed), http_<n>, timeout, conn_error, gql_error."""
        body = orjson.dumps({"query": query, "variables": variables})
        t0 = time.perf_counter()
        try:
            status, raw = await self.conn.post(body, timeout, self.heads[fan])
        except asyncio.TimeoutError:
            now = time.perf_counter()
            return "timeout", None, now - t0, now
        except (ConnectionError, OSError) as exc:
            now = time.perf_counter()
            self.tally.note(f"{kind}: {type(exc).__name__}: {exc}")
            return "conn_error", None, now - t0, now
        now = time.perf_counter()
        if status != 200:
            if status != 503:
                self.tally.note(f"{kind}: HTTP {status}: {raw[:200]!r}")
            return f"http_{status}", None, now - t0, now
        doc = orjson.loads(raw)
        if doc.get("errors"):
            self.tally.note(f"{kind}: {str(doc['errors'][0].get('message'))[:120]}")
            return "gql_error", None, now - t0, now
        return "ok", doc["data"], now - t0, now


def _typed(result: dict[str, Any], ok_type: str) -> str:
    t = result["__typename"]
    if t == ok_type:
        return "ok"
    if t == "SeatsUnavailable":
        return "unavailable"
    return f"rejected_{result.get('code')}"


async def cycle_loop(spec: dict[str, Any], c: Client, rng: random.Random, end: float) -> None:
    seats, show_id, timeout = spec["seat_ids"], spec["show_id"], spec["request_timeout"]
    for _ in range(MAX_REQUESTS_PER_CLIENT):
        if time.perf_counter() >= end:
            return
        fan = await c.next_fan()
        pair = rng.sample(seats, 2)
        outcome, data, lat, done = await c.call(fan, "hold", HOLD_MUTATION, {"input": {
            "showId": show_id, "seatIds": [str(s) for s in pair], "idempotencyKey": uuid.uuid4().hex}}, timeout)
        if data is not None:
            outcome = _typed(data["holdSeats"], "Hold")
            if outcome.startswith("rejected"):
                c.tally.note(f"hold: {data['holdSeats']}")
        c.tally.record("hold", outcome, lat, done)
        if outcome == "http_503":
            await asyncio.sleep(min(RETRY_AFTER_S, max(0.0, end - time.perf_counter())))
        if outcome != "ok":
            continue
        hold_id = data["holdSeats"]["id"]  # type: ignore[index]
        for _ in range(CHECKOUT_TRIES):  # released always, even past the window: no seat stays held
            r_out, r_data, lat, done = await c.call(fan, "release", RELEASE_MUTATION, {"id": hold_id}, timeout)
            if r_data is not None:
                r_out = _typed(r_data["releaseHold"], "Hold")
                if r_out != "ok":
                    c.tally.note(f"release: {r_data['releaseHold']}")
            c.tally.record("release", r_out, lat, done)
            if r_out != "http_503":
                break
            await asyncio.sleep(RETRY_AFTER_S)


async def checkout_step(c: Client, fan: int, kind: str, query: str, variables: dict[str, Any], field: str,
                        timeout: float, end: float) -> tuple[str, Any]:
    """A checkout step as the SPA makes it: when shed, again after Retry-After with the same key."""
    for _ in range(CHECKOUT_TRIES):
        outcome, data, lat, done = await c.call(fan, kind, query, variables, timeout)
        if data is not None:
            outcome = _typed(data[field], "Order")
            if outcome != "ok":
                c.tally.note(f"{kind}: {data[field]}")
        c.tally.record(kind, outcome, lat, done)
        if outcome != "http_503" or time.perf_counter() + RETRY_AFTER_S > end + timeout:
            return outcome, data
        await asyncio.sleep(RETRY_AFTER_S)
    return outcome, data


async def purchase_loop(spec: dict[str, Any], c: Client, rng: random.Random, end: float) -> None:
    seats, show_id, timeout = spec["seat_ids"], spec["show_id"], spec["request_timeout"]
    for _ in range(MAX_REQUESTS_PER_CLIENT):
        if time.perf_counter() >= end:
            return
        fan = await c.next_fan()
        t0 = time.perf_counter()
        outcome, data, lat, done = await c.call(fan, "hold", HOLD_MUTATION, {"input": {
            "showId": show_id, "seatIds": [str(s) for s in rng.sample(seats, 2)],
            "idempotencyKey": uuid.uuid4().hex}}, timeout)
        if data is not None:
            outcome = _typed(data["holdSeats"], "Hold")
        c.tally.record("hold", outcome, lat, done)
        if outcome != "ok":
            if outcome == "http_503":
                await asyncio.sleep(min(RETRY_AFTER_S, max(0.0, end - time.perf_counter())))
            continue
        outcome, data = await checkout_step(c, fan, "create_order", CREATE_ORDER_MUTATION, {"input": {
            "holdId": data["holdSeats"]["id"], "idempotencyKey": uuid.uuid4().hex}}, "createOrder", timeout, end)
        if outcome != "ok":
            c.tally.record("journey", f"failed_at_create_order_{outcome}", time.perf_counter() - t0,
                           time.perf_counter())
            continue
        order_id = data["createOrder"]["id"]
        outcome, data = await checkout_step(c, fan, "confirm_payment", CONFIRM_PAYMENT_MUTATION, {"input": {
            "orderId": order_id, "paymentMethod": "pm_card_visa", "idempotencyKey": uuid.uuid4().hex}},
            "confirmPayment", timeout, end)
        if outcome != "ok":
            c.tally.record("journey", f"failed_at_confirm_payment_{outcome}", time.perf_counter() - t0,
                           time.perf_counter())
            continue
        status, tickets = "UNREAD", 0
        for poll in range(ORDER_POLLS):  # read the order (and its tickets) until it is settled
            if poll:
                await asyncio.sleep(0.02)
            o_out, o_data, lat, done = await c.call(fan, "order_read", ORDER_TICKETS_QUERY, {"id": order_id}, timeout)
            c.tally.record("order_read", o_out, lat, done)
            if o_data is None or o_data.get("order") is None:
                if o_out == "http_503":
                    await asyncio.sleep(RETRY_AFTER_S)
                    continue
                status = f"READ_{o_out}"
                break
            status, tickets = o_data["order"]["status"], len(o_data["order"]["tickets"])
            if status != "PENDING_PAYMENT" or time.perf_counter() > end + timeout:
                break
        now = time.perf_counter()
        c.tally.record("journey", "confirmed_with_tickets" if status == "CONFIRMED" and tickets == 2
                       else f"ended_{status}_{tickets}_tickets", now - t0, now)


def server_cpu_s(pids: list[int]) -> float:
    """CPU seconds of the server's processes, all their threads, to split the room's server CPU by phase.
    From schedstat, in nanoseconds: the entering phase lasts a fifth of a second, and /proc/<pid>/stat
    counts in 10-ms ticks (a tenth of what is measured then)."""
    total = 0.0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0]) / 1e9
            except (OSError, ValueError, IndexError):
                continue
    return total


async def room_run(spec: dict[str, Any], clients: list[Client], tally: Tally, start: float) -> dict[str, Any]:
    """The crowd enters (each client enters its fans one after another), then polls until start + poll_s
    after the last entry of this process."""
    show_id, timeout = spec["show_id"], spec["request_timeout"]
    tickets: dict[int, list[tuple[int, str]]] = {i: [] for i in range(len(clients))}

    async def enter_all(k: int, c: Client) -> None:
        for fan in range(len(c.heads)):
            for _ in range(CHECKOUT_TRIES):
                outcome, data, lat, done = await c.call(fan, "enter", ENTER_MUTATION, {"id": show_id}, timeout)
                if data is not None:
                    r = data["enterWaitingRoom"]
                    outcome = "ok" if r["__typename"] == "WaitingRoomTicket" else f"rejected_{r.get('code')}"
                    if outcome == "ok":
                        tickets[k].append((fan, r["id"]))
                    else:
                        c.tally.note(f"enter: {r}")
                c.tally.record("enter", outcome, lat, done)
                if outcome != "http_503":
                    break
                await asyncio.sleep(RETRY_AFTER_S)  # a shed fan comes back: the crowd is still there

    cpu0 = server_cpu_s(spec.get("server_pids", []))
    await asyncio.wait_for(asyncio.gather(*(enter_all(k, c) for k, c in enumerate(clients))), spec["hard_timeout"])
    entered_at = time.perf_counter()
    cpu1 = server_cpu_s(spec.get("server_pids", []))
    poll_end = entered_at + spec["poll_s"]

    async def poll(k: int, c: Client) -> None:
        mine = tickets[k]
        for i in range(MAX_REQUESTS_PER_CLIENT):
            if not mine or time.perf_counter() >= poll_end:
                return
            fan, ticket = mine[i % len(mine)]
            outcome, data, lat, done = await c.call(fan, "poll", TICKET_QUERY, {"id": ticket}, timeout)
            if data is not None and data.get("waitingRoomTicket") is None:
                outcome = "not_found"
            c.tally.record("poll", outcome, lat, done)
            if outcome == "http_503":
                await asyncio.sleep(min(RETRY_AFTER_S, max(0.0, poll_end - time.perf_counter())))

    tally.end = poll_end + timeout
    await asyncio.wait_for(asyncio.gather(*(poll(k, c) for k, c in enumerate(clients))), spec["poll_s"] + 60)
    cpu2 = server_cpu_s(spec.get("server_pids", []))
    return {"enter_s": entered_at - start, "poll_s": spec["poll_s"], "server_cpu_enter_s": cpu1 - cpu0,
            "server_cpu_poll_s": cpu2 - cpu1,
            "tickets": [t for mine in tickets.values() for _, t in mine]}


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    fans: list[str] = spec["tokens"]
    n = spec["clients"]
    warmup = spec.get("warmup", 0.0)
    delay = spec["start_at"] - time.time()
    # The window is fixed before the connections open (they open during the lead time).
    start = time.perf_counter() + max(0.0, delay)
    end = start + warmup + spec["duration"]
    tally = Tally(start + warmup, end)
    clients = [Client(spec["host"], spec["port"], fans[i::n], spec["fan_gap_s"], tally) for i in range(n)]
    sem = asyncio.Semaphore(64)

    async def open_one(c: Client) -> None:
        async with sem:
            await asyncio.wait_for(c.conn.connect(), 10)

    await asyncio.gather(*(open_one(c) for c in clients))
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    cpu0 = time.process_time()
    rng = random.Random(spec["seed"])
    extra: dict[str, Any] = {}
    if spec["scenario"] == "room":
        tally.start = start
        extra = await room_run(spec, clients, tally, start)
        measured = extra["enter_s"] + extra["poll_s"]
    else:
        loop = cycle_loop if spec["scenario"] == "cycle" else purchase_loop
        await asyncio.wait_for(asyncio.gather(*(loop(spec, c, random.Random(rng.random()), end) for c in clients)),
                               spec["hard_timeout"])
        measured = spec["duration"]
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - start
    for c in clients:
        c.conn.close()
    return {"outcomes": tally.outcomes, "latency": tally.latency, "notes": tally.notes, "fan_waits": tally.fan_waits,
            "cpu_s": cpu * min(1.0, measured / max(1e-9, wall)), "wall_s": wall, **extra,
            "reconnects": sum(c.conn.reconnects for c in clients)}


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    install_uvloop()
    sys.stdout.write(json.dumps(asyncio.run(main(spec))))
