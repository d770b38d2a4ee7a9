"""Reading a request body in ASGI middleware, then handing it on as if unread."""

from __future__ import annotations

from starlette.types import Message, Receive


async def read_body(receive: Receive, max_bytes: int | None = None) -> tuple[bytes | None, Receive]:
    """The whole body (None once it passes max_bytes) and a `receive` that replays it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if max_bytes is not None and size > max_bytes:
            return None, receive
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
