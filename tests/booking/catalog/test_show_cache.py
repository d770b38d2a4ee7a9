"""ShowCache: concurrent misses share one read; clear() drops what was read before it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.booking.catalog import browse as catalog
from boxoffice.booking.catalog.browse import ShowCache


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Counts get_show calls; each waits until `gate` is set."""
    state: dict[str, Any] = {"count": 0, "gate": asyncio.Event(), "result": None}

    async def fake_get_show(engine: AsyncEngine, show_id: uuid.UUID) -> Any:
        state["count"] += 1
        await state["gate"].wait()
        if isinstance(state["result"], Exception):
            raise state["result"]
        return state["result"]

    monkeypatch.setattr(catalog, "get_show", fake_get_show)
    return state


async def test_concurrent_misses_share_one_read(reads: dict[str, Any]) -> None:
    cache = ShowCache(engine=None, ttl_s=60)  # type: ignore[arg-type]
    show_id = uuid.uuid4()
    reads["result"] = "show"
    waiting = [asyncio.create_task(cache.get(show_id)) for _ in range(20)]
    await asyncio.sleep(0.01)
    reads["gate"].set()
    assert await asyncio.gather(*waiting) == ["show"] * 20
    assert reads["count"] == 1
    assert await cache.get(show_id) == "show" and reads["count"] == 1  # then served from memory


async def test_a_caller_that_gives_up_does_not_cancel_the_read_for_the_others(reads: dict[str, Any]) -> None:
    cache = ShowCache(engine=None, ttl_s=60)  # type: ignore[arg-type]
    show_id = uuid.uuid4()
    reads["result"] = "show"
    quitter = asyncio.create_task(cache.get(show_id))
    stayer = asyncio.create_task(cache.get(show_id))
    await asyncio.sleep(0.01)
    quitter.cancel()
    reads["gate"].set()
    assert await stayer == "show" and reads["count"] == 1


async def test_a_failed_read_fails_every_waiting_caller_and_is_retried(reads: dict[str, Any]) -> None:
    cache = ShowCache(engine=None, ttl_s=60)  # type: ignore[arg-type]
    show_id = uuid.uuid4()
    reads["result"] = RuntimeError("database down")
    waiting = [asyncio.create_task(cache.get(show_id)) for _ in range(3)]
    await asyncio.sleep(0.01)
    reads["gate"].set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and reads["count"] == 1
    reads["result"] = "show"
    assert await cache.get(show_id) == "show" and reads["count"] == 2


async def test_clear_drops_a_read_that_started_before_it(reads: dict[str, Any]) -> None:
    cache = ShowCache(engine=None, ttl_s=60)  # type: ignore[arg-type]
    show_id = uuid.uuid4()
    reads["result"] = "old settings"
    before = asyncio.create_task(cache.get(show_id))
    await asyncio.sleep(0.01)
    cache.clear()  # an organizer changed the show meanwhile
    reads["gate"].set()
    assert await before == "old settings"
    reads["result"] = "new settings"
    assert await cache.get(show_id) == "new settings" and reads["count"] == 2
