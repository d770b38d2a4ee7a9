"""Real server processes and a graphql-transport-ws client, for tests across processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serving(config: uvicorn.Config) -> AsyncIterator[uvicorn.Server]:
    """A uvicorn server in this process, once it listens (its start-up error raised), stopped after."""
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        await task


def wait_healthy(proc: subprocess.Popen[bytes], url: str, log_path: Path, what: str, timeout_s: float = 30) -> None:
    """Until GET {url}/healthz answers 200; the log's tail if the process exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log_path.read_text(errors='replace')[-4000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become healthy")


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    """Stops it with `sig`, killing it after 15 s."""
    if proc and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class ServerProcess:
    """`boxoffice serve` as an operator runs it."""

    healthy_timeout_s = 30.0

    database_url: str
    redis_url: str | None
    secret: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}-server.log"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self, *, fresh_redis: bool = False) -> None:
        """fresh_redis: empty the Redis db first. Redis outlives test runs on a machine, and a
        notification stream or consumer group left by an earlier run must not leak into this one."""
        if fresh_redis and self.redis_url:
            import redis as sync_redis

            sync_redis.Redis.from_url(self.redis_url).flushdb()
        env = {**os.environ, "DATABASE_URL": self.database_url, "BOXOFFICE_SECRET": self.secret,
               "BOXOFFICE_DATA_DIR": str(self.data_dir), "STRIPE_WEBHOOK_SECRET": "whsec_cluster_" + self.secret[:8],
               "BOXOFFICE_SEAT_DELTA_WINDOW_MS": "100", "BOXOFFICE_HOLD_SWEEP_INTERVAL_S": "0.2",
               # The suite's servers, simulators and pools share PostgreSQL's 100 connections, and a
               # test sends a handful of requests at a time: 30 a server (the default) ran out.
               "BOXOFFICE_DB_POOL_SIZE": "8",
               **self.extra_env}
        env.pop("REDIS_URL", None)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        # The log goes to a file: a pipe nobody reads fills up, and the server then blocks on its next log line.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen([sys.executable, "-m", "boxoffice.cli", "serve", "--port", str(self.port),
                                          "--no-migrate", "--log-level", "warning"], env=env,
                                         stdout=subprocess.DEVNULL, stderr=log_file)
        wait_healthy(self.proc, self.url, self.log_path, "server", self.healthy_timeout_s)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.proc, sig)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A `boxoffice` command as this server's operator runs it (same database, secret, address)."""
        env = {**os.environ, "DATABASE_URL": self.database_url, "BOXOFFICE_SECRET": self.secret,
               "BOXOFFICE_DATA_DIR": str(self.data_dir), "STRIPE_WEBHOOK_SECRET": "whsec_cluster_" + self.secret[:8],
               # The server's address: its mounted simulator is asked there (reconcile exits 1 while it cannot be).
               "BOXOFFICE_PUBLIC_URL": self.url}
        env.pop("REDIS_URL", None)
        return subprocess.run([sys.executable, "-m", "boxoffice.cli", *args], env=env, capture_output=True, text=True,
                              timeout=120)


class Subscription:
    def __init__(self, ws: Any, op_id: str) -> None:
        self.ws, self.id = ws, op_id

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next payload of this operation; raises on error/complete."""
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message.get("type") == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            if message.get("id") != self.id:
                continue
            if message["type"] == "next":
                return message["payload"]  # type: ignore[no-any-return]
            raise SubscriptionEnded(message)


class SubscriptionEnded(Exception):
    def __init__(self, message: dict[str, Any]) -> None:
        super().__init__(json.dumps(message))
        self.message = message


@asynccontextmanager
async def subscribe(ws_url: str, query: str, variables: dict[str, Any] | None = None,
                    token: str | None = None) -> AsyncIterator[Subscription]:
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"], max_size=2**24) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {token}"} if token else {}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert ack["type"] == "connection_ack", ack
        op_id = uuid.uuid4().hex
        await ws.send(json.dumps({"type": "subscribe", "id": op_id,
                                  "payload": {"query": query, "variables": variables or {}}}))
        yield Subscription(ws, op_id)


async def gql(url: str, query: str, variables: dict[str, Any] | None = None, token: str | None = None,
              client: httpx.AsyncClient | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload = {"query": query, "variables": variables or {}}
    if client is None:
        async with httpx.AsyncClient(timeout=30) as c:
            response = await c.post(f"{url}/graphql", json=payload, headers=headers)
    else:
        response = await client.post(f"{url}/graphql", json=payload, headers=headers)
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]  # type: ignore[no-any-return]


async def fan_tokens(engine: Any, secret: str, n: int, role: str = "fan") -> list[str]:
    """n new users and bearer tokens signed with the servers' secret."""
    from boxoffice.booking.accounts.sign_in import TokenIssuer, create_user

    issuer = TokenIssuer(secret, 3600)
    tokens = []
    for _ in range(n):
        user = await create_user(engine, email=f"live-{uuid.uuid4().hex[:10]}@example.test",
                                 password="live-password", name="Live", role=role)
        tokens.append(issuer.issue(user))
    return tokens
