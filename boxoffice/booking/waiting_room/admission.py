"""Admission tokens: the waiting room's signed pass into the purchase flow.

A fan admitted from a show's waiting room gets a short-lived JWT (HS256) that
holdSeats checks. Verification is a pure function of the token, the secret and
the clock, so it keeps working when Redis is down.

The signing key is derived from the service secret for this one purpose, so an
auth token or a barcode signed with the same BOXOFFICE_SECRET can never pass as
an admission token (and the `typ` claim is checked as well).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

ADMISSION_TOKEN_TYPE = "admission"
_ALGORITHM = "HS256"
_KEY_CONTEXT = b"boxoffice/waiting-room/admission-token/v1"
_REQUIRED_CLAIMS = ("typ", "sub", "show", "tid", "exp")


class AdmissionRejectReason(enum.Enum):
    MISSING = "missing"
    FORGED = "forged"  # bad signature, unsigned (alg none), not an admission token, garbled
    EXPIRED = "expired"
    OTHER_USER = "other_user"
    OTHER_SHOW = "other_show"


class AdmissionRejected(Exception):
    """The token does not admit this user to this show; `reason` says why."""

    def __init__(self, reason: AdmissionRejectReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class AdmissionClaims:
    user_id: str
    show_id: str
    ticket_id: str
    issued_at: datetime
    expires_at: datetime


@functools.lru_cache(maxsize=8)  # one secret per process: derived once, not per token signed or checked
def _signing_key(secret: str) -> bytes:
    if not secret:
        raise ValueError("an admission token secret is required")
    return hmac.new(secret.encode(), _KEY_CONTEXT, hashlib.sha256).digest()


def epoch_seconds(moment: datetime) -> int:
    """Whole seconds since the epoch, rounded down: the resolution of `exp`."""
    if moment.tzinfo is None:  # treat naive datetimes as UTC rather than local time
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())


def issue_admission_token(
    *,
    secret: str,
    user_id: str,
    show_id: str,
    ticket_id: str,
    issued_at: datetime,
    expires_at: datetime,
) -> str:
    """Signs an admission token valid until `expires_at` (whole seconds, rounded down).

    Deterministic for the same inputs, so the waiting room can re-issue the
    same token on every lookup instead of storing it.
    """
    claims: dict[str, Any] = {
        "typ": ADMISSION_TOKEN_TYPE,
        "sub": str(user_id),
        "show": str(show_id),
        "tid": str(ticket_id),
        "iat": epoch_seconds(issued_at),
        "exp": epoch_seconds(expires_at),
    }
    return jwt.encode(claims, _signing_key(secret), algorithm=_ALGORITHM)


def verify_admission_token(
    token: str | None,
    user_id: str,
    show_id: str,
    now: datetime,
    *,
    secret: str,
) -> AdmissionClaims:
    """The token's claims if it admits `user_id` to `show_id` at `now`; else AdmissionRejected."""
    if not token:
        raise AdmissionRejected(AdmissionRejectReason.MISSING, "an admission token is required")
    try:
        # Only HS256 is accepted: this rejects `alg: none` and algorithm swaps.
        # Expiry is checked below against the injected clock, not PyJWT's.
        claims = jwt.decode(
            token,
            _signing_key(secret),
            algorithms=[_ALGORITHM],
            options={"verify_exp": False, "verify_iat": False, "require": list(_REQUIRED_CLAIMS)},
        )
    except jwt.PyJWTError as exc:
        raise AdmissionRejected(AdmissionRejectReason.FORGED, "the admission token is not valid") from exc
    if claims.get("typ") != ADMISSION_TOKEN_TYPE:
        raise AdmissionRejected(AdmissionRejectReason.FORGED, "not an admission token")
    try:
        expires_s = int(claims["exp"])
        issued_s = int(claims.get("iat", expires_s))
    except (TypeError, ValueError) as exc:
        raise AdmissionRejected(AdmissionRejectReason.FORGED, "the admission token is garbled") from exc
    if str(claims["sub"]) != str(user_id):
        raise AdmissionRejected(AdmissionRejectReason.OTHER_USER, "this admission token belongs to someone else")
    if str(claims["show"]) != str(show_id):
        raise AdmissionRejected(AdmissionRejectReason.OTHER_SHOW, "this admission token is for another show")
    if epoch_seconds(now) >= expires_s:
        raise AdmissionRejected(AdmissionRejectReason.EXPIRED, "the admission token has expired")
    return AdmissionClaims(
        user_id=str(claims["sub"]),
        show_id=str(claims["show"]),
        ticket_id=str(claims["tid"]),
        issued_at=datetime.fromtimestamp(issued_s, UTC),
        expires_at=datetime.fromtimestamp(expires_s, UTC),
    )
