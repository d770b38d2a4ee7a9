"""Abuse limits in front of the expensive or sensitive mutations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .errors import RateLimited
from .records import Viewer

# (scope, key, limit, period_s) -> (allowed, retry_after_s)
Check = Callable[[str, str, int, float], Awaitable[tuple[bool, float]]]


@dataclass(frozen=True)
class LimitPolicy:
    """Generous enough that an honest fan retrying during a flash sale never trips them."""

    sign_up_per_address: tuple[int, float] = (20, 3600.0)
    log_in_per_address: tuple[int, float] = (60, 300.0)
    log_in_per_email: tuple[int, float] = (10, 300.0)
    hold_per_user: tuple[int, float] = (30, 10.0)
    payment_per_user: tuple[int, float] = (20, 60.0)


class Guards:
    def __init__(self, check: Check | None, policy: LimitPolicy | None = None) -> None:
        self._check = check
        self._policy = policy or LimitPolicy()

    async def _enforce(self, scope: str, key: str, rule: tuple[int, float]) -> None:
        if self._check is None:
            return
        allowed, retry_after = await self._check(scope, key, rule[0], rule[1])
        if not allowed:
            raise RateLimited(f"Too many attempts; try again in {max(1, round(retry_after))} s.",
                              retry_after_s=round(retry_after, 3))

    async def check_sign_up(self, address: str) -> None:
        await self._enforce("sign_up", address, self._policy.sign_up_per_address)

    async def check_log_in(self, address: str, email: str) -> None:
        await self._enforce("log_in_addr", address, self._policy.log_in_per_address)
        await self._enforce("log_in_email", email.strip().lower(), self._policy.log_in_per_email)

    async def check_hold(self, viewer: Viewer | None, address: str) -> None:
        if viewer is not None:
            await self._enforce("hold", str(viewer.user_id), self._policy.hold_per_user)

    async def check_payment(self, viewer: Viewer | None) -> None:
        if viewer is not None:
            await self._enforce("payment", str(viewer.user_id), self._policy.payment_per_user)
