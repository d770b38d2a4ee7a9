"""Direct delivery: deltas written from the hub's flush, the subscriber's task only as a fallback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from boxoffice.subscriptions.bus import EventBus
from boxoffice.subscriptions.seat_stream import SeatChange, SeatDelta, SeatStream, SubscriberTooSlow

from .test_seat_hub import FakeSeatDb, make_hub, unique


def delta(version: int, seat: str = "s1") -> SeatDelta:
    return SeatDelta("show", version, (SeatChange(seat, "H", version),), ())


class Socket:
    """Stands in for a client connection: takes frames at once, declines, or stalls."""

    def __init__(self) -> None:
        self.got: list[int] = []
        self.seats: set[str] = set()
        self.mode = "take"
        self.stalled: asyncio.Future[None] | None = None

    def deliver(self, d: SeatDelta) -> bool | Awaitable[None]:
        if self.mode == "decline":
            return False
        self.got.append(d.version)
        self.seats.update(c.seat_id for c in d.seats)
        if self.mode == "stall":
            self.stalled = asyncio.get_running_loop().create_future()
            return self.stalled
        return True


async def waiting(stream: SeatStream) -> asyncio.Task[SeatDelta]:
    task = asyncio.create_task(stream.next())
    await asyncio.sleep(0)  # the subscriber's task now waits with nothing queued
    return task


async def test_an_idle_subscriber_gets_deltas_without_its_task_waking() -> None:
    socket = Socket()
    stream = SeatStream("show", queue_limit=4, max_pending_seats=None, deliver=socket.deliver)
    task = await waiting(stream)
    for v in (1, 2, 3):
        stream.offer(delta(v))
    await asyncio.sleep(0.01)
    assert socket.got == [1, 2, 3] and not task.done() and stream.pending == 0
    task.cancel()


async def test_nothing_is_delivered_directly_before_the_subscriber_first_waits() -> None:
    """The replay (sinceVersion) goes first, through the subscriber's task."""
    socket = Socket()
    stream = SeatStream("show", queue_limit=4, max_pending_seats=None, deliver=socket.deliver)
    stream.put_replay(delta(1))
    stream.offer(delta(2))
    assert socket.got == []
    assert [(await stream.next()).version for _ in range(2)] == [1, 2]
    task = await waiting(stream)
    stream.offer(delta(3))
    assert socket.got == [3] and not task.done()
    task.cancel()


async def test_a_declined_delta_and_the_ones_after_it_go_through_the_task_in_order() -> None:
    socket = Socket()
    stream = SeatStream("show", queue_limit=4, max_pending_seats=None, deliver=socket.deliver)
    task = await waiting(stream)
    socket.mode = "decline"
    stream.offer(delta(1))
    socket.mode = "take"
    stream.offer(delta(2))  # queued behind 1, not written ahead of it
    assert socket.got == []
    assert (await task).version == 1
    assert (await stream.next()).version == 2
    task = await waiting(stream)  # drained: direct again
    stream.offer(delta(3))
    assert socket.got == [3] and not task.done()
    task.cancel()


async def test_a_write_waiting_for_the_socket_is_finished_by_the_task_before_anything_else() -> None:
    socket = Socket()
    stream = SeatStream("show", queue_limit=4, max_pending_seats=None, deliver=socket.deliver)
    task = await waiting(stream)
    socket.mode = "stall"
    stream.offer(delta(1))
    stream.offer(delta(2))  # not offered to the socket while 1 is still being written
    assert socket.got == [1] and stream.pending == 1
    await asyncio.sleep(0.01)
    assert not task.done()
    assert socket.stalled is not None
    socket.stalled.set_result(None)
    assert (await asyncio.wait_for(task, 1)).version == 2
    socket.mode = "take"
    task = await waiting(stream)
    stream.offer(delta(3))
    assert socket.got == [1, 3]
    task.cancel()


async def test_a_failing_write_falls_back_to_the_task() -> None:
    def broken(d: SeatDelta) -> bool:
        raise RuntimeError("socket gone")

    stream = SeatStream("show", queue_limit=4, max_pending_seats=None, deliver=broken)
    task = await waiting(stream)
    stream.offer(delta(1))
    assert (await task).version == 1


async def test_a_stalled_subscriber_does_not_hold_up_the_others_and_ends_too_slow(memory_bus: EventBus) -> None:
    db = FakeSeatDb(memory_bus, unique("show"))
    hub = make_hub(memory_bus, db, queue_limit=1, max_pending_seats=3)
    fast, stalled = Socket(), Socket()
    stalled.mode = "stall"
    try:
        async with (hub.subscribe(db.show_id, deliver=fast.deliver) as fast_sub,
                    hub.subscribe(db.show_id, deliver=stalled.deliver) as stalled_sub):
            fast_task = await waiting(fast_sub.stream)
            stalled_task = await waiting(stalled_sub.stream)
            for seat in ("0", "1", "2", "3", "4", "5"):
                await db.commit({seat: "H"})
                await asyncio.sleep(0.08)  # one window each
            assert fast.seats == {"0", "1", "2", "3", "4", "5"} and not fast_task.done()
            assert stalled.seats == {"0"}  # the first write is still waiting for its socket
            assert stalled_sub.stream.failed  # the backlog grew past 3 seats
            assert stalled.stalled is not None
            stalled.stalled.set_result(None)  # the socket drains: the subscriber learns why it ended
            with pytest.raises(SubscriberTooSlow):
                await asyncio.wait_for(stalled_task, 1)
            fast_task.cancel()
    finally:
        await hub.close()
