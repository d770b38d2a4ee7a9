"""Rate limits and failure back-off on real Redis and in process, on a simulated clock; the
one policy and its settings."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from boxoffice.booking.errors import InvalidCredentials, RateLimited
from boxoffice.booking.accounts.guards import HOLD, Guards, address_key
from boxoffice.booking.accounts.limit_policy import Backoff, LimitPolicy, RateLimit
from boxoffice.booking.accounts.rate_limits import InProcessRateLimiter, RateLimiter, RedisRateLimiter
from boxoffice.booking.waiting_room.redis_queue_store import make_redis_client
from boxoffice.config import LIMIT_SETTINGS, load_settings
from live_support import ServerProcess, free_port


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Limiters:
    """Limiters sharing one state; `new()` is another server process."""

    def __init__(self, kind: str, redis_url: str, ns: str, clock: Clock) -> None:
        self.kind, self._url, self._ns, self.clock = kind, redis_url, ns, clock
        self._clients: list[aioredis.Redis] = []
        self._limiters: list[RedisRateLimiter] = []
        self._memory = InProcessRateLimiter(clock=clock)

    def new(self) -> RateLimiter:
        if self.kind == "memory":
            return self._memory
        client = make_redis_client(self._url)
        self._clients.append(client)
        limiter = RedisRateLimiter(client, clock=self.clock, namespace=self._ns)
        self._limiters.append(limiter)
        return limiter

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def limiters(request: pytest.FixtureRequest, redis_url: str, redis_ns: str) -> AsyncIterator[Limiters]:
    lim = Limiters(request.param, redis_url, redis_ns, Clock())
    yield lim
    await lim.close()


FIVE_PER_10S = RateLimit(5, 10)


async def test_allows_within_the_limit_then_rejects_with_a_retry_hint(limiters: Limiters) -> None:
    limiter = limiters.new()
    for _ in range(5):
        assert (await limiter.take("sign_up", "10.0.0.1", FIVE_PER_10S)).allowed
    denied = await limiter.take("sign_up", "10.0.0.1", FIVE_PER_10S)
    assert not denied.allowed
    assert denied.retry_after_s == pytest.approx(2.0, abs=0.01)  # one slot refills every 10/5 s

    limiters.clock.advance(1.0)
    allowed, retry_after_s = await limiter.take("sign_up", "10.0.0.1", FIVE_PER_10S)  # unpacks too
    assert not allowed and retry_after_s == pytest.approx(1.0, abs=0.01)
    limiters.clock.advance(1.0)
    assert (await limiter.take("sign_up", "10.0.0.1", FIVE_PER_10S)).allowed
    assert not (await limiter.take("sign_up", "10.0.0.1", FIVE_PER_10S)).allowed

    limiters.clock.advance(10)  # a quiet period refills the whole burst
    results = [(await limiter.take("sign_up", "10.0.0.1", FIVE_PER_10S)).allowed for _ in range(6)]
    assert results == [True] * 5 + [False]


async def test_peek_counts_nothing_and_charge_counts_past_the_limit(limiters: Limiters) -> None:
    limiter = limiters.new()
    for _ in range(20):
        assert (await limiter.peek("log_in", "10.0.0.1", FIVE_PER_10S)).allowed
    for _ in range(7):  # failures found after a peek are counted whatever: two past the burst
        await limiter.charge("log_in", "10.0.0.1", FIVE_PER_10S)
    denied = await limiter.peek("log_in", "10.0.0.1", FIVE_PER_10S)
    assert not denied.allowed and denied.retry_after_s == pytest.approx(6.0, abs=0.01)  # paid back in waiting
    limiters.clock.advance(6.0)
    assert (await limiter.peek("log_in", "10.0.0.1", FIVE_PER_10S)).allowed


async def test_scopes_and_keys_are_independent(limiters: Limiters) -> None:
    limiter = limiters.new()
    one = RateLimit(1, 60)
    assert (await limiter.take("sign_up", "10.0.0.1", one)).allowed
    assert not (await limiter.take("sign_up", "10.0.0.1", one)).allowed
    assert (await limiter.take("sign_up", "10.0.0.2", one)).allowed
    assert (await limiter.take("log_in", "10.0.0.1", one)).allowed


async def test_processes_share_the_limit(limiters: Limiters) -> None:
    a, b = limiters.new(), limiters.new()
    decisions = await asyncio.gather(*((a if i % 2 else b).take("payment", "user-1", RateLimit(10, 60))
                                       for i in range(30)))
    assert sum(d.allowed for d in decisions) == 10


async def test_back_off_doubles_after_the_free_failures_and_a_success_clears_it(limiters: Limiters) -> None:
    a, b = limiters.new(), limiters.new()
    rule = Backoff(free=2, max_wait_s=10)
    assert [await a.failed("log_in", "pair", rule) for _ in range(2)] == [0, 0]
    assert await b.wait_s("log_in", "pair") == 0
    waits = [await (a if i % 2 else b).failed("log_in", "pair", rule) for i in range(6)]
    assert waits == [1, 2, 4, 8, 10, 10]  # doubling, capped at the longest wait
    assert await a.wait_s("log_in", "pair") == pytest.approx(10)
    limiters.clock.advance(4)
    assert await b.wait_s("log_in", "pair") == pytest.approx(6)
    assert await b.wait_s("log_in", "other pair") == 0
    await b.clear("log_in", "pair")  # a success
    assert await a.wait_s("log_in", "pair") == 0
    assert await a.failed("log_in", "pair", rule) == 0  # free failures again


async def test_back_off_is_forgotten_after_a_quiet_longest_wait(limiters: Limiters) -> None:
    limiter = limiters.new()
    rule = Backoff(free=1, max_wait_s=5)
    assert [await limiter.failed("log_in", "pair", rule) for _ in range(3)] == [0, 1, 2]
    limiters.clock.advance(2 + 5 + 0.01)
    assert await limiter.failed("log_in", "pair", rule) == 0


async def test_default_hold_limit_lets_an_honest_fan_through_and_stops_a_bot(limiters: Limiters) -> None:
    rule = LimitPolicy().hold_per_user
    assert (rule.limit, rule.period_s) == (30, 10)
    limiter = limiters.new()
    # A fan retrying a hold twice a second through a whole minute of a flash sale.
    for _ in range(120):
        assert (await limiter.take(HOLD, "fan", rule)).allowed
        limiters.clock.advance(0.5)
    # A script firing 50 a second gets its burst and then the refill rate only.
    allowed = 0
    for _ in range(500):
        allowed += (await limiter.take(HOLD, "bot", rule)).allowed
        limiters.clock.advance(0.02)
    assert 30 + 3 * 10 - 1 <= allowed <= 30 + 3 * 10 + 1


def test_rejects_a_nonsense_limit() -> None:
    for bad in [(0, 10), (5, 0), (5, float("inf"))]:
        with pytest.raises(ValueError):
            RateLimit(*bad)
    with pytest.raises(ValueError):
        Backoff(-1, 10)
    with pytest.raises(ValueError):
        Backoff(3, 0.5)


async def test_in_process_limiter_prunes_spent_keys() -> None:
    clock = Clock()
    limiter = InProcessRateLimiter(clock=clock, prune_above=10)
    for i in range(50):
        assert (await limiter.take("sign_up", f"addr-{i}", RateLimit(1, 1))).allowed
        await limiter.failed("log_in", f"addr-{i}", Backoff(0, 1))
        clock.advance(3)
    assert len(limiter._tat) <= 11 and len(limiter._failures) <= 11
    assert (await limiter.take("sign_up", "addr-49", RateLimit(1, 1))).allowed


async def test_redis_down_fails_open_fast(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0")  # redis-py's slow default retries
    limiter = RedisRateLimiter(client, timeout_s=0.25)
    try:
        started = time.monotonic()
        for _ in range(2):
            decision = await limiter.take("hold", "fan", RateLimit(1, 60))
            assert decision.allowed and decision.retry_after_s == 0
            assert (await limiter.peek("log_in", "fan", RateLimit(1, 60))).allowed
            await limiter.charge("log_in", "fan", RateLimit(1, 60))
            assert await limiter.failed("log_in", "pair", Backoff(0, 60)) == 0
            assert await limiter.wait_s("log_in", "pair") == 0
            await limiter.clear("log_in", "pair")
        assert time.monotonic() - started < 4.0
    finally:
        await client.aclose()
    said = [r.message for r in caplog.records if "rate limiter" in r.message]
    assert len(said) == 1 and said[0].endswith("allowing requests (fail open)")  # once a minute at most


async def test_a_redis_that_does_not_answer_in_time_is_said_so(caplog: pytest.LogCaptureFixture) -> None:
    """Connected, but no answer within the timeout (Redis stalled, or this process too busy to read
    it): allowed, and the log says what happened rather than that Redis is unreachable."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the connection; nobody ever reads or answers
        client = aioredis.Redis.from_url(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        limiter = RedisRateLimiter(client, timeout_s=0.25)
        try:
            assert (await limiter.take("hold", "fan", RateLimit(1, 60))).allowed
        finally:
            await client.aclose()
    assert [r.message for r in caplog.records if "rate limiter" in r.message] == [
        "rate limiter: no answer from Redis within 0.25 s, allowing requests (fail open)"]


async def test_a_redis_that_lost_the_script_gets_it_again(redis_client: aioredis.Redis, redis_ns: str) -> None:
    limiter = RedisRateLimiter(redis_client, namespace=redis_ns)
    # As after a Redis restart: the script's digest is unknown to this Redis (without flushing
    # the scripts of everyone else sharing it).
    limiter._script.sha = hashlib.sha1(uuid.uuid4().bytes).hexdigest()
    assert (await limiter.take("hold", "fan", RateLimit(1, 60))).allowed  # NOSCRIPT, then loaded
    assert not (await limiter.take("hold", "fan", RateLimit(1, 60))).allowed


async def test_concurrent_checks_share_one_redis_call_and_each_gets_its_answer(redis_client: aioredis.Redis,
                                                                                redis_ns: str) -> None:
    limiter = RedisRateLimiter(redis_client, namespace=redis_ns)
    calls = []
    run = limiter._batches._run

    async def counted(checks: list) -> list:
        calls.append(len(checks))
        return await run(checks)

    limiter._batches._run = counted
    rules = {"a": RateLimit(3, 60), "b": RateLimit(1, 60)}
    decisions = await asyncio.gather(*(limiter.take("hold", key, rules[key]) for key in "abababab"))
    assert calls == [8]
    assert [d.allowed for d in decisions] == [True, True, True, False, True, False, False, False]
    assert decisions[3].retry_after_s == pytest.approx(60, abs=0.5)


async def test_redis_keys_do_not_hold_emails_in_clear(redis_client: aioredis.Redis, redis_ns: str) -> None:
    limiter = RedisRateLimiter(redis_client, namespace=redis_ns)
    await limiter.take("log_in", "fan@example.com", RateLimit(5, 60))
    await limiter.failed("log_in_fail", "fan@example.com\n10.0.0.1", Backoff(0, 60))
    keys = [k.decode() async for k in redis_client.scan_iter(match=f"{redis_ns}:*")]
    assert len(keys) == 2 and not any("example.com" in k or "10.0.0.1" in k for k in keys)
    ttls = sorted([await redis_client.pttl(k) for k in keys])
    assert 0 < ttls[0] <= 12_100  # the rate's key lives only until its bucket is full again
    assert 60_000 < ttls[1] <= 121_100  # the back-off's: its wait, then the longest wait


# ------------------------------------------------------------------------------------------ guards


def test_an_ipv6_client_is_one_address_across_its_64() -> None:
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:203.0.113.9") == address_key("203.0.113.9") == "203.0.113.9"
    assert address_key("unknown") == "unknown"


async def test_only_a_wrong_password_counts_against_a_log_in(limiters: Limiters) -> None:
    guards = Guards(limiters.new(), LimitPolicy(failed_log_in_per_email=Backoff(1, 60)))
    for _ in range(3):  # successes never count
        async with guards.log_in_attempt("10.0.0.1", "Fan@Example.com"):
            pass
    with pytest.raises(RuntimeError):  # nor does a fault (the database down, say)
        async with guards.log_in_attempt("10.0.0.1", "fan@example.com"):
            raise RuntimeError("database down")
    for _ in range(2):  # one free failure, the second starts the back-off
        with pytest.raises(InvalidCredentials):
            async with guards.log_in_attempt("10.0.0.1", " fan@example.com "):
                raise InvalidCredentials("E-mail or password is wrong.")
    with pytest.raises(RateLimited) as refused:
        async with guards.log_in_attempt("10.0.0.1", "FAN@example.com"):
            pytest.fail("the password is not checked while backing off")
    assert refused.value.retry_after_s == pytest.approx(1, abs=0.01)
    async with guards.log_in_attempt("10.0.0.2", "fan@example.com"):  # the owner, elsewhere
        pass
    limiters.clock.advance(1)
    async with guards.log_in_attempt("10.0.0.1", "fan@example.com"):  # waited out: in, and cleared
        pass
    with pytest.raises(InvalidCredentials):
        async with guards.log_in_attempt("10.0.0.1", "fan@example.com"):
            raise InvalidCredentials("E-mail or password is wrong.")


# ------------------------------------------------------------------------------------------ settings


ENV = {"BOXOFFICE_SECRET": "s", "STRIPE_API_KEY": "sk_test_x"}


def test_every_limit_is_a_setting_with_today_s_defaults() -> None:
    policy = load_settings(ENV).limits
    assert policy == LimitPolicy()
    assert set(LIMIT_SETTINGS.values()) == set(vars(policy))
    changed = load_settings({**ENV, "BOXOFFICE_LIMIT_SIGN_UP_PER_ADDRESS": "500/60",
                             "BOXOFFICE_LIMIT_FAILED_LOG_IN_PER_EMAIL": " 3/900 "}).limits
    assert changed.sign_up_per_address == RateLimit(500, 60)
    assert changed.failed_log_in_per_email == Backoff(3, 900)
    assert changed.hold_per_user == LimitPolicy().hold_per_user


@pytest.mark.parametrize("value", ["20", "20/", "/60", "twenty/60", "0/60", "20/0", "20/-5", "20/inf", "2.5/60"])
def test_a_bad_limit_refuses_to_start_with_a_clear_message(value: str) -> None:
    with pytest.raises(SystemExit) as refused:
        load_settings({**ENV, "BOXOFFICE_LIMIT_HOLD_PER_USER": value})
    message = str(refused.value.code)
    assert "BOXOFFICE_LIMIT_HOLD_PER_USER" in message and "COUNT/SECONDS" in message and "30/10" in message


SIGN_UP = """mutation($i: SignUpInput!) { signUp(input: $i) { __typename ... on Rejected { code } } }"""
LOG_IN = """mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) {
  __typename ... on Rejected { code retryAfterSeconds } } }"""


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> ServerProcess:
    return ServerProcess(database_url, None, "limits-" + uuid.uuid4().hex, tmp_path / "data")


def test_a_limit_set_by_the_operator_takes_effect(server: ServerProcess) -> None:
    server.extra_env = {"BOXOFFICE_LIMIT_FAILED_LOG_IN_PER_ADDRESS": "2/3600"}
    server.start()
    try:
        answers = []
        for _ in range(3):  # wrong passwords for three different e-mails from one address
            variables = {"e": f"nobody-{uuid.uuid4().hex[:8]}@example.test", "p": "not-the-password"}
            body = httpx.post(f"{server.url}/graphql", json={"query": LOG_IN, "variables": variables}).json()
            answers.append(body["data"]["logIn"].get("code"))
        assert answers == ["INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "RATE_LIMITED"]
    finally:
        server.stop()


def test_a_server_with_a_bad_limit_refuses_to_start(server: ServerProcess) -> None:
    server.extra_env = {"BOXOFFICE_LIMIT_SIGN_UP_PER_ADDRESS": "lots"}
    with pytest.raises(RuntimeError) as refused:
        server.start()
    assert "BOXOFFICE_LIMIT_SIGN_UP_PER_ADDRESS='lots' is not COUNT/SECONDS such as 20/3600" in str(refused.value)


# ------------------------------------------------------------------------------------------ TLS and AUTH


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server speaking only TLS and asking for a password: its URL for redis-py."""
    folder = tmp_path_factory.mktemp("tls-redis")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    port, password = free_port(), uuid.uuid4().hex
    server = subprocess.Popen(["redis-server", "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert),
                               "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
                               "--requirepass", password, "--save", "", "--appendonly", "no", "--dir", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"rediss://:{password}@127.0.0.1:{port}/0?ssl_ca_certs={cert}"
    try:
        probe = sync_redis.Redis.from_url(url, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                probe.ping()
                break
            except sync_redis.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        probe.close()
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


async def test_limits_on_a_redis_with_tls_and_a_password(tls_redis: str) -> None:
    client = make_redis_client(tls_redis)
    limiter = RedisRateLimiter(client)
    try:
        assert (await limiter.take("sign_up", "10.0.0.1", RateLimit(1, 60))).allowed
        assert not (await limiter.take("sign_up", "10.0.0.1", RateLimit(1, 60))).allowed
        assert await limiter.failed("log_in", "pair", Backoff(0, 60)) == 1
        assert await limiter.wait_s("log_in", "pair") > 0.5
        assert len([k async for k in client.scan_iter(match="rl:*")]) == 2
    finally:
        await client.aclose()
    no_password = sync_redis.Redis.from_url(tls_redis.replace(tls_redis.split("@")[0], "rediss://"))
    with pytest.raises(sync_redis.AuthenticationError):
        no_password.ping()
    no_password.close()


def test_a_server_on_a_redis_with_tls_and_a_password(tls_redis: str, server: ServerProcess) -> None:
    server.redis_url = tls_redis
    server.extra_env = {"BOXOFFICE_LIMIT_SIGN_UP_PER_ADDRESS": "1/3600"}
    server.start()
    try:
        answers = []
        for _ in range(2):
            variables = {"i": {"email": f"tls-{uuid.uuid4().hex[:8]}@example.test",
                               "password": "a long passphrase 42", "name": "Tls"}}
            body = httpx.post(f"{server.url}/graphql", json={"query": SIGN_UP, "variables": variables}).json()
            answers.append(body["data"]["signUp"].get("code") or body["data"]["signUp"]["__typename"])
        assert answers == ["AuthPayload", "RATE_LIMITED"]
        redis = sync_redis.Redis.from_url(tls_redis)
        assert list(redis.scan_iter(match="rl:sign_up:*"))  # counted on that Redis
        redis.close()
    finally:
        server.stop()
