"""Concurrent callers for one key share one run; one caller giving up does not end it for the rest."""

from __future__ import annotations

import asyncio

import pytest

from boxoffice.booking.inventory.single_flight import SingleFlight


async def test_concurrent_callers_share_one_run_and_later_callers_start_another() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    gate, runs = asyncio.Event(), 0

    async def load() -> int:
        nonlocal runs
        runs += 1
        await gate.wait()
        return runs

    waiting = [asyncio.create_task(flights.run("k", load)) for _ in range(10)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == [1] * 10
    assert await flights.run("k", load) == 2  # finished runs are not remembered
    assert flights.running("k") is None


async def test_a_caller_that_gives_up_does_not_cancel_the_run_for_the_others() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    gate = asyncio.Event()

    async def load() -> str:
        await gate.wait()
        return "loaded"

    first = asyncio.create_task(flights.run("k", load))
    second = asyncio.create_task(flights.run("k", load))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == "loaded"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_every_caller_sees_the_failure() -> None:
    flights: SingleFlight[str, str] = SingleFlight()

    async def load() -> str:
        await asyncio.sleep(0)
        raise RuntimeError("database down")

    results = await asyncio.gather(*(flights.run("k", load) for _ in range(3)), return_exceptions=True)
    assert [str(r) for r in results] == ["database down"] * 3
