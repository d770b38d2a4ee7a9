"""Log-ins nobody can be locked out of (booking/accounts/guards.py `log_in_attempt`), on the default
policy through a real `boxoffice serve` on Redis: only failed log-ins count, per e-mail and
address, with back-off; a success never counts and clears the back-off.

The server trusts 127.0.0.1 as a proxy, so each test picks its clients' addresses with
X-Forwarded-For; addresses are random because Redis outlives test runs."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.booking.accounts.sign_in import create_user
from live_support import ServerProcess

pytestmark = pytest.mark.asyncio(loop_scope="session")

PASSWORD = "the right passphrase 7"
LOG_IN = """mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) {
  __typename ... on AuthPayload { token } ... on Rejected { code retryAfterSeconds } } }"""


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(database_url, "redis://127.0.0.1:6379/15", "login-" + uuid.uuid4().hex,
                            tmp_path_factory.mktemp("login"),
                            extra_env={"BOXOFFICE_TRUSTED_PROXIES": "127.0.0.1/32"})
    process.start()
    yield process
    process.stop()


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


def an_address() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


async def a_user(engine: AsyncEngine, role: str = "fan") -> str:
    email = f"login-{uuid.uuid4().hex[:10]}@example.test"
    await create_user(engine, email=email, password=PASSWORD, name="Owner", role=role)
    return email


async def log_in(client: httpx.AsyncClient, email: str, password: str, address: str) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": LOG_IN, "variables": {"e": email, "p": password}},
                                 headers={"X-Forwarded-For": address})
    body = response.json()
    assert body.get("data"), body
    answer: dict[str, Any] = body["data"]["logIn"]
    return answer


def outcome(answer: dict[str, Any]) -> str:
    return answer.get("code") or answer["__typename"]


async def test_wrong_passwords_from_elsewhere_do_not_lock_the_owner_out(client: httpx.AsyncClient,
                                                                      engine: AsyncEngine) -> None:
    email = await a_user(engine)
    attacker, owner = an_address(), an_address()
    guesses = [outcome(await log_in(client, email, f"guess number {i}", attacker)) for i in range(12)]
    # Ten free failures, the eleventh starts the attacker's back-off for this e-mail.
    assert guesses == ["INVALID_CREDENTIALS"] * 11 + ["RATE_LIMITED"]
    assert outcome(await log_in(client, email, PASSWORD, owner)) == "AuthPayload"
    assert outcome(await log_in(client, email.upper(), "guess again", attacker)) == "RATE_LIMITED"
    assert outcome(await log_in(client, email, PASSWORD, owner)) == "AuthPayload"


async def test_failures_from_one_address_back_off_longer_each_time(client: httpx.AsyncClient,
                                                                  engine: AsyncEngine) -> None:
    email, address = await a_user(engine), an_address()

    async def until_allowed(password: str) -> str:
        """Waits out the back-off (refused attempts count nothing); the first answer allowed."""
        while (answer := outcome(await log_in(client, email, password, address))) == "RATE_LIMITED":
            await asyncio.sleep(0.05)
        return answer

    for _ in range(11):  # ten free failures, then the first wait
        assert outcome(await log_in(client, email, "wrong password", address)) == "INVALID_CREDENTIALS"
    waits = []
    for _ in range(2):
        refused = await log_in(client, email, PASSWORD, address)  # even the right password waits
        assert refused["code"] == "RATE_LIMITED", refused
        waits.append(refused["retryAfterSeconds"])
        assert await until_allowed("wrong password") == "INVALID_CREDENTIALS"
    assert 0 < waits[0] <= 1 < waits[1] <= 2, waits
    # Waited out, the right password gets in and clears the failures: ten free ones again.
    assert await until_allowed(PASSWORD) == "AuthPayload"
    for _ in range(10):
        assert outcome(await log_in(client, email, "wrong password", address)) == "INVALID_CREDENTIALS"
    assert outcome(await log_in(client, email, PASSWORD, address)) == "AuthPayload"


async def test_an_organizer_logging_in_again_and_again_always_gets_in(client: httpx.AsyncClient,
                                                                     engine: AsyncEngine) -> None:
    email, address = await a_user(engine, "organizer"), an_address()
    answers = [outcome(await log_in(client, email, PASSWORD, address)) for _ in range(15)]
    assert answers == ["AuthPayload"] * 15
