"""uvicorn's WebSocket protocol (websockets-sansio) with a deadline on a client that stops reading.

uvicorn waits for a paused transport to drain before each send, for as long as it takes: a client
that never reads its socket kept every answer it asked for in memory, and its connection, for good
(its pings wait behind the full buffer too, so the ping timeout never fires). As the HTTP protocol
does (http_protocol.py), once the transport's buffer is past its high-water mark the client has
`timeout_keep_alive` (BOXOFFICE_BODY_TIMEOUT_S) to read it down again; past it the connection is
aborted, and what waited to be sent is dropped.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .http_protocol import ReadDeadline


class WriteDeadlineWSProtocol(ReadDeadline, WebSocketsSansIOProtocol):
    """uvicorn's, with the read deadline (the sends waiting for room end when the connection does)."""
