"""Entering the waiting room and polling a place are one Redis round trip each, however long the queue."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import redis.asyncio as aioredis

from boxoffice.booking.waiting_room.redis_queue_store import RedisQueueStore
from boxoffice.booking.waiting_room.room import WaitingRoom


class CountingConnection(aioredis.Connection):
    """Counts what goes over the wire: one packed send is one round trip (pipelines send once)."""

    sent = 0

    async def send_packed_command(self, command, check_health=True):  # type: ignore[no-untyped-def]
        CountingConnection.sent += 1
        await super().send_packed_command(command, check_health)


async def test_enter_and_poll_are_one_round_trip_each(redis_url: str, redis_ns: str) -> None:
    client = aioredis.Redis.from_url(redis_url, connection_class=CountingConnection)
    try:
        room = WaitingRoom(RedisQueueStore(client, namespace=redis_ns), secret="s" * 32,
                           clock=lambda: datetime.now(UTC))
        show = str(uuid.uuid4())
        first = await room.enter(show, str(uuid.uuid4()))  # loads the scripts into Redis if need be
        await room.get_ticket(first.ticket_id)
        CountingConnection.sent = 0
        tickets = [await room.enter(show, str(uuid.uuid4())) for _ in range(300)]
        assert CountingConnection.sent == 300
        assert [t.position for t in tickets] == list(range(2, 302))  # FIFO
        CountingConnection.sent = 0
        polled = [await room.get_ticket(t.ticket_id) for t in tickets]
        assert CountingConnection.sent == 300
        assert [p.position for p in polled if p is not None] == list(range(2, 302))
    finally:
        await client.aclose()
