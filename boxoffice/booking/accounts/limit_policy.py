"""The one rate-limit policy: what each limit counts and its numbers (set by the operator, see config.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

# The first wait of a back-off; each further failure doubles it.
BACKOFF_FIRST_WAIT_S = 1.0


@dataclass(frozen=True)
class RateLimit:
    """`limit` calls per `period_s`: a burst of `limit`, refilled evenly."""

    limit: int
    period_s: float

    def __post_init__(self) -> None:
        if self.limit < 1 or not self.period_s > 0 or not math.isfinite(self.period_s):
            raise ValueError("a rate limit needs a count >= 1 and a positive, finite period")


@dataclass(frozen=True)
class Backoff:
    """`free` failures in a row cost nothing; each further one makes the caller wait, 1 s
    doubling per failure, at most `max_wait_s`."""

    free: int
    max_wait_s: float

    def __post_init__(self) -> None:
        if self.free < 0 or not self.max_wait_s >= BACKOFF_FIRST_WAIT_S or not math.isfinite(self.max_wait_s):
            raise ValueError(f"a back-off needs a count >= 0 and a finite longest wait >= {BACKOFF_FIRST_WAIT_S:g} s")


@dataclass(frozen=True)
class LimitPolicy:
    """Generous enough that an honest fan retrying during a flash sale never trips them.

    Per-address limits count everyone behind one address together: offices, campuses and
    mobile carriers put thousands behind one, so operators serving them raise those.
    """

    sign_up_per_address: RateLimit = RateLimit(20, 3600)
    # Failed log-ins only, whatever the e-mail: bounds password guessing from one address.
    failed_log_in_per_address: RateLimit = RateLimit(60, 300)
    # Failed log-ins for one e-mail from one address, then back-off: a guesser elsewhere
    # cannot lock the owner out, and a success clears it.
    failed_log_in_per_email: Backoff = Backoff(10, 300)
    hold_per_user: RateLimit = RateLimit(30, 10)
    payment_per_user: RateLimit = RateLimit(20, 60)
    # Each offer is a notification and an e-mail to its recipient: without a bound, offering and
    # cancelling in a loop mails anyone a ticket holder names as often as the loop runs.
    transfer_per_user: RateLimit = RateLimit(20, 3600)
