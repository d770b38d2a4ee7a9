"""Admission tokens: accepted for their fan and show until expiry, rejected otherwise. No Redis."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from boxoffice.booking.waiting_room.admission import (
    AdmissionRejected,
    AdmissionRejectReason,
    _signing_key,
    issue_admission_token,
    verify_admission_token,
)

SECRET = "admission-test-secret-" + "y" * 32
NOW = datetime(2030, 6, 1, 10, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(minutes=10)


def token(**overrides: Any) -> str:
    fields: dict[str, Any] = dict(
        secret=SECRET, user_id="fan-1", show_id="show-1", ticket_id="ticket-1", issued_at=NOW, expires_at=EXPIRES
    )
    fields.update(overrides)
    return issue_admission_token(**fields)


def rejection(tok: str | None, user_id: str = "fan-1", show_id: str = "show-1", now: datetime = NOW) -> AdmissionRejectReason:
    with pytest.raises(AdmissionRejected) as caught:
        verify_admission_token(tok, user_id, show_id, now, secret=SECRET)
    assert caught.value.message
    return caught.value.reason


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "typ": "admission",
        "sub": "fan-1",
        "show": "show-1",
        "tid": "ticket-1",
        "iat": int(NOW.timestamp()),
        "exp": int(EXPIRES.timestamp()),
    }
    base.update(overrides)
    return base


def test_valid_token_is_accepted_with_its_claims() -> None:
    c = verify_admission_token(token(), "fan-1", "show-1", NOW, secret=SECRET)
    assert (c.user_id, c.show_id, c.ticket_id) == ("fan-1", "show-1", "ticket-1")
    assert c.issued_at == NOW and c.expires_at == EXPIRES
    # Still fine the second before expiry.
    assert verify_admission_token(token(), "fan-1", "show-1", EXPIRES - timedelta(seconds=1), secret=SECRET)


def test_issuing_is_deterministic() -> None:
    assert token() == token()


@pytest.mark.parametrize("missing", [None, ""])
def test_missing_token(missing: str | None) -> None:
    assert rejection(missing) is AdmissionRejectReason.MISSING


def test_token_signed_with_another_secret_is_forged() -> None:
    assert rejection(token(secret="someone-elses-secret")) is AdmissionRejectReason.FORGED


def test_tampered_payload_is_forged() -> None:
    header, _, signature = token().split(".")
    assert rejection(f"{header}.{b64(claims(sub='fan-2'))}.{signature}", user_id="fan-2") is AdmissionRejectReason.FORGED


def test_alg_none_is_forged() -> None:
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."
    assert rejection(unsigned) is AdmissionRejectReason.FORGED
    assert rejection(jwt.encode(claims(), None, algorithm="none")) is AdmissionRejectReason.FORGED  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_other_algorithm_with_the_right_key_is_forged() -> None:
    assert rejection(jwt.encode(claims(), _signing_key(SECRET), algorithm="HS512")) is AdmissionRejectReason.FORGED


def test_other_token_types_are_forged() -> None:
    # Right key, but not an admission token.
    assert rejection(jwt.encode(claims(typ="access"), _signing_key(SECRET), algorithm="HS256")) is AdmissionRejectReason.FORGED
    # An auth-style token signed with the raw service secret: a different key by design.
    assert rejection(jwt.encode(claims(), SECRET, algorithm="HS256")) is AdmissionRejectReason.FORGED


@pytest.mark.parametrize("dropped", ["typ", "sub", "show", "tid", "exp"])
def test_missing_claims_are_forged(dropped: str) -> None:
    c = claims()
    del c[dropped]
    assert rejection(jwt.encode(c, _signing_key(SECRET), algorithm="HS256")) is AdmissionRejectReason.FORGED


@pytest.mark.parametrize("garbage", ["x", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9.e30"])
def test_garbage_is_forged(garbage: str) -> None:
    assert rejection(garbage) is AdmissionRejectReason.FORGED


def test_expired_token() -> None:
    assert rejection(token(), now=EXPIRES) is AdmissionRejectReason.EXPIRED
    assert rejection(token(), now=EXPIRES + timedelta(days=1)) is AdmissionRejectReason.EXPIRED


def test_other_users_token() -> None:
    assert rejection(token(), user_id="fan-2") is AdmissionRejectReason.OTHER_USER


def test_other_shows_token() -> None:
    assert rejection(token(), show_id="show-2") is AdmissionRejectReason.OTHER_SHOW


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        token(secret="")
