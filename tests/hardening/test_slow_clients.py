"""Clients that start a request and never finish it cost a socket, nothing more.

Against a real `boxoffice serve` process over raw sockets: uploads that send their headers and
part of a body, then nothing, must not take the load-shedding slots that normal requests need,
and are answered 408 and closed once BOXOFFICE_BODY_TIMEOUT_S has passed; a WebSocket that never
sends `connection_init` is closed after BOXOFFICE_WS_INIT_TIMEOUT_S.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from boxoffice.config import Settings
from live_support import ServerProcess

BODY_TIMEOUT_S = 2.0
WS_INIT_TIMEOUT_S = 1.0
STALLED = 2 * Settings.max_in_flight  # twice the default in-flight limit (BOXOFFICE_MAX_IN_FLIGHT)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(database_url, None, "slow-" + uuid.uuid4().hex, Path(tmp_path_factory.mktemp("slow")),
                        extra_env={"BOXOFFICE_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
                                   "BOXOFFICE_WS_INIT_TIMEOUT_S": str(WS_INIT_TIMEOUT_S)})
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


async def stalled_upload(port: int, *, length: int, signed_in: bool) -> tuple[asyncio.StreamReader,
                                                                              asyncio.StreamWriter]:
    """A POST /graphql whose headers arrive, then a few bytes of its body, then nothing.

    `Expect: 100-continue` makes the wait a condition: uvicorn answers `100 Continue` when the
    application first asks for the body, so once it is read the request is inside the app."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = ["POST /graphql HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
            f"Content-Length: {length}", "Expect: 100-continue"]
    if signed_in:
        head.append("Authorization: Bearer not-a-real-token")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    await writer.drain()
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert interim.startswith(b"HTTP/1.1 100"), interim
    writer.write(b'{"query": "{ serverTi')
    await writer.drain()
    return reader, writer


async def test_stalled_uploads_do_not_stop_normal_queries_and_are_closed_with_408(server: ServerProcess) -> None:
    # Anonymous small bodies (the shared-answer path), large ones and signed-in ones (load shedding).
    kinds = [(200, False), (200_000, False), (500, True), (900_000, True)]
    stalled = [await stalled_upload(server.port, length=kinds[i % 4][0], signed_in=kinds[i % 4][1])
               for i in range(STALLED)]
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            for i in range(5):
                started = time.monotonic()
                answer = await asyncio.wait_for(
                    client.post("/graphql", json={"query": f"query Probe{i} {{ serverTime }}"}), 1.0)
                assert answer.status_code == 200, answer.text
                assert answer.json()["data"]["serverTime"], answer.text
                assert time.monotonic() - started < 1.0
        for reader, _ in stalled:  # every stalled upload: 408, then the connection is closed
            response = await asyncio.wait_for(reader.read(), BODY_TIMEOUT_S + 10)
            assert response.startswith(b"HTTP/1.1 408"), response[:200]
            assert reader.at_eof()
            body = json.loads(response.split(b"\r\n\r\n", 1)[1])
            assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT", body
    finally:
        for _, writer in stalled:
            writer.close()


async def test_a_slow_upload_that_finishes_in_time_is_answered(server: ServerProcess) -> None:
    body = json.dumps({"query": "query Slow { serverTime }"}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
        for i in range(0, len(body), 8):  # in pieces, well within the deadline
            writer.write(body[i:i + 8])
            await writer.drain()
            await asyncio.sleep(0)
        response = await asyncio.wait_for(reader.read(), 10)
        assert response.startswith(b"HTTP/1.1 200"), response[:300]
    finally:
        writer.close()


async def test_a_websocket_that_never_sends_connection_init_is_closed(server: ServerProcess) -> None:
    async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await asyncio.wait_for(ws.wait_closed(), WS_INIT_TIMEOUT_S + 10)
    assert ws.close_code == 4408, (ws.close_code, ws.close_reason)


async def test_the_legacy_protocol_without_an_init_deadline_is_not_spoken(server: ServerProcess) -> None:
    """graphql-ws (the pre-2020 protocol) never times out a silent socket: only graphql-transport-ws."""
    async with websockets.connect(server.ws_url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        await asyncio.wait_for(ws.wait_closed(), 10)
    assert ws.close_code == 4406, (ws.close_code, ws.close_reason)


async def test_connections_whose_headers_never_finish_are_closed(server: ServerProcess) -> None:
    """uvicorn alone keeps such sockets open for good; the header deadline is BOXOFFICE_BODY_TIMEOUT_S."""
    silent = await asyncio.open_connection("127.0.0.1", server.port)  # connects, never sends a byte
    partial = await asyncio.open_connection("127.0.0.1", server.port)
    partial[1].write(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
    await partial[1].drain()
    try:
        for reader, _ in (silent, partial):
            response = await asyncio.wait_for(reader.read(), BODY_TIMEOUT_S + 10)
            assert response.startswith(b"HTTP/1.1 408"), response[:200]
            assert reader.at_eof()
        async with httpx.AsyncClient(base_url=server.url) as client:  # and the server answers as ever
            assert (await client.get("/healthz")).status_code == 200
    finally:
        for _, writer in (silent, partial):
            writer.close()


async def test_endless_headers_are_refused_with_431(server: ServerProcess) -> None:
    """httptools has no size limit of its own: headers would grow for as long as they are sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        # The 431, unless the close (with our bytes unread) reset the connection first: while we
        # still write, or before we read.
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            for _ in range(20):  # 80 KB of cookies, and still no end of the headers
                writer.write(b"Cookie: " + b"c" * 4000 + b"\r\n")
            await writer.drain()
            response = await asyncio.wait_for(reader.read(), 10)
            assert response.startswith(b"HTTP/1.1 431"), response[:200]
        except (ConnectionResetError, BrokenPipeError):
            pass
    finally:
        writer.close()
    async with httpx.AsyncClient(base_url=server.url) as client:  # 8 KB of headers are fine
        assert (await client.get("/healthz", headers={"X-Padding": "p" * 8000})).status_code == 200


async def test_a_websocket_that_did_init_outlives_the_header_and_init_deadlines(server: ServerProcess) -> None:
    async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        # Time itself is what is tested here: both deadlines pass, the socket must not notice.
        await asyncio.sleep(max(BODY_TIMEOUT_S, WS_INIT_TIMEOUT_S) + 0.5)
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"


def _client_frame(message: dict[str, object]) -> bytes:
    """A masked text frame, as a WebSocket client sends it (RFC 6455 5.2)."""
    payload = json.dumps(message).encode()
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _server_keeps(sock: socket.socket) -> bool:
    """Whether the server's end of this connection is still open (ESTABLISHED in /proc/net/tcp). Once
    the server lets it go, the kernel still holds what it could not send, behind a FIN, which this
    client would only see after reading it all."""
    client_port = sock.getsockname()[1]
    server_port = sock.getpeername()[1]
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            local, remote, state = line.split()[1:4]
            if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
                return state == "01"
    return False


@pytest.fixture
def few_slots(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server with 4 slots and no wait for one: a request finding them taken is shed at once."""
    srv = ServerProcess(database_url, None, "slots-" + uuid.uuid4().hex, tmp_path / "slots",
                        extra_env={"BOXOFFICE_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S), "BOXOFFICE_MAX_IN_FLIGHT": "4",
                                   "BOXOFFICE_SHED_WAIT_MS": "0"})
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


async def test_a_websocket_that_stops_reading_holds_no_slot_and_is_dropped(few_slots: ServerProcess) -> None:
    """Queries over a socket whose client never reads: their answers wait for room to be written,
    and once computed they give their load-shedding slots back (they kept them while waiting, and
    a hundred of them shed every HTTP request); the client has BOXOFFICE_BODY_TIMEOUT_S to read, then
    the connection is aborted (it used to keep its answers in memory for good)."""
    server = few_slots
    # About 120 KB an answer: a hundred are more than the kernel's buffers on both ends hold.
    big = ("query { " + " ".join(f'a{i}: __type(name: "Mutation") {{ ...F }}' for i in range(30)) + " } fragment F on "
           "__Type { fields { name description args { name description type { name kind } } type { name kind } } }")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads nothing, soon full
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    try:
        sock.sendall((f"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws"
                      f"\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n\r\n").encode())
        seen = b""
        for awaited in (b"\r\n\r\n", b"connection_ack"):  # the 101, then the ack: then never read again
            while awaited not in seen:
                got = sock.recv(4096)
                assert got, seen
                seen += got
            if awaited == b"\r\n\r\n":
                assert seen.startswith(b"HTTP/1.1 101"), seen[:100]
                sock.sendall(_client_frame({"type": "connection_init"}))
        for n in range(100):  # the most a connection may have open
            sock.sendall(_client_frame({"id": str(n), "type": "subscribe", "payload": {"query": big}}))
        answered = 0
        async with httpx.AsyncClient(base_url=server.url) as client:
            deadline = time.monotonic() + BODY_TIMEOUT_S + 30
            while _server_keeps(sock):
                assert time.monotonic() < deadline, "the stalled WebSocket was not dropped"
                response = await client.post("/graphql", json={"query": "{ serverTime }"})
                assert response.status_code == 200, response.text
                answered += 1
                await asyncio.sleep(0.05)
        assert answered > 0
    finally:
        sock.close()
