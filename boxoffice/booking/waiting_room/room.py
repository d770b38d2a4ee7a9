"""The virtual waiting room: tickets, positions, promotion, admission tokens.

`WaitingRoom` is the domain API the GraphQL layer calls; it sits on a
`QueueStore` (Redis, or in-process without REDIS_URL) and signs admission
tokens with the service secret. `promoter.Promoter` drives `promote` for every
show once a second from exactly one server process.

Positions before on-sale. Fans who arrive before on-sale get their random
pre-queue place at entry, but until the on-sale moment their position is
reported as None ("not yet ordered"): later pre-queue arrivals may still land
ahead of them, and showing a number that gets worse while nobody is admitted
would only confuse. From on-sale on, positions are exact (1 is next) for as
long as nobody leaves the queue.

Re-entering returns the same ticket while it is WAITING or ADMITTED: one place
and one admission at a time per user per show. Once the admission has EXPIRED
unused, re-entering queues the fan again with a new ticket, at the back: a fan
who missed their turn (a declined card, a lost connection) can still buy, and
gains nothing over anyone who is still waiting.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from boxoffice.booking.waiting_room.admission import (
    AdmissionClaims,
    issue_admission_token,
    verify_admission_token,
)
from boxoffice.booking.waiting_room.queue_store import QueueStore, StoredTicket, admission_lapsed

DEFAULT_ADMISSION_TTL_S = 600


class QueueStatus(enum.StrEnum):
    WAITING = "WAITING"
    ADMITTED = "ADMITTED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class WaitingRoomTicket:
    ticket_id: str
    show_id: str
    user_id: str
    status: QueueStatus
    # 1 is next; None once admitted, and before on-sale for pre-queue fans.
    position: int | None
    estimated_wait_seconds: int | None
    # Set while ADMITTED: pass it to holdSeats.
    admission_token: str | None
    # Set once admitted (also when EXPIRED).
    admission_expires_at: datetime | None
    entered_at: datetime


@dataclass(frozen=True)
class ShowRoomSettings:
    """A show whose waiting room the promoter should drive."""

    show_id: str
    admit_per_minute: int
    admission_ttl_s: int = DEFAULT_ADMISSION_TTL_S
    on_sale_at: datetime | None = None
    enabled: bool = True


@dataclass(frozen=True)
class Promotion:
    show_id: str
    admitted: tuple[str, ...]  # ticket ids, in queue order
    waiting: int  # left in the queue


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:  # naive means UTC here, never the host's local time
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def estimate_wait_seconds(position: int | None, admit_per_minute: int | None) -> int | None:
    if position is None or not admit_per_minute or admit_per_minute <= 0:
        return None
    return math.ceil(position * 60 / admit_per_minute)


class WaitingRoom:
    def __init__(self, store: QueueStore, *, secret: str, clock: Callable[[], datetime]) -> None:
        if not secret:
            raise ValueError("the waiting room needs a secret to sign admission tokens")
        self._store = store
        self._secret = secret
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    async def enter(
        self,
        show_id: str,
        user_id: str,
        now: datetime | None = None,
        on_sale_at: datetime | None = None,
    ) -> WaitingRoomTicket:
        """Queues the user for the show, or returns their existing ticket.

        Raises queue_store.WaitingRoomUnavailable when the store is down:
        nobody gets in without a queue (fail closed).
        """
        now = now or self._clock()
        stored = await self._store.enter(
            str(show_id), str(user_id), to_ms(now), None if on_sale_at is None else to_ms(on_sale_at)
        )
        return self._view(stored, now)

    async def get_ticket(self, ticket_id: str, now: datetime | None = None) -> WaitingRoomTicket | None:
        stored = await self._store.ticket(str(ticket_id))
        return None if stored is None else self._view(stored, now or self._clock())

    async def ticket_for_user(
        self, show_id: str, user_id: str, now: datetime | None = None
    ) -> WaitingRoomTicket | None:
        stored = await self._store.ticket_for_user(str(show_id), str(user_id))
        return None if stored is None else self._view(stored, now or self._clock())

    async def promote(
        self,
        show_id: str,
        admit_per_minute: int,
        admission_ttl_s: int = DEFAULT_ADMISSION_TTL_S,
        now: datetime | None = None,
        *,
        on_sale_at: datetime | None = None,
    ) -> Promotion:
        """Admits the next fans the show's token bucket allows at `now`.

        Safe to call from any number of processes at once: the bucket lives in
        the store and is updated atomically, so the rate holds regardless.
        Admits nobody before `on_sale_at`.
        """
        now = now or self._clock()
        result = await self._store.admit(
            str(show_id),
            to_ms(now),
            admit_per_minute,
            admission_ttl_s * 1000,
            None if on_sale_at is None else to_ms(on_sale_at),
        )
        return Promotion(str(show_id), result.admitted, result.waiting)

    async def queue_length(self, show_id: str) -> int:
        """People waiting now (pre-queue included, admitted excluded)."""
        return await self._store.queue_length(str(show_id))

    def verify_admission(
        self, token: str | None, user_id: str, show_id: str, now: datetime | None = None
    ) -> AdmissionClaims:
        """admission.verify_admission_token with this room's secret and clock; needs no store."""
        return verify_admission_token(token, user_id, show_id, now or self._clock(), secret=self._secret)

    def _view(self, t: StoredTicket, now: datetime) -> WaitingRoomTicket:
        entered_at = from_ms(t.entered_ms)
        if t.admitted_ms is None or t.expires_ms is None:
            position = None if t.rank is None else t.rank + 1
            if t.prequeue_until_ms is not None and to_ms(now) < t.prequeue_until_ms:
                position = None  # pre-queue not ordered yet: see the module docstring
            return WaitingRoomTicket(
                ticket_id=t.ticket_id,
                show_id=t.show_id,
                user_id=t.user_id,
                status=QueueStatus.WAITING,
                position=position,
                estimated_wait_seconds=estimate_wait_seconds(position, t.admit_per_minute),
                admission_token=None,
                admission_expires_at=None,
                entered_at=entered_at,
            )
        # Whole seconds, exactly as the token's `exp` claim says.
        expires_at = datetime.fromtimestamp(t.expires_ms // 1000, UTC)
        expired = admission_lapsed(t.expires_ms, to_ms(now))  # the test of token verification and of enter
        token = None
        if not expired:
            token = issue_admission_token(
                secret=self._secret,
                user_id=t.user_id,
                show_id=t.show_id,
                ticket_id=t.ticket_id,
                issued_at=from_ms(t.admitted_ms),
                expires_at=expires_at,
            )
        return WaitingRoomTicket(
            ticket_id=t.ticket_id,
            show_id=t.show_id,
            user_id=t.user_id,
            status=QueueStatus.EXPIRED if expired else QueueStatus.ADMITTED,
            position=None,
            estimated_wait_seconds=None,
            admission_token=token,
            admission_expires_at=expires_at,
            entered_at=entered_at,
        )
