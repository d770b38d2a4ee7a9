"""The client address (boxoffice/client_address.py): the socket peer, or behind the proxies of
BOXOFFICE_TRUSTED_PROXIES the right-most X-Forwarded-For hop not in them. Per-address limits
key on it, so nobody chooses their address by writing the header, through real `boxoffice
serve` processes."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from boxoffice.client_address import client_address, parse_trusted_proxies
from live_support import ServerProcess

SIGN_UP = """mutation($i: SignUpInput!) { signUp(input: $i) { __typename ... on Rejected { code } } }"""


def sign_up(server: ServerProcess, forwarded_for: str | None = None) -> str:
    """AuthPayload, or the Rejected code."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    variables = {"i": {"email": f"addr-{uuid.uuid4().hex[:10]}@example.test",
                       "password": "a long passphrase 42", "name": "Addr"}}
    response = httpx.post(f"{server.url}/graphql", json={"query": SIGN_UP, "variables": variables},
                          headers=headers, timeout=30)
    answer = response.json()["data"]["signUp"]
    return answer.get("code") or answer["__typename"]


def serving(database_url: str, tmp_path: Path, env: dict[str, str]) -> Iterator[ServerProcess]:
    server = ServerProcess(database_url, None, "addr-" + uuid.uuid4().hex, tmp_path / "data", extra_env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def untrusting(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # uvicorn's own switch, which used to make every X-Forwarded-For believed: no effect now.
    env = {"FORWARDED_ALLOW_IPS": "*", "BOXOFFICE_LIMIT_SIGN_UP_PER_ADDRESS": "3/3600"}
    yield from serving(database_url, tmp_path_factory.mktemp("untrusting"), env)


@pytest.fixture(scope="module")
def behind_proxy(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"BOXOFFICE_TRUSTED_PROXIES": "127.0.0.1/32, 10.0.0.0/8", "BOXOFFICE_LIMIT_SIGN_UP_PER_ADDRESS": "2/3600"}
    yield from serving(database_url, tmp_path_factory.mktemp("behind-proxy"), env)


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(untrusting: ServerProcess) -> None:
    # A client rotating X-Forwarded-For is still one address (127.0.0.1, the socket peer).
    answers = [sign_up(untrusting, f"203.0.113.{i}") for i in range(1, 5)]
    assert answers == ["AuthPayload"] * 3 + ["RATE_LIMITED"]
    assert sign_up(untrusting) == "RATE_LIMITED"


def test_behind_a_trusted_proxy_each_client_is_limited_by_its_own_address(behind_proxy: ServerProcess) -> None:
    alice, bob = "198.51.100.7", "198.51.100.8"
    # What the proxy forwards: whatever the client wrote, then the address it saw. Alice's
    # own inventions, left of that, change nothing.
    alice_answers = [sign_up(behind_proxy, f"192.0.2.{i}, {alice}") for i in range(1, 4)]
    assert alice_answers == ["AuthPayload", "AuthPayload", "RATE_LIMITED"]
    # Bob, behind the same proxy, has his own budget; through a second trusted proxy too.
    assert sign_up(behind_proxy, bob) == "AuthPayload"
    assert sign_up(behind_proxy, f"{bob}, 10.1.2.3") == "AuthPayload"
    assert sign_up(behind_proxy, f"{alice}, {bob}") == "RATE_LIMITED"
    # A request from the proxy itself, with no header: the proxy is the client.
    assert sign_up(behind_proxy) == "AuthPayload"


def test_a_bad_cidr_refuses_to_start(database_url: str, tmp_path: Path) -> None:
    server = ServerProcess(database_url, None, "addr-" + uuid.uuid4().hex, tmp_path / "data",
                           extra_env={"BOXOFFICE_TRUSTED_PROXIES": "10.0.0.0/8, 10.0.0.300/8"})
    with pytest.raises(RuntimeError) as refused:
        server.start()
    assert "BOXOFFICE_TRUSTED_PROXIES: '10.0.0.300/8' is not a CIDR" in str(refused.value)


# ------------------------------------------------------------------------------------------ the rule


TRUSTED = parse_trusted_proxies("10.0.0.0/8, 2001:db8:ffff::/48")


def scope(peer: str | None, *forwarded_for: str) -> dict:
    return {"client": (peer, 4711) if peer else None,
            "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded_for]}


@pytest.mark.parametrize(("peer", "forwarded_for", "client"), [
    ("203.0.113.9", ["1.2.3.4"], "203.0.113.9"),  # an untrusted peer's header is not read
    ("10.0.0.1", [], "10.0.0.1"),  # a proxy's own request
    ("10.0.0.1", ["1.2.3.4, 203.0.113.9"], "203.0.113.9"),
    ("10.0.0.1", ["1.2.3.4", "203.0.113.9, 10.9.9.9"], "203.0.113.9"),  # headers in order, trusted hops skipped
    ("10.0.0.1", ["10.2.2.2, 10.3.3.3"], "10.2.2.2"),  # all trusted: the left-most
    ("10.0.0.1", ["203.0.113.9:5123"], "203.0.113.9"),  # with a port
    ("10.0.0.1", ["[2001:db8::1]:443"], "2001:db8::1"),
    ("10.0.0.1", ["2001:db8::1, 2001:db8:ffff::2"], "2001:db8::1"),
    ("10.0.0.1", ["::ffff:203.0.113.9"], "203.0.113.9"),
    ("10.0.0.1", ["1.2.3.4, not-an-address"], "10.0.0.1"),  # junk from a proxy: what we trusted last
    (None, [], "unknown"),
])
def test_the_right_most_untrusted_hop_is_the_client(peer: str | None, forwarded_for: list[str], client: str) -> None:
    assert client_address(scope(peer, *forwarded_for), TRUSTED) == client
    assert client_address(scope(peer, *forwarded_for), ()) == (peer or "unknown")


def test_trusted_proxies_parse_once_and_name_a_bad_one() -> None:
    assert parse_trusted_proxies("") == ()
    assert parse_trusted_proxies(" 10.0.0.0/8 ,,::1") == (ipaddress.ip_network("10.0.0.0/8"),
                                                         ipaddress.ip_network("::1/128"))
    for bad in ("10.0.0.0/33", "10.0.0.1/8", "proxy.internal", "*"):
        with pytest.raises(ValueError, match="is not a CIDR"):
            parse_trusted_proxies(f"10.0.0.0/8,{bad}")
