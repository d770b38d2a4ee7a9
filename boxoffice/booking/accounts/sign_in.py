"""Sign-up, log-in, role and password changes, and bearer tokens (argon2 hashes, HS256 JWTs with
expiry and the user's token version: see booking/accounts/sessions.py for what makes a token still good)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ...db import reading
from ..display_text import display_name, unreadable
from ..errors import EmailTaken, InvalidCredentials, InvalidInput, NotFound
from .email_address import email_address, normalized_or_as_typed
from .passwords import check_password
from ..records import UserRecord

ROLES = ("fan", "organizer", "admin")
_HASHER = PasswordHasher()
# Verifying against a dummy hash when the e-mail is unknown keeps log-in timing uniform.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")


def normalise_email(email: str) -> str:
    return email_address(email)


def _check_name(name: str) -> str:
    name = display_name(name)
    if not 1 <= len(name) <= 200:
        raise InvalidInput("A name has 1 to 200 characters.", field="name")
    if problem := unreadable(name):  # shown to door staff, organizers' reports, transfer offers
        raise InvalidInput(f"A name {problem}", field="name")
    return name


async def create_user(engine: AsyncEngine, *, email: str, password: str, name: str, role: str = "fan") -> UserRecord:
    email = normalise_email(email)
    check_password(password, email=email)
    name = _check_name(name)
    _check_role(role)
    password_hash = _HASHER.hash(password)
    try:
        async with engine.begin() as conn:
            row = (await conn.execute(
                text("INSERT INTO users (email, name, password_hash, role) VALUES (:e, :n, :h, :r) RETURNING id"),
                {"e": email, "n": name, "h": password_hash, "r": role})).one()
    except IntegrityError:
        raise EmailTaken("An account with that e-mail already exists.", field="email") from None
    return UserRecord(id=row.id, email=email, name=name, role=role)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"Role must be one of {', '.join(ROLES)}.", field="role")


def _user(row: Any) -> UserRecord:
    return UserRecord(id=row.id, email=row.email, name=row.name, role=row.role, token_version=row.token_version)


async def authenticate(engine: AsyncEngine, *, email: str, password: str) -> UserRecord:
    async with reading(engine) as conn:
        row = (await conn.execute(
            text("SELECT id, email, name, role, token_version, password_hash FROM users "
                 "WHERE lower(email) IN (lower(:e), lower(:n)) ORDER BY lower(email) = lower(:e) DESC LIMIT 1"),
            {"e": email.strip(), "n": normalized_or_as_typed(email)})).first()
    try:
        _HASHER.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise InvalidCredentials("E-mail or password is wrong.") from None
    if row is None:
        raise InvalidCredentials("E-mail or password is wrong.")
    return _user(row)


async def get_users(engine: AsyncEngine, ids: list[uuid.UUID]) -> dict[uuid.UUID, UserRecord]:
    async with reading(engine) as conn:
        rows = (await conn.execute(text("SELECT id, email, name, role, token_version FROM users WHERE id = ANY(:ids)"),
                                   {"ids": ids})).all()
    return {r.id: _user(r) for r in rows}


# Each of these ends every token issued so far: one statement that changes the user and bumps the
# version, so no token can be issued between the change and the bump with the old state.
async def end_sessions(engine: AsyncEngine, user_id: uuid.UUID) -> int:
    """Log-out: the user's new token version (tokens of older versions are refused)."""
    async with engine.begin() as conn:
        version = (await conn.execute(
            text("UPDATE users SET token_version = token_version + 1 WHERE id = :id RETURNING token_version"),
            {"id": user_id})).scalar()
    if version is None:
        raise NotFound("No such user.")
    return int(version)


async def change_role(engine: AsyncEngine, *, email: str, role: str) -> UserRecord:
    """An operator's role change (`boxoffice set-role`); tokens issued before it stop working."""
    _check_role(role)
    async with engine.begin() as conn:
        row = (await conn.execute(
            text("UPDATE users SET role = :r, token_version = token_version + 1 WHERE lower(email) = lower(:e) "
                 "RETURNING id, email, name, role, token_version"), {"r": role, "e": email.strip()})).first()
    if row is None:
        raise NotFound("No account has that e-mail address.", field="email")
    return _user(row)


async def change_password(engine: AsyncEngine, *, email: str, password: str) -> UserRecord:
    """A new password (`boxoffice set-password`); tokens issued before it stop working."""
    check_password(password, email=email)
    password_hash = _HASHER.hash(password)
    async with engine.begin() as conn:
        row = (await conn.execute(
            text("UPDATE users SET password_hash = :h, token_version = token_version + 1 "
                 "WHERE lower(email) = lower(:e) RETURNING id, email, name, role, token_version"),
            {"h": password_hash, "e": email.strip()})).first()
    if row is None:
        raise NotFound("No account has that e-mail address.", field="email")
    return _user(row)


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a correctly signed, unexpired access token says; whether it still holds is the
    database's call (booking/accounts/sessions.py)."""

    user_id: uuid.UUID
    version: int
    expires_at: int  # Unix time


class TokenIssuer:
    """Signs and verifies bearer tokens; only HS256 with our secret is accepted."""

    ALGORITHM = "HS256"

    def __init__(self, secret: str, ttl_s: int, cache_size: int = 0) -> None:
        """cache_size: verified tokens remembered (the server's BOXOFFICE_SIGNED_IN_CACHE; 0, for tools
        that only issue tokens: none)."""
        self._secret = secret
        self._ttl_s = ttl_s
        # Verified tokens, so a fan's every request does not re-check the same signature (PyJWT's
        # decode costs a few hundred times a lookup). Full, it forgets the oldest one at a time:
        # clearing it whole made every signed-in fan's next request check its token again at once.
        self._verified: dict[str, TokenClaims] = {}
        self._cache_size = cache_size

    def issue(self, user: UserRecord) -> str:
        now = int(time.time())
        # The role is there for clients to read; the server takes the role from the database.
        claims = {"sub": str(user.id), "role": user.role, "ver": user.token_version, "typ": "access",
                  "iat": now, "exp": now + self._ttl_s}
        return jwt.encode(claims, self._secret, algorithm=self.ALGORITHM)

    def verify(self, token: str) -> TokenClaims | None:
        hit = self._verified.get(token)
        if hit is not None:
            return hit if hit.expires_at > time.time() else None
        claims = self._verify(token)
        if claims is not None and self._cache_size > 0:
            if len(self._verified) >= self._cache_size:
                del self._verified[next(iter(self._verified))]  # the oldest: dicts keep insertion order
            self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> TokenClaims | None:
        try:
            claims = jwt.decode(token, self._secret, algorithms=[self.ALGORITHM],
                                options={"require": ["exp", "sub"]})
            version = claims.get("ver", 0)  # tokens from before token versions are version 0
            if claims.get("typ") != "access" or type(version) is not int:
                return None
            return TokenClaims(user_id=uuid.UUID(claims["sub"]), version=version, expires_at=int(claims["exp"]))
        except (jwt.PyJWTError, ValueError, TypeError, AttributeError):
            return None
