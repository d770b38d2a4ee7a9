"""Sign-up, log-in and bearer tokens (argon2 hashes, HS256 JWTs with expiry)."""

from __future__ import annotations

import re
import time
import uuid

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..db import reading
from .errors import EmailTaken, InvalidCredentials, InvalidInput
from .records import UserRecord, Viewer

ROLES = ("fan", "organizer", "admin")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_HASHER = PasswordHasher()
# Verifying against a dummy hash when the e-mail is unknown keeps log-in timing uniform.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")


def normalise_email(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidInput("That is not an e-mail address.", field="email")
    return email


def _check_password(password: str) -> None:
    if not 8 <= len(password) <= 256:
        raise InvalidInput("Passwords have 8 to 256 characters.", field="password")


def _check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("A name has 1 to 200 characters.", field="name")
    return name


async def create_user(engine: AsyncEngine, *, email: str, password: str, name: str, role: str = "fan") -> UserRecord:
    email = normalise_email(email)
    _check_password(password)
    name = _check_name(name)
    if role not in ROLES:
        raise InvalidInput(f"Role must be one of {', '.join(ROLES)}.", field="role")
    password_hash = _HASHER.hash(password)
    try:
        async with engine.begin() as conn:
            row = (await conn.execute(
                text("INSERT INTO users (email, name, password_hash, role) VALUES (:e, :n, :h, :r) RETURNING id"),
                {"e": email, "n": name, "h": password_hash, "r": role})).one()
    except IntegrityError:
        raise EmailTaken("An account with that e-mail already exists.", field="email") from None
    return UserRecord(id=row.id, email=email, name=name, role=role)


async def authenticate(engine: AsyncEngine, *, email: str, password: str) -> UserRecord:
    async with reading(engine) as conn:
        row = (await conn.execute(
            text("SELECT id, email, name, role, password_hash FROM users WHERE lower(email) = lower(:e)"),
            {"e": email.strip()})).first()
    try:
        _HASHER.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise InvalidCredentials("E-mail or password is wrong.") from None
    if row is None:
        raise InvalidCredentials("E-mail or password is wrong.")
    return UserRecord(id=row.id, email=row.email, name=row.name, role=row.role)


async def get_users(engine: AsyncEngine, ids: list[uuid.UUID]) -> dict[uuid.UUID, UserRecord]:
    async with reading(engine) as conn:
        rows = (await conn.execute(text("SELECT id, email, name, role FROM users WHERE id = ANY(:ids)"),
                                   {"ids": ids})).all()
    return {r.id: UserRecord(id=r.id, email=r.email, name=r.name, role=r.role) for r in rows}


class TokenIssuer:
    """Signs and verifies bearer tokens; only HS256 with our secret is accepted."""

    ALGORITHM = "HS256"

    def __init__(self, secret: str, ttl_s: int, cache_size: int = 10_000) -> None:
        self._secret = secret
        self._ttl_s = ttl_s
        # Verified tokens, so a fan's every request does not re-check the same signature.
        self._verified: dict[str, tuple[Viewer, int]] = {}
        self._cache_size = cache_size

    def issue(self, user: UserRecord) -> str:
        now = int(time.time())
        claims = {"sub": str(user.id), "role": user.role, "typ": "access", "iat": now, "exp": now + self._ttl_s}
        return jwt.encode(claims, self._secret, algorithm=self.ALGORITHM)

    def verify(self, token: str) -> Viewer | None:
        hit = self._verified.get(token)
        if hit is not None and hit[1] > time.time():
            return hit[0]
        viewer = self._verify(token)
        if viewer is not None:
            if len(self._verified) >= self._cache_size:
                self._verified.clear()
            self._verified[token] = (viewer, int(jwt.decode(token, options={"verify_signature": False})["exp"]))
        return viewer

    def _verify(self, token: str) -> Viewer | None:
        try:
            claims = jwt.decode(token, self._secret, algorithms=[self.ALGORITHM],
                                options={"require": ["exp", "sub"]})
            if claims.get("typ") != "access" or claims.get("role") not in ROLES:
                return None
            return Viewer(user_id=uuid.UUID(claims["sub"]), role=claims["role"])
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
