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
