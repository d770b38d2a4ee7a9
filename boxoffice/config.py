"""Settings read once from the environment (see the contract's README)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    redis_url: str | None = None
    stripe_api_key: str | None = None
    stripe_api_base: str | None = None
    stripe_webhook_secret: str | None = None
    secret: str = ""
    data_dir: Path = Path(".boxoffice")
    smtp_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    # Live seat maps: one delta per show per window.
    seat_delta_window_ms: int = 200
    # permessage-deflate would compress each subscriber's copy of a shared seat delta separately:
    # a third of the server's CPU under fan-out and 40 KB per socket. Off unless asked for.
    ws_deflate: bool = False
    # Anonymous read queries share answers for this long (0: off); see boxoffice/query_cache.py.
    query_cache_ms: int = 200
    # Concurrent GraphQL requests per process before shedding load (0: never shed). With holds on
    # the fast path, 32 kept p99 near 250 ms at a flash sale's load; 64 only doubled the queue.
    max_in_flight: int = 32
    # holdSeats documents the fast path can answer skip strawberry (resolvers/hold_fast_path.py).
    hold_fast_path: bool = True
    # Reserved-seat holds per group-commit statement (booking/hold_batch.py; 0 or 1: one statement
    # per hold), and how many such statements a process has in PostgreSQL at once.
    hold_batch: int = 64
    hold_batches: int = 2
    stripe_timeout_s: float = 10.0
    hold_sweep_interval_s: float = 1.0
    token_ttl_s: int = 7 * 24 * 3600
    production: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def simulated_stripe(self) -> bool:
        return not self.stripe_api_key


def _persistent_secret(data_dir: Path, name: str) -> str:
    """A random secret generated once and kept under the data dir."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("BOXOFFICE_DATA_DIR", ".boxoffice")).resolve()
    secret = env.get("BOXOFFICE_SECRET") or _persistent_secret(data_dir, "secret")
    webhook_secret = env.get("STRIPE_WEBHOOK_SECRET")
    if not webhook_secret and not env.get("STRIPE_API_KEY"):
        webhook_secret = "whsec_" + _persistent_secret(data_dir, "stripe_webhook_secret")
    return Settings(
        database_url=env.get("DATABASE_URL") or None,
        redis_url=env.get("REDIS_URL") or None,
        stripe_api_key=env.get("STRIPE_API_KEY") or None,
        stripe_api_base=env.get("STRIPE_API_BASE") or None,
        stripe_webhook_secret=webhook_secret,
        secret=secret,
        data_dir=data_dir,
        smtp_url=env.get("SMTP_URL") or None,
        public_url=env.get("BOXOFFICE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
        seat_delta_window_ms=int(env.get("BOXOFFICE_SEAT_DELTA_WINDOW_MS", "200")),
        ws_deflate=env.get("BOXOFFICE_WS_DEFLATE", "0") == "1",
        query_cache_ms=int(env.get("BOXOFFICE_QUERY_CACHE_MS", "200")),
        max_in_flight=int(env.get("BOXOFFICE_MAX_IN_FLIGHT", "32")),
        hold_fast_path=env.get("BOXOFFICE_HOLD_FAST_PATH", "1") != "0",
        hold_batch=int(env.get("BOXOFFICE_HOLD_BATCH", "64")),
        hold_batches=int(env.get("BOXOFFICE_HOLD_BATCHES", "2")),
        hold_sweep_interval_s=float(env.get("BOXOFFICE_HOLD_SWEEP_INTERVAL_S", "1.0")),
        production=env.get("BOXOFFICE_ENV", "development") == "production",
    )
