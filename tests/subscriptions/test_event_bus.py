"""EventBus on real Redis (redis-py 8) and in-process."""

from __future__ import annotations

import asyncio
import time

import pytest
from broadcaster import Broadcast
from redis import asyncio as aioredis

from boxoffice.subscriptions.bus import BusClosed, BusResumed, EventBus
from boxoffice.subscriptions.redis_backend import ConfirmedRedisBackend, RedisBusSettings

from .helpers import FAST, LatencyProxy, RedisProcess, eventually, next_within, numsub, unique


async def test_redis_publish_then_receive_with_redis_py_8(redis_bus: EventBus) -> None:
    # The broadcaster 0.3.1 + redis-py 8 trap: stock RedisBackend delivers nothing.
    channel = unique("bus")
    async with redis_bus.subscribe(channel) as sub:
        # No sleep: subscribe() returned only after Redis confirmed the subscription.
        assert await redis_bus.publish(channel, "hello")
        assert await next_within(sub) == "hello"
        assert await redis_bus.publish(channel, '{"n": 2}')
        assert await next_within(sub) == '{"n": 2}'


async def test_publishes_of_one_turn_reach_subscribers_in_order(redis_bus: EventBus) -> None:
    # A sale's holds and releases publish together (one pipeline per turn of the loop): in
    # order, and each caller still learns that Redis took its message.
    channel, other = unique("turn"), unique("turn-other")
    async with redis_bus.subscribe(channel) as sub, redis_bus.subscribe(other) as sub_other:
        sent = await asyncio.gather(*(redis_bus.publish(channel if i % 3 else other, str(i)) for i in range(30)))
        assert sent == [True] * 30
        assert [await next_within(sub) for _ in range(20)] == [str(i) for i in range(30) if i % 3]
        assert [await next_within(sub_other) for _ in range(10)] == [str(i) for i in range(0, 30, 3)]


async def test_subscribe_returns_only_once_redis_has_the_subscription(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    # Over a slow link SUBSCRIBE reaches Redis well after it was written. A bus
    # that reports "subscribed" on write would miss a publish that follows.
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    proxy = LatencyProxy(port, delay=0.15)
    await proxy.start()
    channel = unique("slowlink")
    try:
        settings = RedisBusSettings(backoff_initial=0.05, backoff_max=0.3)
        async with EventBus(proxy.url, settings=settings) as bus:
            assert bus.connected_upstream
            async with bus.subscribe(channel) as sub:
                assert await redis_client.publish(channel, "right after") == 1
                assert await next_within(sub) == "right after"
    finally:
        await proxy.close()


async def test_backend_fixes_broadcaster_itself(redis_url: str, redis_client: aioredis.Redis) -> None:
    # The subclass is a drop-in BroadcastBackend: stock Broadcast works with it.
    channel = unique("bcast")
    broadcast = Broadcast(backend=ConfirmedRedisBackend(redis_url, FAST))
    await broadcast.connect()
    try:
        async with broadcast.subscribe(channel) as sub:
            await broadcast.publish(channel, "through broadcaster")
            event = await asyncio.wait_for(sub.get(), 3)
            assert (event.channel, event.message) == (channel, "through broadcaster")
    finally:
        await broadcast.disconnect()


async def test_memory_bus_publish_then_receive(memory_bus: EventBus) -> None:
    channel = unique("mem")
    async with memory_bus.subscribe(channel) as a, memory_bus.subscribe(channel) as b:
        assert await memory_bus.publish(channel, "x")
        assert await memory_bus.publish(unique("other"), "not for us")
        assert await memory_bus.publish(channel, "y")
        assert [await next_within(a), await next_within(a)] == ["x", "y"]
        assert [await next_within(b), await next_within(b)] == ["x", "y"]
    assert memory_bus.local_subscribers(channel) == 0


@pytest.mark.parametrize("which", ["memory", "redis"])
async def test_only_strings_are_published(which: str, memory_bus: EventBus, redis_bus: EventBus) -> None:
    bus = memory_bus if which == "memory" else redis_bus
    with pytest.raises(TypeError):
        await bus.publish("c", {"not": "serialised"})  # type: ignore[arg-type]


async def test_one_upstream_subscription_shared_and_refcounted(
    redis_bus: EventBus, redis_client: aioredis.Redis
) -> None:
    channel = unique("shared")
    subs = [redis_bus.subscribe(channel) for _ in range(5)]
    for sub in subs:
        await sub.__aenter__()
    assert redis_bus.local_subscribers(channel) == 5
    assert await numsub(redis_client, channel) == 1  # one Redis subscription for five listeners

    assert await redis_client.publish(channel, "to all") == 1  # one Redis receiver
    assert [await next_within(sub) for sub in subs] == ["to all"] * 5

    for sub in subs[:4]:
        await sub.aclose()
    assert await numsub(redis_client, channel) == 1
    await redis_client.publish(channel, "to the last")
    assert await next_within(subs[4]) == "to the last"

    await subs[4].aclose()
    assert redis_bus.local_subscribers(channel) == 0
    for _ in range(50):  # UNSUBSCRIBE is sent, Redis applies it asynchronously to us
        if await numsub(redis_client, channel) == 0:
            break
        await asyncio.sleep(0.02)
    assert await numsub(redis_client, channel) == 0


async def test_leave_and_rejoin_keeps_the_upstream_subscription(
    redis_bus: EventBus, redis_client: aioredis.Redis
) -> None:
    channel = unique("rejoin")
    for _ in range(5):  # UNSUBSCRIBE and SUBSCRIBE must reach Redis in order
        async with redis_bus.subscribe(channel):
            pass
    async with redis_bus.subscribe(channel) as sub:
        assert await numsub(redis_client, channel) == 1
        await redis_bus.publish(channel, "still there")
        assert await next_within(sub) == "still there"


async def test_subscription_ends_when_bus_disconnects() -> None:
    bus = EventBus(None)
    await bus.connect()
    async with bus.subscribe("c") as sub:
        await bus.disconnect()
        with pytest.raises(StopAsyncIteration):
            await next_within(sub)
    with pytest.raises(BusClosed):
        async with bus.subscribe("c"):
            pass
    assert await bus.publish("c", "dropped") is False


async def test_slow_bus_subscriber_gets_overflow_marker() -> None:
    async with EventBus(None, subscriber_queue_limit=3) as bus:
        async with bus.subscribe("c") as sub:
            for i in range(5):
                await bus.publish("c", str(i))
            await asyncio.sleep(0.05)
            # 0-2 filled the queue; 3 overflowed it: backlog dropped, marker first.
            assert await next_within(sub) == BusResumed("c", reason="overflow")
            assert [await next_within(sub), await next_within(sub)] == ["3", "4"]


async def test_publish_with_redis_down_returns_quickly() -> None:
    down = RedisProcess()  # a free port with nothing listening
    async with EventBus(down.url, settings=FAST) as bus:
        assert not bus.connected_upstream
        started = time.monotonic()
        assert await bus.publish("c", "lost") is False
        assert await bus.publish("c", "lost") is False
        assert time.monotonic() - started < 1.0
        assert bus.dropped_publishes == 2
        # Subscribing doesn't fail or hang either; the channel waits for Redis.
        async with bus.subscribe("c"):
            pass


async def test_redis_restart_resubscribes_and_marks_resume(redis_process: RedisProcess) -> None:
    channel = unique("restart")
    async with EventBus(redis_process.url, settings=FAST) as bus:
        async with bus.subscribe(channel) as a, bus.subscribe(channel) as b:
            await bus.publish(channel, "before")
            assert await next_within(a) == "before"
            assert await next_within(b) == "before"

            redis_process.kill()
            await eventually(lambda: not bus.connected_upstream, what="outage noticed")
            assert await bus.publish(channel, "during") is False  # dropped, not raised

            redis_process.start()  # same port, empty server: no subscriptions
            # Each local subscriber is told to resync once the channel is back.
            assert await next_within(a, 5) == BusResumed(channel)
            assert await next_within(b, 5) == BusResumed(channel)
            assert bus.connected_upstream
            assert await bus.publish(channel, "after")
            assert await next_within(a) == "after"
            assert await next_within(b) == "after"


async def test_subscribe_during_outage_is_established_on_reconnect(redis_process: RedisProcess) -> None:
    channel = unique("late")
    async with EventBus(redis_process.url, settings=FAST) as bus:
        redis_process.kill()
        await eventually(lambda: not bus.connected_upstream, what="outage noticed")
        async with bus.subscribe(channel) as sub:
            redis_process.start()
            assert await next_within(sub, 5) == BusResumed(channel)
            assert await bus.publish(channel, "hello again")
            assert await next_within(sub) == "hello again"


async def test_dropped_connection_is_noticed_and_marked(redis_process: RedisProcess) -> None:
    # The server stays up but our pub/sub connection is cut: whatever was
    # published meanwhile is lost, so subscribers must be told, not silently
    # resubscribed by redis-py.
    channel = unique("dropped")
    admin = aioredis.Redis.from_url(redis_process.url)
    try:
        async with EventBus(redis_process.url, settings=FAST) as bus:
            async with bus.subscribe(channel) as sub:
                assert await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub") == 1
                assert await next_within(sub) == BusResumed(channel)
                await bus.publish(channel, "after")
                assert await next_within(sub) == "after"
    finally:
        await admin.aclose()


async def test_a_dropped_publish_tells_every_subscriber_to_resync(redis_process: RedisProcess) -> None:
    # Redis answers too late for one process's publish (here: CLIENT PAUSE holds every PUBLISH) while
    # every subscription stays up. Nobody else knows the message is lost: the publisher's channel gets
    # a marker once publishing works, so the other processes' subscribers re-read what they missed.
    channel = unique("lost-publish")
    admin = aioredis.Redis.from_url(redis_process.url)
    try:
        async with EventBus(redis_process.url, settings=FAST) as publisher, \
                EventBus(redis_process.url, settings=FAST) as other:
            async with other.subscribe(channel) as sub:
                await admin.execute_command("CLIENT", "PAUSE", "600", "WRITE")
                assert await publisher.publish(channel, "held back") is False  # past publish_timeout
                assert other.connected_upstream
                seen = [await next_within(sub, 5)]
                while seen[-1] == "held back":  # Redis may still deliver what it held
                    seen.append(await next_within(sub, 5))
                assert seen[-1] == BusResumed(channel, "dropped")
                assert await publisher.publish(channel, "after")
                assert await next_within(sub) == "after"
    finally:
        await admin.aclose()


async def test_unresponsive_redis_neither_hangs_publishers_nor_the_subscriber(redis_process: RedisProcess) -> None:
    # SIGSTOP: TCP stays open but nothing answers (like a vanished host).
    settings = RedisBusSettings(
        publish_timeout=0.2, connect_timeout=0.3, op_timeout=0.3, confirm_timeout=0.5,
        poll_interval=0.05, ping_interval=0.2, ping_timeout=0.3, backoff_initial=0.05, backoff_max=0.2,
    )
    channel = unique("stopped")
    async with EventBus(redis_process.url, settings=settings) as bus:
        async with bus.subscribe(channel) as sub:
            redis_process.pause()
            try:
                started = time.monotonic()
                assert await bus.publish(channel, "lost") is False
                assert time.monotonic() - started < 0.5
                # Only an unanswered PING reveals this outage.
                await eventually(lambda: not bus.connected_upstream, what="half-open connection noticed")
            finally:
                redis_process.resume()
            # Told twice: this process's subscription came back, and its dropped publish is marked for all.
            markers = {await next_within(sub, 5), await next_within(sub, 5)}
            assert markers == {BusResumed(channel), BusResumed(channel, "dropped")}
            assert await bus.publish(channel, "back")
            assert await next_within(sub) == "back"


async def test_disconnect_during_subscribe_raises_bus_closed() -> None:
    bus = EventBus(None)
    await bus.connect()
    joining = asyncio.create_task(bus.subscribe("c").__aenter__())
    await asyncio.sleep(0)
    await bus.disconnect()
    with pytest.raises(BusClosed):
        await joining
