"""uvicorn's WebSocket protocol (websockets-sansio) with a deadline on a client that stops reading.

uvicorn waits for a paused transport to drain before each send, for as long as it takes: a client
that never reads its socket kept every answer it asked for in memory, and its connection, for good
(its pings wait behind the full buffer too, so the ping timeout never fires). As the HTTP protocol
does (http_protocol.py), once the transport's buffer is past its high-water mark the client has
`timeout_keep_alive` (BOXOFFICE_BODY_TIMEOUT_S) to read it down again; past it the connection is
aborted, and what waited to be sent is dropped.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class WriteDeadlineWSProtocol(WebSocketsSansIOProtocol):
    _read_deadline: asyncio.TimerHandle | None = None

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self.config.timeout_keep_alive, self._reader_stalled)

    def resume_writing(self) -> None:
        self._disarm()
        super().resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _reader_stalled(self) -> None:
        self._read_deadline = None
        self.transport.abort()  # connection_lost wakes the sends waiting for room: they end the operations
