"""Small requests that ask a worker for a lot: each is refused with a typed error, quickly, and
the worker keeps answering everyone else meanwhile.

Against real `boxoffice serve` processes: the fragment bomb (fragments each spreading the one
below twice, 1.1 KB for 20 levels) in several spellings, answered while /healthz is polled
beside it; documents under 10 KB of one field repeated (graphql-core's overlap check compares
every pair); a document padded with a comment; 30 aliases of a seat map refused by cost while
one full map of a 50,000-seat show is answered; and an answer over BOXOFFICE_MAX_RESPONSE_BYTES
refused with a typed error.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from boxoffice.config import Settings
from live_support import ServerProcess
from support import Api

pytestmark = pytest.mark.asyncio(loop_scope="session")

SEAT_FIELDS = "id sectionId section row number status version priceCents accessible obstructedView x y"
SMALL_RESPONSE_BUDGET = 20_000


def fragment_bomb(levels: int, *, spacing: str = " ", comment: str = "") -> str:
    """`fragment F20 on Query { ...F19 a: serverTime ...F19 }` and so on down to F0."""
    fragments = [f"fragment F0 on Query {{{spacing}serverTime{spacing}}}"]
    for i in range(1, levels + 1):
        fragments.append(f"fragment F{i} on Query {{{spacing}...F{i - 1}{spacing}a: serverTime"
                         f"{spacing}...F{i - 1}{spacing}}}{comment}")
    return f"{{ ...F{levels} }}{spacing}" + spacing.join(fragments)


BOMBS = {
    "20-levels": fragment_bomb(20),
    "25-levels": fragment_bomb(25),
    "25-levels-newlines": fragment_bomb(25, spacing="\n  "),
    "25-levels-commas-comments": fragment_bomb(25, spacing=" , ", comment=" # again\n"),
    "25-levels-no-aliases": fragment_bomb(25).replace("a: serverTime", "serverTime"),
}


def start(database_url: str, tmp: Path, **env: str) -> ServerProcess:
    server = ServerProcess(database_url, None, "bombs-" + uuid.uuid4().hex, tmp, extra_env=env)
    server.start()
    return server


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start(database_url, Path(tmp_path_factory.mktemp("bombs")))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def small_answers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start(database_url, Path(tmp_path_factory.mktemp("small-answers")),
                BOXOFFICE_MAX_RESPONSE_BYTES=str(SMALL_RESPONSE_BUDGET))
    try:
        yield srv
    finally:
        srv.stop()


def refusal(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 500, response.text[:300]
    body = response.json()
    assert body.get("data") is None and body.get("errors"), str(body)[:300]
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT", error
    return error  # type: ignore[no-any-return]


async def test_fragment_bombs_are_refused_at_once_while_healthz_stays_instant(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        assert (await client.get("/healthz")).status_code == 200
        done = asyncio.Event()
        health_waits: list[float] = []

        async def poll_health() -> None:
            while not done.is_set():
                started = time.perf_counter()
                assert (await client.get("/healthz")).status_code == 200
                health_waits.append(time.perf_counter() - started)

        poller = asyncio.create_task(poll_health())
        try:
            for name, document in BOMBS.items():
                assert len(document.encode()) < 2_000, name
                for attempt in range(2):  # the second is the remembered refusal
                    started = time.perf_counter()
                    response = await client.post("/graphql", json={"query": document})
                    took = time.perf_counter() - started
                    error = refusal(response)
                    assert "aliases found" in error["message"] or "too much" in error["message"], (name, error)
                    assert took < 1.0, (name, attempt, took)
        finally:
            done.set()
            await poller
        assert health_waits and max(health_waits) < 0.5, sorted(health_waits)[-5:]
        # The worker is free: a normal query is answered.
        assert (await client.post("/graphql", json={"query": "{ serverTime }"})).json()["data"]["serverTime"]


async def test_documents_of_one_field_repeated_are_refused_quickly(server: ServerProcess) -> None:
    """Under the 2,000-token limit each: graphql-core's overlap check compares every pair of them."""
    documents = ["{ " + " ".join('show(id: "1") { id }' for _ in range(200)) + " }",
                 "{ " + " ".join('show(id: "1") { event { id } }' for _ in range(150)) + " }",
                 "{ " + " ".join(f"...F{i}" for i in range(100)) + " } "
                 + " ".join(f'fragment F{i} on Query {{ show(id: "1") {{ id }} }}' for i in range(100))]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for document in documents:
            assert len(document.encode()) < 10_000
            started = time.perf_counter()
            error = refusal(await client.post("/graphql", json={"query": document}))
            assert time.perf_counter() - started < 1.0, error
        assert (await client.get("/healthz")).status_code == 200


async def test_thirty_aliases_of_a_seat_map_are_refused_one_section_is_answered(api: Api,
                                                                                server: ServerProcess) -> None:
    organizer, _ = await api.user("organizer")
    # 50,000 reserved seats, the largest venue, in five sections of 10,000.
    show = await api.show(organizer, rows=10, seats=1000, sections=5, ga=0)
    assert len(show["seats"]) == 50_000
    many = "query($id: ID!) { " + " ".join(f"a{i}: show(id: $id) {{ seats {{ {SEAT_FIELDS} }} }}"
                                           for i in range(30)) + " }"
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        started = time.perf_counter()
        response = await client.post("/graphql", json={"query": many, "variables": {"id": show["id"]}})
        assert time.perf_counter() - started < 1.0
        assert "too much" in refusal(response)["message"]
        assert len(response.content) < 1_000
        # Three are already too many by the cost; one whole map is refused by its real size, before a
        # seat is rendered: a request lists at most 10,000 seats.
        three = "query($id: ID!) { %s }" % " ".join(f"a{i}: show(id: $id) {{ seats {{ id }} }}" for i in range(3))
        assert "too much" in refusal(await client.post("/graphql", json={"query": three,
                                                                          "variables": {"id": show["id"]}}))["message"]
        one = "query ShowSeats($id: ID!, $sectionId: ID) { show(id: $id) { id seats(sectionId: $sectionId) { %s } } }"
        started = time.perf_counter()
        whole = await client.post("/graphql", json={"query": one % SEAT_FIELDS, "variables": {"id": show["id"]}})
        assert time.perf_counter() - started < 1.0
        (error,) = whole.json()["errors"]
        assert error["extensions"]["code"] == "INVALID_INPUT" and "at most 10,000" in error["message"], error
        assert whole.json()["data"] == {"show": None} and len(whole.content) < 1_000
        # One section, as the frontend asks for a big venue, is answered in full.
        section = await client.post("/graphql", json={"query": "query($id: ID!) { show(id: $id) { availability { "
                                                               "sections { sectionId } } } }",
                                                      "variables": {"id": show["id"]}})
        first = section.json()["data"]["show"]["availability"]["sections"][0]["sectionId"]
        answer = await client.post("/graphql", json={"query": one % SEAT_FIELDS,
                                                     "variables": {"id": show["id"], "sectionId": first}})
    body = answer.json()
    assert "errors" not in body, str(body)[:300]
    assert len(body["data"]["show"]["seats"]) == 10_000
    # The default answer budget holds several sections' maps, not 30 of them.
    assert len(answer.content) < Settings.max_response_bytes < 30 * len(answer.content)


async def test_an_answer_over_the_response_budget_is_a_typed_error(api: Api, small_answers: ServerProcess) -> None:
    organizer, _ = await api.user("organizer")
    show = await api.show(organizer, rows=8, seats=250, ga=0)  # 2,000 seats: about 350 KB with every field
    query = "query($id: ID!) { show(id: $id) { seats { %s } } }"
    async with httpx.AsyncClient(base_url=small_answers.url, timeout=30) as client:
        response = await client.post("/graphql", json={"query": query % SEAT_FIELDS, "variables": {"id": show["id"]}})
        error = refusal(response)
        assert f"{SMALL_RESPONSE_BUDGET:,} bytes" in error["message"], error
        assert len(response.content) < 1_000
        # Refused at the end too, when only the encoded answer shows it: ids alone are counted as
        # at least 9 bytes a seat (`{"id":x},`), and are more.
        response = await client.post("/graphql", json={"query": query % "id", "variables": {"id": show["id"]}})
        assert len(show["seats"]) * 9 < SMALL_RESPONSE_BUDGET
        assert f"{SMALL_RESPONSE_BUDGET:,} bytes" in refusal(response)["message"]
        # A small answer is served.
        small = await client.post("/graphql", json={"query": "query($id: ID!) { show(id: $id) { id } }",
                                                    "variables": {"id": show["id"]}})
        assert small.json()["data"]["show"]["id"] == show["id"]


async def test_a_document_padded_with_comments_is_refused_before_parsing(server: ServerProcess) -> None:
    """Comments and white space are not tokens, so the token limit does not bound them."""
    from boxoffice.schema.build import DOCUMENT_TOO_LONG, MAX_DOCUMENT_CHARS

    padded = "#" + "x" * MAX_DOCUMENT_CHARS + "\n{ serverTime }"
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post("/graphql", json={"query": padded})
        assert response.status_code == 400, response.text[:300]
        (error,) = response.json()["errors"]
        assert error == {"message": DOCUMENT_TOO_LONG, "extensions": {"code": "INVALID_INPUT"}}
        within = "#" + "x" * (MAX_DOCUMENT_CHARS - 100) + "\n{ serverTime }"
        assert (await client.post("/graphql", json={"query": within})).json()["data"]["serverTime"]
