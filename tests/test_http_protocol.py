"""OneWritePerTurn (boxoffice/http_protocol.py) on a real loopback connection: what one turn of
the event loop writes leaves in one write, in order; closing sends what is pending first."""

from __future__ import annotations

import asyncio
from typing import Any

from boxoffice.http_protocol import OneWritePerTurn


class CountedWrites:
    """The real transport, with its writes counted."""

    def __init__(self, writer: asyncio.StreamWriter, client: asyncio.StreamWriter) -> None:
        self.writers = (writer, client)  # kept: a collected StreamWriter closes its transport
        self.transport = writer.transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def connected_pair() -> tuple[CountedWrites, asyncio.StreamReader, Any]:
    accepted: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(writer)
        await reader.read()  # the connection stays while the client keeps it

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, client = await asyncio.open_connection("127.0.0.1", port)
    server_side = await accepted.get()
    return CountedWrites(server_side, client), reader, server


async def test_the_writes_of_one_turn_leave_as_one_write_in_order() -> None:
    counted, reader, server = await connected_pair()
    transport = OneWritePerTurn(counted, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
    transport.write(b"hello")
    assert counted.writes == []  # nothing until the turn ends
    assert await reader.readexactly(43) == b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"
    assert counted.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"]

    transport.write(b"next")  # a later turn: a write of its own
    assert await reader.readexactly(4) == b"next"
    assert len(counted.writes) == 2
    transport.write(b"last words")
    transport.close()  # what is pending goes first
    assert await reader.read() == b"last words"
    server.close()
    await server.wait_closed()


async def test_an_abort_drops_what_is_pending() -> None:
    counted, reader, server = await connected_pair()
    transport = OneWritePerTurn(counted, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"never sent")
    transport.abort()
    await asyncio.sleep(0)  # the turn ends: the scheduled flush finds nothing
    assert counted.writes == []
    try:
        assert await reader.read() == b""
    except ConnectionResetError:
        pass  # an abort resets the connection
    server.close()
    await server.wait_closed()


async def test_a_client_that_stops_reading_its_answer_is_cut_off_after_the_deadline() -> None:
    """Its answers wait in the transport's buffer: once past the high-water mark, the client has the
    keep-alive timeout to read it down, or the connection is aborted and the requests end. (The first
    answer leaves at the end of its turn, OneWritePerTurn; a pipelined second one waits for the buffer
    to drain, and waited for ever.)"""
    import socket

    import uvicorn

    from boxoffice.http_protocol import HeaderDeadlineProtocol
    from live_support import free_port, serving

    answered: list[int] = []
    body = b"x" * (32 << 20)  # past every kernel buffer of a loopback connection

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})  # returns once written or cut off
        answered.append(1)

    port = free_port()
    async with serving(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                      http=HeaderDeadlineProtocol, timeout_keep_alive=1)):
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", port))
        stalled.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n" * 2)  # and never reads
        try:
            async with asyncio.timeout(30):
                while len(answered) < 2:
                    await asyncio.sleep(0.05)
        finally:
            stalled.close()
