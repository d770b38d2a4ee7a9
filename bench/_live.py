"""Subprocess roles of the live benchmarks (bench/fanout.py, bench/waiting_room.py).

Run as `python bench/_live.py ROLE SPEC.json` through _procs.Child (the spec says everything, stdout
carries JSON lines, stdin takes commands):
  ws-clients  N graphql-transport-ws subscribers of seatChanges(showId) in one asyncio process; reports
              "connected", "ready" (every socket saw the sentinel seat), "progress", "complete" (every
              socket saw every expected seat) and, after "stop" on stdin, one "result" line.
  holds       issues the given holds over HTTP at a steady rate on a pool of keep-alive connections and
              records, per hold, the wall-clock time right after its response.
  promoter    runs boxoffice.booking.waiting_room.promoter.Promoter with a RedisPromoterLease for a bounded time and
              logs every promotion (time, leader, admitted ticket ids).
  serve-traced  the server under tracemalloc (diagnostic; started by _server.TracedServer).

Everything talks to 127.0.0.1 only; every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from _common import SEAT_CHANGES_SUBSCRIPTION, install_uvloop, raise_nofile  # noqa: E402
from _http import HttpConn  # noqa: E402
from _meter import vm_rss_kb  # noqa: E402
from _procs import emit, stdin_lines  # noqa: E402


# ================================================================ role: ws-clients

class _Sub:
    __slots__ = ("i", "recv", "sentinel", "naive", "complete", "error", "nmsg", "chars", "connected_at")

    def __init__(self, i: int) -> None:
        self.i = i
        self.recv: list[tuple[float, int]] = []  # (wall-clock receive time, unique message index)
        self.sentinel = False
        self.naive = 0  # expected seats received, counted per message (may double count)
        self.complete = False
        self.error: str | None = None
        self.nmsg = 0
        self.chars = 0
        self.connected_at = 0.0


async def ws_clients(spec: dict[str, Any]) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url: str = spec["url"]
    n: int = spec["n"]
    show_id: str = spec["show_id"]
    compression = "deflate" if spec.get("deflate", True) else None
    sentinel = set(spec["sentinel"])
    expected_index = {s: k for k, s in enumerate(spec["expected"])}
    n_expected = len(expected_index)
    hard_deadline = time.monotonic() + float(spec["max_s"])

    subs = [_Sub(i) for i in range(n)]
    unique: dict[tuple[str, ...], int] = {}
    unique_seats: list[list[str]] = []
    unique_expected: list[list[int]] = []  # indices into spec["expected"], per unique message
    unique_sentinel: list[bool] = []
    # ended: the server ended the subscription (error/complete message) — it can never become ready
    counters = {"connected": 0, "failed": 0, "ready": 0, "complete": 0, "closed": 0, "errors": 0, "ended": 0}
    sockets: list[Any] = []
    subscribe_msg = {"type": "subscribe", "payload": {"query": SEAT_CHANGES_SUBSCRIPTION,
                                                      "variables": {"id": show_id}}}
    sem = asyncio.Semaphore(int(spec.get("connect_concurrency", 50)))
    error_samples: list[str] = []

    # Positions (in spec["expected"]) every subscriber must receive; narrowed by an "expect" command
    # once the hold sender knows which holds succeeded.
    required: list[set[int] | None] = [None]

    def exact_complete(sub: _Sub) -> bool:
        seen = bytearray(n_expected)
        for _, idx in sub.recv:
            for k in unique_expected[idx]:
                seen[k] = 1
        need = required[0]
        if need is None:
            return seen.count(1) == n_expected
        return all(seen[k] for k in need)

    def need_count() -> int:
        return n_expected if required[0] is None else len(required[0])

    # Every subscriber of a window's delta gets the same bytes after its own operation id ("sN"):
    # a process parses each distinct message once, so its own CPU does not delay what it measures.
    parse_every = bool(spec.get("parse_every_message"))
    seen_bodies: dict[str | bytes, int] = {}

    def on_message(sub: _Sub, raw: str | bytes, t: float) -> str | None:
        body = raw[raw.find("," if isinstance(raw, str) else b","):]
        idx = None if parse_every else seen_bodies.get(body)
        if idx is not None:
            record(sub, raw, t, idx)
            return None
        msg = orjson.loads(raw)
        kind = msg.get("type")
        if kind == "ping":
            return '{"type":"pong"}'
        if kind != "next":
            if kind in ("error", "complete"):
                if sub.error is None:
                    counters["ended"] += 1
                sub.error = f"{kind}: {json.dumps(msg.get('payload'))[:300]}"
                if len(error_samples) < 5:
                    error_samples.append(sub.error)
            return None
        payload = msg["payload"]
        if payload.get("errors"):
            sub.error = "errors: " + json.dumps(payload["errors"])[:300]
            counters["errors"] += 1
            return None
        seats = payload["data"]["seatChanges"]["seats"]
        key = tuple(s["seatId"] + s["status"][0] for s in seats)
        idx = unique.get(key)
        if idx is None:
            idx = unique[key] = len(unique_seats)
            ids = [s["seatId"] for s in seats]
            unique_seats.append(ids)
            unique_expected.append([expected_index[s] for s in ids if s in expected_index])
            unique_sentinel.append(any(s in sentinel for s in ids))
        prefix = f'{{"id":"s{sub.i}",'
        if (raw.startswith(prefix) if isinstance(raw, str) else raw.startswith(prefix.encode())):
            seen_bodies[body] = idx  # the body starts right after this subscriber's id
        record(sub, raw, t, idx)
        return None

    def record(sub: _Sub, raw: str | bytes, t: float, idx: int) -> None:
        sub.recv.append((t, idx))
        sub.nmsg += 1
        sub.chars += len(raw)
        if unique_sentinel[idx] and not sub.sentinel:
            sub.sentinel = True
            counters["ready"] += 1
        if not sub.complete and unique_expected[idx]:
            sub.naive += len(unique_expected[idx])
            if sub.naive >= need_count() and exact_complete(sub):
                sub.complete = True
                counters["complete"] += 1
        return None

    async def run_sub(sub: _Sub) -> None:
        try:
            async with sem:
                ws = await connect(url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                   compression=compression, max_size=2**24, open_timeout=60,
                                   ping_interval=None, close_timeout=2)
                sockets.append(ws)
                await ws.send('{"type":"connection_init","payload":{}}')
                ack = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
                if ack.get("type") != "connection_ack":
                    raise RuntimeError(f"no connection_ack: {ack}")
                await ws.send(orjson.dumps({**subscribe_msg, "id": f"s{sub.i}"}).decode())
            sub.connected_at = time.time()
            counters["connected"] += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported
            counters["failed"] += 1
            sub.error = f"connect: {type(exc).__name__}: {exc}"[:300]
            if len(error_samples) < 5:
                error_samples.append(sub.error)
            return
        try:
            for _ in range(10_000_000):
                raw = await ws.recv()
                reply = on_message(sub, raw, time.time())
                if reply is not None:
                    await ws.send(reply)
        except ConnectionClosed as exc:
            if sub.error is None:
                counters["closed"] += 1
            sub.error = sub.error or f"closed: {exc}"[:300]
            if len(error_samples) < 5:
                error_samples.append(sub.error)

    commands: asyncio.Queue[str] = asyncio.Queue()
    stdin_lines(asyncio.get_running_loop(), commands)
    tasks = [asyncio.create_task(run_sub(s)) for s in subs]
    announced: set[str] = set()
    last_progress = 0.0
    try:
        while time.monotonic() < hard_deadline:
            try:
                cmd = await asyncio.wait_for(commands.get(), 0.1)
            except asyncio.TimeoutError:
                cmd = ""
            if cmd == "stop":
                break
            if cmd.startswith("expect "):
                required[0] = {expected_index[s] for s in orjson.loads(cmd[7:]) if s in expected_index}
                for sub in subs:
                    if not sub.complete and sub.naive >= need_count() and exact_complete(sub):
                        sub.complete = True
                        counters["complete"] += 1
            if "connected" not in announced and counters["connected"] + counters["failed"] >= n:
                announced.add("connected")
                emit({"ev": "connected", "connected": counters["connected"], "failed": counters["failed"],
                      "errors": error_samples})
            gone = counters["ended"] + counters["closed"]
            if ("ready" not in announced and "connected" in announced
                    and counters["ready"] + gone >= counters["connected"]):
                announced.add("ready")
                emit({"ev": "ready", "ready": counters["ready"], "ended": gone, "errors": error_samples})
            if ("complete" not in announced and "ready" in announced
                    and counters["complete"] + gone >= counters["connected"]):
                announced.add("complete")
                emit({"ev": "complete", "complete": counters["complete"], "t": time.time()})
            if time.monotonic() - last_progress >= 1.0:
                last_progress = time.monotonic()
                emit({"ev": "progress", **counters, "messages": sum(s.nmsg for s in subs)})
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ws in sockets:
            ws.transport.abort()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    emit({"ev": "result", "counters": counters, "errors": error_samples,
          "unique_seats": unique_seats,
          "subs": [{"recv": s.recv, "complete": s.complete, "error": s.error, "nmsg": s.nmsg, "chars": s.chars,
                    "sentinel": s.sentinel} for s in subs],
          "cpu_s": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss})


# ================================================================ role: holds

async def holds(spec: dict[str, Any]) -> None:
    """spec: port, show_id, rate (holds/s), conns, timeout_s, query, holds: [{token, seats, key}]"""
    items: list[dict[str, Any]] = spec["holds"]
    rate = float(spec["rate"])
    conns: asyncio.Queue[HttpConn] = asyncio.Queue()
    for _ in range(int(spec["conns"])):
        conns.put_nowait(HttpConn("127.0.0.1", int(spec["port"])))
    results: list[dict[str, Any] | None] = [None] * len(items)
    timeout_s = float(spec.get("timeout_s", 30))

    async def one(i: int, scheduled: float) -> None:
        conn = await conns.get()
        sent = time.time()
        item = items[i]
        variables = {"input": {"showId": spec["show_id"], "seatIds": item["seats"], "idempotencyKey": item["key"]}}
        try:
            status, doc = await conn.post_graphql(spec["query"], variables, item["token"], timeout_s)
            t_resp = time.time()  # right after the response
            res = (doc.get("data") or {}).get("holdSeats") or {}
            outcome = res.get("__typename") or f"http_{status}:{json.dumps(doc.get('errors'))[:200]}"
        except Exception as exc:  # noqa: BLE001 - counted and reported
            t_resp = time.time()
            outcome = f"error:{type(exc).__name__}"
        finally:
            conns.put_nowait(conn)
        results[i] = {"scheduled": scheduled, "sent": sent, "resp": t_resp, "outcome": outcome}

    loop_t0 = time.time() + 0.05
    tasks = []
    for i in range(len(items)):
        at = loop_t0 + i / rate
        delay = at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, at)))
    await asyncio.wait(tasks, timeout=float(spec.get("max_s", timeout_s + 5)))
    for t in tasks:
        t.cancel()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    emit({"ev": "result", "results": results, "cpu_s": ru.ru_utime + ru.ru_stime})


# ================================================================ role: promoter

async def promoter(spec: dict[str, Any]) -> None:
    """spec: redis_url, namespace, lease_key, show_id, admit_per_minute, ttl_s, interval_s, max_s, owner"""
    from datetime import datetime, timezone

    from boxoffice.booking.waiting_room.promoter import Promoter, RedisPromoterLease
    from boxoffice.booking.waiting_room.redis_queue_store import RedisQueueStore, make_redis_client
    from boxoffice.booking.waiting_room.room import ShowRoomSettings, WaitingRoom

    redis = make_redis_client(spec["redis_url"])
    store = RedisQueueStore(redis, namespace=spec["namespace"])
    room = WaitingRoom(store, secret=spec["secret"], clock=lambda: datetime.now(timezone.utc))
    lease = RedisPromoterLease(redis, key=spec["lease_key"])
    log_rows: list[list[Any]] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    commands: asyncio.Queue[str] = asyncio.Queue()
    stdin_lines(loop, commands)

    class Logged(Promoter):
        async def step(self, list_shows: Any) -> Any:  # type: ignore[override]
            t0 = time.time()
            promotions = await super().step(list_shows)
            admitted = [tid for p in promotions for tid in p.admitted]
            log_rows.append([t0, time.time(), self.is_leader, admitted])
            return promotions

    settings = [ShowRoomSettings(show_id=spec["show_id"], admit_per_minute=int(spec["admit_per_minute"]),
                                 admission_ttl_s=int(spec["ttl_s"]))]

    async def list_shows() -> list[ShowRoomSettings]:
        return settings

    p = Logged(room, lease, interval_s=float(spec["interval_s"]), lease_ttl_s=float(spec.get("lease_ttl_s", 5.0)),
               owner_id=spec["owner"])
    emit({"ev": "started", "t": time.time()})

    async def watch() -> None:
        deadline = time.monotonic() + float(spec["max_s"])
        while time.monotonic() < deadline and not stop.is_set():
            try:
                cmd = await asyncio.wait_for(commands.get(), 0.2)
            except asyncio.TimeoutError:
                continue
            if cmd == "stop":
                break
        stop.set()

    watcher = asyncio.create_task(watch())
    stopped_at = None
    try:
        await p.run(list_shows, stop)
        stopped_at = time.time()
    finally:
        watcher.cancel()
        await redis.aclose()
    emit({"ev": "result", "owner": spec["owner"], "log": log_rows, "stopped_at": stopped_at})


# ================================================================ role: serve-traced (diagnostic)

def serve_traced(spec: dict[str, Any]) -> None:
    """`boxoffice serve --workers 1 --no-migrate` with tracemalloc on; SIGUSR1 writes a snapshot summary
    (top allocation sites by line and by file, traced current/peak) to spec["out"]-<n>.json.
    tracemalloc slows the server down: use it to attribute memory, never for latency figures."""
    import signal as _signal
    import tracemalloc

    tracemalloc.start(int(spec.get("frames", 1)))
    count = [0]

    def dump(signum: int, frame: Any) -> None:
        count[0] += 1
        current, peak = tracemalloc.get_traced_memory()
        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        by_line = [[str(st.traceback[0]), st.size, st.count] for st in snap.statistics("lineno")[:40]]
        by_file = [[str(st.traceback[0].filename), st.size, st.count] for st in snap.statistics("filename")[:25]]
        path = f"{spec['out']}-{count[0]}.json"
        with open(path + ".tmp", "w") as f:
            json.dump({"current": current, "peak": peak, "by_line": by_line, "by_file": by_file,
                       "rss_kb": vm_rss_kb(os.getpid())}, f)
        os.replace(path + ".tmp", path)

    _signal.signal(_signal.SIGUSR1, dump)
    import uvicorn
    uvicorn.run("boxoffice.app:create_app", factory=True, host="127.0.0.1", port=int(spec["port"]), workers=1,
                loop="uvloop", http="httptools", log_level="warning", proxy_headers=True,
                timeout_graceful_shutdown=5)


def main() -> None:
    role, spec_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as f:
        spec = json.load(f)
    raise_nofile()
    if role == "serve-traced":
        serve_traced(spec)
        return
    install_uvloop()
    fn = {"ws-clients": ws_clients, "holds": holds, "promoter": promoter}[role]
    asyncio.run(fn(spec))


if __name__ == "__main__":
    import importlib.util
    if importlib.util.find_spec("boxoffice") is None:  # normally installed (editable) or on PYTHONPATH
        sys.path.append(str(Path(__file__).resolve().parent.parent))
    main()
