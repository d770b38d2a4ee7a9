"""Load-generator process: N persistent HTTP/1.1 keep-alive connections, one per simulated client.

Run by the bench scripts as `python bench/_loadgen.py SPEC.json` (through _procs.LoadGen); prints one
JSON result on stdout. The HTTP client is _http.HttpConn, one connection per fan. Every loop is bounded
by the spec's duration, a per-connection request cap and a hard timeout.

Scenarios:
  hold      fans repeatedly holdSeats 1..4 adjacent random seats (hot_share to a hot block)
  purchase  hold -> createOrder -> confirmPayment(pm_card_visa) -> CONFIRMED
  read      a fixed GraphQL query (seat map) in a closed loop
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
from _common import (CONFIRM_PAYMENT_MUTATION, CREATE_ORDER_MUTATION, HOLD_MUTATION, ORDER_QUERY,  # noqa: E402
                     install_uvloop)
from _http import HttpConn  # noqa: E402
from _stadium import pick_seats  # noqa: E402

MAX_REQUESTS_PER_CONN = 1_000_000
CHECKOUT_TRIES = 10  # a shed checkout step is tried again, as the SPA does
CHECKOUT_RETRY_S = 1.0  # the server's Retry-After


class Stats:
    def __init__(self, start: float, duration: float, window_s: float) -> None:
        self.start, self.duration, self.window_s = start, duration, window_s
        self.outcomes: dict[str, int] = {}
        self.latency: dict[str, list[float]] = {}
        self.windows: dict[str, dict[str, int]] = {}
        self.bytes = 0
        self.notes: list[str] = []

    def record(self, kind: str, outcome: str, latency: float, done_at: float, nbytes: int = 0) -> None:
        rel = done_at - self.start
        if rel < 0:
            return  # warm-up: not counted
        key = outcome if rel <= self.duration else f"late:{outcome}"
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        self.latency.setdefault(kind, []).append(round(latency, 6))
        w = self.windows.setdefault(str(int(rel // self.window_s)), {})
        w[outcome] = w.get(outcome, 0) + 1
        if rel <= self.duration:
            self.bytes += nbytes

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _gql(body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    doc = orjson.loads(body)
    if doc.get("errors"):
        return None, "gql_error:" + str(doc["errors"][0].get("message", ""))[:80]
    return doc.get("data"), None


async def _post(conn: HttpConn, stats: Stats, kind: str, body: bytes,
                timeout: float) -> tuple[tuple[int, bytes] | None, float, float]:
    """One POST: (status and body, or None when it timed out or lost its connection, which are recorded
    here; latency; completion time)."""
    t0 = time.perf_counter()
    try:
        answer = await conn.post(body, timeout)
    except asyncio.TimeoutError:
        now = time.perf_counter()
        stats.record(kind, f"{kind}:timeout", now - t0, now)
        return None, now - t0, now
    except (ConnectionError, OSError) as exc:
        now = time.perf_counter()
        stats.record(kind, f"{kind}:conn_error", now - t0, now)
        stats.note(f"{kind}: {type(exc).__name__}: {exc}")
        return None, now - t0, now
    now = time.perf_counter()
    return answer, now - t0, now


async def _call(conn: HttpConn, stats: Stats, kind: str, query: str, variables: dict[str, Any],
                timeout: float) -> tuple[dict[str, Any] | None, float]:
    """One GraphQL POST; returns (data or None on failure, latency). Failures are recorded here."""
    data, lat, _ = await _call_status(conn, stats, kind, query, variables, timeout)
    return data, lat


async def _checkout_call(conn: HttpConn, stats: Stats, kind: str, query: str, variables: dict[str, Any],
                         timeout: float, end: float) -> tuple[dict[str, Any] | None, float]:
    """A checkout step as a real client makes it: when shed (503), again after Retry-After, with the
    same idempotency key, until the run is over. The latency is from the first try; failed tries
    are counted under `<kind>_try`."""
    t0 = time.perf_counter()
    for _ in range(CHECKOUT_TRIES):
        data, _, status = await _call_status(conn, stats, f"{kind}_try", query, variables, timeout)
        if status != 503 or time.perf_counter() + CHECKOUT_RETRY_S > end + timeout:
            break
        await asyncio.sleep(CHECKOUT_RETRY_S)
    return data, time.perf_counter() - t0


async def _call_status(conn: HttpConn, stats: Stats, kind: str, query: str, variables: dict[str, Any],
                       timeout: float) -> tuple[dict[str, Any] | None, float, int | None]:
    answer, lat, now = await _post(conn, stats, kind, orjson.dumps({"query": query, "variables": variables}),
                                   timeout)
    if answer is None:
        return None, lat, None
    status, resp = answer
    if status != 200:
        stats.record(kind, f"{kind}:http_{status}", lat, now)
        stats.note(f"{kind}: HTTP {status}: {resp[:200]!r}")
        return None, lat, status
    data, err = _gql(resp)
    if err is not None:
        stats.record(kind, f"{kind}:{err.split(':')[0]}", lat, now)
        stats.note(f"{kind}: {err}")
        return None, lat, status
    return data, lat, status


async def fan(spec: dict[str, Any], conn: HttpConn, stats: Stats, rng: random.Random, end: float,
              interval: float, state: dict[str, Any]) -> None:
    timeout = spec["request_timeout"]
    show_id = spec["show_id"]
    rows, hot = spec["rows"], spec["hot_rows"]
    purchase = spec["scenario"] == "purchase"
    stop_file = spec.get("stop_file")
    for _ in range(MAX_REQUESTS_PER_CONN):
        cycle_start = time.perf_counter()
        if cycle_start >= end or (stop_file and state.get("stopped")):
            return
        seats = pick_seats(rng, rows, hot, spec["hot_share"], spec["max_seats"])
        data, lat = await _call(conn, stats, "hold", HOLD_MUTATION, {"input": {
            "showId": show_id, "seatIds": [str(s) for s in seats], "idempotencyKey": uuid.uuid4().hex}}, timeout)
        done = time.perf_counter()
        if data is not None:
            result = data["holdSeats"]
            t = result["__typename"]
            if t == "Hold":
                outcome = "hold:ok"
            elif t == "SeatsUnavailable":
                outcome = "hold:unavailable"
            else:
                outcome = f"hold:rejected:{result.get('code')}"
                if result.get("code") not in ("LIMIT_EXCEEDED", "RATE_LIMITED"):
                    stats.note(f"hold rejected: {result.get('code')}: {result.get('message')}")
            stats.record("hold", outcome, lat, done)
            if outcome == "hold:ok" and done >= stats.start:
                stats.latency.setdefault("hold_ok", []).append(round(lat, 6))
            if purchase and t == "Hold" and not state.get("orders_closed") and done < end:
                await purchase_flow(conn, stats, result["id"], cycle_start, timeout, state, end)
        if interval > 0:
            pause = interval * rng.uniform(0.8, 1.2) - (time.perf_counter() - cycle_start)
            if pause > 0:
                await asyncio.sleep(min(pause, max(0.0, end - time.perf_counter())))


async def purchase_flow(conn: HttpConn, stats: Stats, hold_id: str, started: float, timeout: float,
                        state: dict[str, Any], end: float) -> None:
    data, lat = await _checkout_call(conn, stats, "create_order", CREATE_ORDER_MUTATION,
                                     {"input": {"holdId": hold_id, "idempotencyKey": uuid.uuid4().hex}}, timeout, end)
    now = time.perf_counter()
    if data is None:
        return
    result = data["createOrder"]
    if result["__typename"] != "Order":
        msg = str(result.get("message"))
        stats.record("create_order", f"create_order:rejected:{result.get('code')}", lat, now)
        if "not open yet" in msg.lower():
            state["orders_closed"] = True
            stats.note(f"createOrder answered: {msg!r}: purchase path skipped, fans keep holding")
        else:
            stats.note(f"createOrder rejected: {result.get('code')}: {msg}")
        return
    stats.record("create_order", "create_order:ok", lat, now)
    order_id = result["id"]
    data, lat = await _checkout_call(conn, stats, "confirm_payment", CONFIRM_PAYMENT_MUTATION, {"input": {
        "orderId": order_id, "paymentMethod": "pm_card_visa", "idempotencyKey": uuid.uuid4().hex}}, timeout, end)
    now = time.perf_counter()
    if data is None:
        return
    result = data["confirmPayment"]
    if result["__typename"] != "Order":
        stats.record("confirm_payment", f"confirm_payment:rejected:{result.get('code')}", lat, now)
        stats.note(f"confirmPayment rejected: {result.get('code')}: {result.get('message')}")
        return
    status = result["status"]
    stats.record("confirm_payment", f"confirm_payment:{status}", lat, now)
    polls = 0
    while status == "PENDING_PAYMENT" and polls < 40 and time.perf_counter() < end + timeout:
        polls += 1
        await asyncio.sleep(0.05)
        data, _ = await _call(conn, stats, "order_poll", ORDER_QUERY, {"id": order_id}, timeout)
        if data is None or data.get("order") is None:
            break
        status = data["order"]["status"]
    now = time.perf_counter()
    stats.record("purchase", f"purchase:{status}", now - started, now)


async def reader(spec: dict[str, Any], conn: HttpConn, stats: Stats, end: float, state: dict[str, Any]) -> None:
    body = orjson.dumps({"query": spec["query"], "variables": spec["variables"]})
    kind = spec.get("kind", "read")
    timeout = spec["request_timeout"]
    for _ in range(MAX_REQUESTS_PER_CONN):
        if time.perf_counter() >= end or state.get("stopped"):
            return
        answer, lat, now = await _post(conn, stats, kind, body, timeout)
        if answer is None:
            continue
        status, resp = answer
        if status == 200 and b'"errors":' not in resp:
            stats.record(kind, f"{kind}:ok", lat, now, len(resp))
        else:
            stats.record(kind, f"{kind}:error", lat, now)
            stats.note(f"{kind}: HTTP {status}: {resp[:300]!r}")


async def watch_stop(path: str, state: dict[str, Any], end: float) -> None:
    while time.perf_counter() < end:
        if os.path.exists(path):
            state["stopped"] = True
            return
        await asyncio.sleep(0.1)


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    tokens: list[str | None] = spec.get("tokens") or [None] * spec["connections"]
    conns = [HttpConn(spec["host"], spec["port"], t) for t in tokens]
    sem = asyncio.Semaphore(64)

    async def open_one(c: HttpConn) -> None:
        async with sem:
            await asyncio.wait_for(c.connect(), 10)

    await asyncio.gather(*(open_one(c) for c in conns))
    # Start together with the other load-generator processes (a wall-clock instant in the spec).
    delay = spec["start_at"] - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    start = time.perf_counter()
    duration = spec["duration"]
    warmup = spec.get("warmup", 0.0)
    end = start + warmup + duration
    stats = Stats(start + warmup, duration, spec.get("window_s", 1.0))
    cpu0 = time.process_time()
    state: dict[str, Any] = {}
    rng = random.Random(spec["seed"])
    tasks = []
    if spec.get("stop_file"):
        tasks.append(asyncio.create_task(watch_stop(spec["stop_file"], state, end)))
    if spec["scenario"] == "read":
        workers = [reader(spec, c, stats, end, state) for c in conns]
    else:
        rate = spec.get("rate", 0.0)
        interval = len(conns) / rate if rate > 0 else 0.0
        workers = [fan(spec, c, stats, random.Random(rng.random()), end, interval, state) for c in conns]

    async def staggered(i: int, coro: Any) -> None:
        # Paced fans start spread over one interval instead of all in the same millisecond.
        if spec.get("rate", 0.0) > 0 and spec["scenario"] != "read":
            await asyncio.sleep(rng.random() * min(1.0, len(conns) / spec["rate"]))
        await coro

    await asyncio.wait_for(asyncio.gather(*(staggered(i, w) for i, w in enumerate(workers))),
                           spec["hard_timeout"])
    elapsed = time.perf_counter() - start - warmup
    cpu = time.process_time() - cpu0
    cpu_measured = cpu * duration / max(1e-9, warmup + duration)  # pro rata: warm-up excluded
    for t in tasks:
        t.cancel()
    for c in conns:
        c.close()
    return {"outcomes": stats.outcomes, "latency": stats.latency, "windows": stats.windows, "cpu_s": cpu_measured,
            "elapsed_s": elapsed, "bytes": stats.bytes, "notes": stats.notes,
            "reconnects": sum(c.reconnects for c in conns)}


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    install_uvloop()
    result = asyncio.run(main(spec))
    sys.stdout.write(json.dumps(result))
