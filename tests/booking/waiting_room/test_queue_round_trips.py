"""Entering the waiting room and polling a place are one Redis round trip each, however long the queue;
the entries (and the polls) of one event-loop turn share one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from boxoffice.booking.waiting_room.redis_queue_store import RedisQueueStore
from boxoffice.booking.waiting_room.room import WaitingRoom


class CountingConnection(aioredis.Connection):
    """Counts what goes over the wire: one packed send is one round trip (pipelines send once)."""

    sent = 0

    async def send_packed_command(self, command, check_health=True):  # type: ignore[no-untyped-def]
        CountingConnection.sent += 1
        await super().send_packed_command(command, check_health)


@pytest.fixture
async def room(redis_url: str, redis_ns: str) -> AsyncIterator[WaitingRoom]:
    """A room on a counted connection, its scripts already in Redis (the first call loads them)."""
    client = aioredis.Redis.from_url(redis_url, connection_class=CountingConnection)
    try:
        room = WaitingRoom(RedisQueueStore(client, namespace=redis_ns), secret="s" * 32,
                           clock=lambda: datetime.now(UTC))
        await room.get_ticket((await room.enter(str(uuid.uuid4()), str(uuid.uuid4()))).ticket_id)
        CountingConnection.sent = 0
        yield room
    finally:
        await client.aclose()


async def test_enter_and_poll_are_one_round_trip_each(room: WaitingRoom) -> None:
    show = str(uuid.uuid4())
    tickets = [await room.enter(show, str(uuid.uuid4())) for _ in range(300)]
    assert CountingConnection.sent == 300
    assert [t.position for t in tickets] == list(range(1, 301))  # FIFO
    CountingConnection.sent = 0
    polled = [await room.get_ticket(t.ticket_id) for t in tickets]
    assert CountingConnection.sent == 300
    assert [p.position for p in polled if p is not None] == list(range(1, 301))


async def test_a_crowd_entering_at_once_shares_round_trips_and_keeps_its_order(room: WaitingRoom) -> None:
    show = str(uuid.uuid4())
    fans = [str(uuid.uuid4()) for _ in range(200)]  # fewer than a batch's 256
    # Entered in one event-loop turn, one fan twice: one call for all, in the order they came.
    tickets = await asyncio.gather(*(room.enter(show, fan) for fan in [*fans, fans[7]]))
    assert CountingConnection.sent == 1
    assert [t.position for t in tickets[:-1]] == list(range(1, 201))
    assert tickets[-1].ticket_id == tickets[7].ticket_id  # the same fan: the same ticket
    CountingConnection.sent = 0
    polled = await asyncio.gather(*(room.get_ticket(t.ticket_id) for t in tickets[:-1]),
                                  room.get_ticket("no-such-ticket"))
    assert CountingConnection.sent == 1
    assert [p.position for p in polled[:-1] if p is not None] == list(range(1, 201))
    assert polled[-1] is None
