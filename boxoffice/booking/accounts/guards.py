"""Abuse limits in front of the expensive or sensitive mutations (numbers: limit_policy.py)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..errors import InvalidCredentials, RateLimited
from .limit_policy import LimitPolicy, RateLimit
from .rate_limits import RateLimiter
from ..records import Viewer

# Scope names, so every caller keys the same limit the same way.
SIGN_UP = "sign_up"
FAILED_LOG_IN_ADDRESS = "log_in_fail:address"
FAILED_LOG_IN_EMAIL = "log_in_fail:email"
HOLD = "hold"
PAYMENT = "payment"
TRANSFER = "transfer"


def address_key(address: str) -> str:
    """An IPv6 client is keyed by its /64: one host or household gets a whole /64 and can pick
    any address in it."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _refuse(retry_after_s: float) -> RateLimited:
    return RateLimited(f"Too many attempts; try again in {max(1, round(retry_after_s))} s.",
                       retry_after_s=round(retry_after_s, 3))


class Guards:
    def __init__(self, limiter: RateLimiter | None, policy: LimitPolicy | None = None) -> None:
        self._limiter = limiter
        self._policy = policy or LimitPolicy()

    async def _enforce(self, scope: str, key: str, rule: RateLimit) -> None:
        if self._limiter is None:
            return
        allowed, retry_after = await self._limiter.take(scope, key, rule)
        if not allowed:
            raise _refuse(retry_after)

    async def check_sign_up(self, address: str) -> None:
        await self._enforce(SIGN_UP, address_key(address), self._policy.sign_up_per_address)

    @asynccontextmanager
    async def log_in_attempt(self, address: str, email: str) -> AsyncIterator[None]:
        """Around checking a password: refuses while this address, or this e-mail from this
        address, is backing off; counts the attempt only if the password was wrong (the body
        raised InvalidCredentials); a success clears the e-mail's failures from this address.

        Keyed by (e-mail, address) so nobody elsewhere can lock the owner out. There is no
        per-e-mail ceiling across addresses: any such ceiling is a lock-out a botnet can pull;
        guessing from many addresses is bounded per address and by the password rules."""
        limiter = self._limiter
        if limiter is None:
            yield
            return
        address = address_key(address)
        pair = f"{email.strip().lower()}\n{address}"
        wait_s, by_address = await asyncio.gather(
            limiter.wait_s(FAILED_LOG_IN_EMAIL, pair),
            limiter.peek(FAILED_LOG_IN_ADDRESS, address, self._policy.failed_log_in_per_address))
        if wait_s > 0 or not by_address.allowed:
            raise _refuse(max(wait_s, by_address.retry_after_s))
        try:
            yield
        except InvalidCredentials:
            await asyncio.gather(
                limiter.charge(FAILED_LOG_IN_ADDRESS, address, self._policy.failed_log_in_per_address),
                limiter.failed(FAILED_LOG_IN_EMAIL, pair, self._policy.failed_log_in_per_email))
            raise
        await limiter.clear(FAILED_LOG_IN_EMAIL, pair)

    async def check_hold(self, viewer: Viewer | None, address: str) -> None:
        if viewer is not None:
            await self._enforce(HOLD, str(viewer.user_id), self._policy.hold_per_user)

    async def check_payment(self, viewer: Viewer | None) -> None:
        if viewer is not None:
            await self._enforce(PAYMENT, str(viewer.user_id), self._policy.payment_per_user)

    async def check_transfer(self, viewer: Viewer | None) -> None:
        if viewer is not None:
            await self._enforce(TRANSFER, str(viewer.user_id), self._policy.transfer_per_user)
