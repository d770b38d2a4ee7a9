"""uvicorn's httptools protocol with a deadline on request headers.

uvicorn bounds the silence between two requests on a connection (`timeout_keep_alive`) but not a
connection that never sends a byte, nor a request whose headers start and never finish: each such
socket stays open for good, and enough of them use up the process's file descriptors. Here the
same timeout also runs from the moment a connection opens, and from the first byte of a request
until its headers are complete; past it the client gets 408 and the connection is closed. The
body has its own deadline in the application (http_body.BodyLimit), which it does not need when
the body has arrived whole before the application reads it: the protocol marks the request's scope
then (BODY_COMPLETE). `boxoffice serve` passes BOXOFFICE_BODY_TIMEOUT_S as `timeout_keep_alive`: one
number for every wait on a client.

Nor does uvicorn bound how long a response waits for its client to read it: a client that stops
reading (a full receive window, pipelined requests behind) keeps its answer in memory and its
connection for good. Here, once the transport's buffer is past its high-water mark, the client has
the same timeout to read it down again; past it the connection is aborted.

Nor does httptools bound the size of a request line and its headers (h11's
`h11_max_incomplete_event_size` does not apply to it): once MAX_HEADER_BYTES have arrived without
the headers being complete, the client gets 431 and the connection is closed.

And uvicorn writes a response's status line and headers, then its body, as two writes: two system
calls, two TCP segments, two wake-ups of the client, for every response. OneWritePerTurn joins
what is written in one turn of the event loop into one write (with wrk against a bare ASGI app,
a sixth less server CPU per response: docs/PERFORMANCE.md, "Releases share a statement").
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .http_body import BODY_COMPLETE

MAX_HEADER_BYTES = 64 * 1024
_TOO_LARGE_RESPONSE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
                       b"x-content-type-options: nosniff\r\ncontent-length: 34\r\nconnection: close\r\n\r\n"
                       b"The request headers are too large.")
_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                     b"x-content-type-options: nosniff\r\ncontent-length: 33\r\nconnection: close\r\n\r\n"
                     b"The request headers did not come.")


class OneWritePerTurn:
    """A transport whose writes made in one event-loop turn leave as one write, at the end of the
    turn, in order. Closing sends what is pending first; aborting drops it. After a protocol switch
    (a WebSocket upgrade) writes go straight through: frames have their own pacing."""

    __slots__ = ("_transport", "_loop", "_pending", "_direct")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None
        self._direct = False

    def write(self, data: bytes) -> None:
        if self._direct:
            self._transport.write(data)
        elif self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self._direct = True
        self._transport.set_protocol(protocol)

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, ...
        return getattr(self._transport, name)


class ReadDeadline:
    """A client that stops reading: once the transport's buffer is past its high-water mark, it has
    `config.timeout_keep_alive` to read it down again; past it the connection is aborted (what it did
    not read is dropped, and connection_lost ends what waited to write). Mixed into uvicorn's HTTP
    protocol here and its WebSocket protocol (ws_protocol.py)."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    config: Config
    _read_deadline: asyncio.TimerHandle | None = None

    def pause_writing(self) -> None:
        super().pause_writing()  # type: ignore[misc]  # the protocol's, after this in the MRO
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self.config.timeout_keep_alive, self._reader_stalled)

    def resume_writing(self) -> None:
        self._disarm_read_deadline()
        super().resume_writing()  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_deadline()
        super().connection_lost(exc)  # type: ignore[misc]

    def _disarm_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _reader_stalled(self) -> None:
        self._read_deadline = None
        self.transport.abort()


class HeaderDeadlineProtocol(ReadDeadline, HttpToolsProtocol):
    _header_deadline: asyncio.TimerHandle | None = None
    _header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneWritePerTurn(transport, self.loop))  # type: ignore[arg-type]
        self._arm_header_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_deadline is None:
            self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_deadline is not None:  # read all this, and the headers are still not complete
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(_TOO_LARGE_RESPONSE)

    def on_message_complete(self) -> None:
        # Read by http_body.BodyLimit: with the whole body here, its reading needs no deadline.
        self.scope[BODY_COMPLETE] = True  # type: ignore[literal-required]
        super().on_message_complete()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        self._header_bytes = 0
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(self.timeout_keep_alive, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm_header_deadline()  # a pipelined request waits behind one still answering
            return
        self._refuse(_TIMEOUT_RESPONSE)

    def _refuse(self, response: bytes) -> None:
        self._disarm_header_deadline()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()
