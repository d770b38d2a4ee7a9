"""The client's address: the socket peer, or behind trusted proxies the right-most
X-Forwarded-For hop that is not one of them (BOXOFFICE_TRUSTED_PROXIES).

Each proxy appends the address it received the request from, so only hops added by proxies
we trust can be believed; everything to the left of the first untrusted hop was written by
whoever that hop is. uvicorn's own proxy-header handling is off (`boxoffice serve`), so this
is the only place that reads the header.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN = "unknown"


def parse_trusted_proxies(text: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (a bare address is one host); ValueError naming the bad one."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError as err:
            raise ValueError(f"{item!r} is not a CIDR such as 10.0.0.0/8 ({err})") from None
    return tuple(networks)


@functools.lru_cache(maxsize=4096)  # a pure function, on every request: a client's address is parsed once
def _ip(text: str) -> Address | None:
    """An address as proxies write it: bare, "[v6]", "[v6]:port" or "v4:port"."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip


def _trusted(ip: Address, trusted: Iterable[Network]) -> bool:
    return any(ip.version == net.version and ip in net for net in trusted)


def client_address(scope: Mapping[str, Any], trusted: tuple[Network, ...]) -> str:
    """The client address of an ASGI connection (HTTP or WebSocket)."""
    peer = scope.get("client")
    host = peer[0] if peer else None
    if not host:
        return UNKNOWN
    peer_ip = _ip(host)
    if not trusted or peer_ip is None or not _trusted(peer_ip, trusted):
        return str(peer_ip) if peer_ip is not None else host
    hops = [hop for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"
            for hop in value.decode("latin-1").split(",") if hop.strip()]
    client = peer_ip
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:  # not an address: the hop we trusted last is the best we know
            break
        client = ip
        if not _trusted(ip, trusted):
            break
    return str(client)
