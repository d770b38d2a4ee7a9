"""Settings read once from the environment (see the contract's README)."""

from __future__ import annotations

import dataclasses
import math
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .booking.accounts.limit_policy import Backoff, LimitPolicy, RateLimit
from .booking.catalog.venue_layout import MAX_SEATS_PER_SECTION
from .client_address import Network, parse_trusted_proxies


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    # DATABASE_URL is PgBouncer in transaction mode (boxoffice/db.py: no statement caches, no
    # session settings at connection start; the role carries statement timeouts instead).
    database_pooled: bool = False
    # A streaming replica for browse reads (boxoffice/replica.py), used while its replay lag is at
    # most replica_max_lag_s (measured every replica_check_s); otherwise those reads go to the primary.
    database_replica_url: str | None = None
    replica_max_lag_s: float = 2.0
    replica_check_s: float = 0.5
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
    # Concurrent GraphQL requests per process before shedding load (0: never shed). Holds and
    # releases are group-committed, so what is in flight is what a batch is made of: 96 answered
    # a third more hold/release cycles than 32, with a shorter p99, and the flash sale met its
    # targets where 32 missed them (docs/PERFORMANCE.md, "4 Dec, 09:20–10:40 UTC").
    max_in_flight: int = 96
    # Connections each server process keeps to PostgreSQL for requests (no overflow: under a flash
    # sale an overflow pool opens and closes connections all the time). Workers x this must fit
    # PostgreSQL's max_connections beside the hub's, the simulator's and the operators' own.
    db_pool_size: int = 30
    # A request finding every slot taken waits up to shed_wait_ms, first come first served, before
    # it is shed; at most shed_queue wait per lane (boxoffice/shed_load.py).
    shed_wait_ms: float = 250.0
    shed_queue: int = 256
    # The waiting room's own slots: each request is one Redis round trip, and redis-py's pool holds
    # 100 connections per process (shared with the rate limits).
    waiting_room_in_flight: int = 64
    waiting_room_wait_ms: float = 2000.0
    # CPU time one GraphQL document's validation may take before it is refused (backstop of the
    # linear checks in boxoffice/schema/document_limits.py; a refusal is remembered per document).
    validation_budget_ms: float = 30.0
    # Largest GraphQL answer over HTTP; a larger one is refused with a typed error (a backstop: a
    # 10,000-seat map, the most one request lists, is about 2.3 MB with every seat field).
    max_response_bytes: int = 32_000_000
    # Seats one request may list (Show.seats over all its aliases). A novel selection of seat fields is
    # rendered from scratch, about 8 ms of CPU per 1,000 seats: 10,000 keeps any one request near 100 ms.
    # A stadium section is 5,000; the fan app lists a venue whole up to 6,000 and by section above.
    max_seats_per_request: int = 10_000
    # holdSeats documents the fast path can answer skip strawberry (resolvers/hold_fast_path.py).
    hold_fast_path: bool = True
    # Every query and mutation POSTed as JSON is answered from prepared documents by graphql-core,
    # not through strawberry's per-request machinery (boxoffice/fast_path.py).
    fast_path: bool = True
    # Reserved-seat holds, and releases, per group-commit statement (booking/inventory/hold_batch.py,
    # release_batch.py; 0 or 1: one statement each), and how many such statements of each a process
    # has in PostgreSQL at once.
    hold_batch: int = 64
    hold_batches: int = 2
    stripe_timeout_s: float = 10.0
    # Every abuse limit (booking/accounts/limit_policy.py), each set by a BOXOFFICE_LIMIT_* variable.
    limits: LimitPolicy = LimitPolicy()
    # Load balancers whose X-Forwarded-For hops are believed (client_address.py); none: the peer is the client.
    trusted_proxies: tuple[Network, ...] = ()
    hold_sweep_interval_s: float = 1.0
    # Waitlist (booking/waitlist/): how long a fan has to buy the seats offered to them, and how often
    # each process turns seats parked for the waitlist into offers (or back to open sale).
    waitlist_offer_s: int = 600
    waitlist_interval_s: float = 1.0
    # Refunds (booking/refunds/): how often each process advances show cancellations and retries
    # refunds Stripe has not made yet, how many refund calls it has in flight at once, and how long a
    # process owns a refund it is making before another process may retry it (longer than a Stripe
    # call with its retries; a second call would be harmless anyway: one Stripe idempotency key per order).
    refund_interval_s: float = 1.0
    refund_concurrency: int = 8
    refund_claim_s: float = 60.0
    token_ttl_s: int = 7 * 24 * 3600
    # How long a process trusts its copy of a user's role and token version (booking/accounts/sessions.py);
    # a log-out or role change reaches every process at once over the event bus, this is the backstop.
    session_cache_s: float = 5.0
    # Signed-in fans each process remembers: their verified token and their session (a waiting room's
    # crowd polling counts). Past it the oldest is forgotten and, on its next request, checked again:
    # PyJWT's decode and a share of a session read, against a dictionary lookup. Under 1 KB a fan.
    signed_in_cache: int = 100_000
    # A request body must arrive whole within this long, before it takes a load-shedding slot
    # (http_body.BodyLimit); a WebSocket must send connection_init within ws_init_timeout_s.
    body_timeout_s: float = 5.0
    ws_init_timeout_s: float = 5.0
    production: bool = False
    # The Stripe simulator's test controls (/stripe-sim/_faults, /_disputes), for tests only;
    # never on in production.
    stripe_sim_faults: bool = False
    # GraphiQL at GET /graphql (None: on in development, off in production) and introspection
    # (on everywhere: partners generate their clients from the introspected schema).
    graphiql: bool | None = None
    introspection: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def simulated_stripe(self) -> bool:
        return not self.stripe_api_key

    @property
    def graphiql_enabled(self) -> bool:
        return (not self.production) if self.graphiql is None else self.graphiql


def _persistent_secret(data_dir: Path, name: str) -> str:
    """A random secret generated once and kept under the data dir, readable by its owner only.

    Written whole to a private temporary file (created 0600 by open itself: no moment with a wider
    mode) and linked into place: link fails if the name exists, so of processes starting at once
    exactly one secret wins, and nobody ever reads a half-written file. A new data dir is 0700
    (embedded PostgreSQL may later open it to traversal: see embedded.py)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    temporary = data_dir / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(value)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:  # another process won the race: its secret is the one
            return path.read_text().strip()
    finally:
        temporary.unlink(missing_ok=True)
    return value


# BOXOFFICE_LIMIT_* variable -> LimitPolicy field; each "COUNT/SECONDS".
LIMIT_SETTINGS = {
    "BOXOFFICE_LIMIT_SIGN_UP_PER_ADDRESS": "sign_up_per_address",
    "BOXOFFICE_LIMIT_FAILED_LOG_IN_PER_ADDRESS": "failed_log_in_per_address",
    "BOXOFFICE_LIMIT_FAILED_LOG_IN_PER_EMAIL": "failed_log_in_per_email",
    "BOXOFFICE_LIMIT_HOLD_PER_USER": "hold_per_user",
    "BOXOFFICE_LIMIT_PAYMENT_PER_USER": "payment_per_user",
    "BOXOFFICE_LIMIT_TRANSFER_PER_USER": "transfer_per_user",
}


def _limits(env: dict[str, str]) -> LimitPolicy:
    """The policy with the operator's numbers; a value that is not COUNT/SECONDS refuses to start."""
    default = LimitPolicy()
    chosen: dict[str, RateLimit | Backoff] = {}
    for name, attr in LIMIT_SETTINGS.items():
        text = env.get(name, "").strip()
        if not text:
            continue
        kind = type(getattr(default, attr))
        try:
            count, _, seconds = text.partition("/")
            chosen[attr] = kind(int(count), float(seconds))
        except ValueError as err:
            example = "/".join(f"{n:g}" for n in dataclasses.astuple(getattr(default, attr)))
            raise SystemExit(f"boxoffice: {name}={text!r} is not COUNT/SECONDS such as {example} "
                             f"(the default): {err}") from None
    return dataclasses.replace(default, **chosen)  # type: ignore[arg-type]


def _number(env: dict[str, str], name: str, default: str, kind: type[int] | type[float], *,
            positive: bool = False) -> Any:
    """A numeric setting; one that is not a finite number of at least 0 (above 0 where `positive`:
    a pool of 0, a deadline of 0 s, a loop every 0 s) refuses to start with a line saying which and
    why, not a traceback."""
    text = env.get(name, "").strip() or default
    try:
        value = kind(text)
    except ValueError:
        raise SystemExit(f"boxoffice: {name}={text!r} is not {'a whole number' if kind is int else 'a number'} "
                         f"(the default is {default})") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise SystemExit(f"boxoffice: {name}={text!r} must be {'above 0' if positive else '0 or more'} "
                         f"(the default is {default})")
    return value


def _seats_per_request(env: dict[str, str]) -> int:
    """At least a section's seats: below, the biggest sections' maps could never be loaded."""
    value: int = _number(env, "BOXOFFICE_MAX_SEATS_PER_REQUEST", str(Settings.max_seats_per_request), int)
    if value < MAX_SEATS_PER_SECTION:
        raise SystemExit(f"boxoffice: BOXOFFICE_MAX_SEATS_PER_REQUEST={value} must be at least "
                         f"{MAX_SEATS_PER_SECTION} (the most seats a section has: its map is one request)")
    return value


_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _switch(env: dict[str, str], name: str, default: bool) -> bool:
    """An on/off setting: 1/true/yes/on or 0/false/no/off; anything else refuses to start (a
    mistyped "off" must not leave a switch on, nor a mistyped "on" off)."""
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in _ON or text in _OFF:
        return text in _ON
    raise SystemExit(f"boxoffice: {name}={env[name]!r} is neither on (1, true, yes, on) nor off (0, false, no, off)")


def _production(env: dict[str, str]) -> bool:
    text = env.get("BOXOFFICE_ENV", "").strip()
    if text not in ("", "development", "production"):  # "Production" started as development
        raise SystemExit(f"boxoffice: BOXOFFICE_ENV={text!r} is neither development (the default) nor production")
    return text == "production"


MIN_PRODUCTION_SECRET = 32  # characters: tokens, admission tokens and barcodes are signed with it


def production_refusal(settings: Settings) -> str | None:
    """Why `serve` must not start in production with these settings (payments aside: payments/mode.py)."""
    if settings.production and len(settings.secret) < MIN_PRODUCTION_SECRET:
        return (f"boxoffice: BOXOFFICE_SECRET has {len(settings.secret)} characters; production needs at least "
                f"{MIN_PRODUCTION_SECRET} random ones (e.g. python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'): anyone who guesses it signs in as anyone")
    return None


def _trusted_proxies(env: dict[str, str]) -> tuple[Network, ...]:
    try:
        return parse_trusted_proxies(env.get("BOXOFFICE_TRUSTED_PROXIES", ""))
    except ValueError as err:
        raise SystemExit(f"boxoffice: BOXOFFICE_TRUSTED_PROXIES: {err}") from None


def _database_url(env: dict[str, str], name: str) -> str | None:
    """A PostgreSQL URL, or none; anything else refuses to start in one line (SQLAlchemy's traceback
    said "No module named 'MySQLdb'" or "Could not parse SQLAlchemy URL")."""
    url = env.get(name, "").strip()
    if not url:
        return None
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg", "postgresql+psycopg2"):
        raise SystemExit(f"boxoffice: {name} is not a PostgreSQL URL such as "
                         "postgresql://user:password@host:5432/boxoffice")
    return url


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("BOXOFFICE_DATA_DIR", ".boxoffice")).resolve()
    secret = env.get("BOXOFFICE_SECRET") or _persistent_secret(data_dir, "secret")
    webhook_secret = env.get("STRIPE_WEBHOOK_SECRET")
    if not webhook_secret and not env.get("STRIPE_API_KEY"):
        webhook_secret = "whsec_" + _persistent_secret(data_dir, "stripe_webhook_secret")
    production, pooled = _production(env), _switch(env, "BOXOFFICE_DATABASE_POOLED", False)
    return Settings(
        database_url=_database_url(env, "DATABASE_URL"),
        database_pooled=pooled,
        database_replica_url=_database_url(env, "DATABASE_REPLICA_URL"),
        replica_max_lag_s=_number(env, "BOXOFFICE_REPLICA_MAX_LAG_S", str(Settings.replica_max_lag_s), float),
        replica_check_s=_number(env, "BOXOFFICE_REPLICA_CHECK_S", str(Settings.replica_check_s), float, positive=True),
        redis_url=env.get("REDIS_URL") or None,
        stripe_api_key=env.get("STRIPE_API_KEY") or None,
        stripe_api_base=env.get("STRIPE_API_BASE") or None,
        stripe_webhook_secret=webhook_secret,
        secret=secret,
        data_dir=data_dir,
        smtp_url=env.get("SMTP_URL") or None,
        public_url=env.get("BOXOFFICE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
        seat_delta_window_ms=_number(env, "BOXOFFICE_SEAT_DELTA_WINDOW_MS", str(Settings.seat_delta_window_ms), int),
        ws_deflate=_switch(env, "BOXOFFICE_WS_DEFLATE", False),
        query_cache_ms=_number(env, "BOXOFFICE_QUERY_CACHE_MS", str(Settings.query_cache_ms), int),
        max_in_flight=_number(env, "BOXOFFICE_MAX_IN_FLIGHT", str(Settings.max_in_flight), int),
        db_pool_size=_number(env, "BOXOFFICE_DB_POOL_SIZE", str(Settings.db_pool_size), int, positive=True),
        shed_wait_ms=_number(env, "BOXOFFICE_SHED_WAIT_MS", str(Settings.shed_wait_ms), float),
        shed_queue=_number(env, "BOXOFFICE_SHED_QUEUE", str(Settings.shed_queue), int),
        waiting_room_in_flight=_number(env, "BOXOFFICE_WAITING_ROOM_IN_FLIGHT", str(Settings.waiting_room_in_flight), int),
        waiting_room_wait_ms=_number(env, "BOXOFFICE_WAITING_ROOM_WAIT_MS", str(Settings.waiting_room_wait_ms), float),
        validation_budget_ms=_number(env, "BOXOFFICE_VALIDATION_BUDGET_MS", str(Settings.validation_budget_ms), float),
        max_response_bytes=_number(env, "BOXOFFICE_MAX_RESPONSE_BYTES", str(Settings.max_response_bytes), int),
        max_seats_per_request=_seats_per_request(env),
        hold_fast_path=_switch(env, "BOXOFFICE_HOLD_FAST_PATH", True),
        fast_path=_switch(env, "BOXOFFICE_FAST_PATH", True),
        # Behind PgBouncer the group commit gave holds a p99 of seconds (docs/PERFORMANCE.md, Scale-out).
        hold_batch=_number(env, "BOXOFFICE_HOLD_BATCH",
                           "1" if pooled else str(Settings.hold_batch), int,
                           positive=True),
        hold_batches=_number(env, "BOXOFFICE_HOLD_BATCHES", str(Settings.hold_batches), int, positive=True),
        hold_sweep_interval_s=_number(env, "BOXOFFICE_HOLD_SWEEP_INTERVAL_S", str(Settings.hold_sweep_interval_s), float,
                                      positive=True),
        waitlist_offer_s=_number(env, "BOXOFFICE_WAITLIST_OFFER_S", str(Settings.waitlist_offer_s), int, positive=True),
        waitlist_interval_s=_number(env, "BOXOFFICE_WAITLIST_INTERVAL_S", str(Settings.waitlist_interval_s), float,
                                    positive=True),
        refund_interval_s=_number(env, "BOXOFFICE_REFUND_INTERVAL_S", str(Settings.refund_interval_s), float,
                                  positive=True),
        refund_concurrency=_number(env, "BOXOFFICE_REFUND_CONCURRENCY", str(Settings.refund_concurrency), int,
                                   positive=True),
        refund_claim_s=_number(env, "BOXOFFICE_REFUND_CLAIM_S", str(Settings.refund_claim_s), float, positive=True),
        token_ttl_s=_number(env, "BOXOFFICE_TOKEN_TTL_S", str(Settings.token_ttl_s), int, positive=True),
        session_cache_s=_number(env, "BOXOFFICE_SESSION_CACHE_S", str(Settings.session_cache_s), float),
        signed_in_cache=_number(env, "BOXOFFICE_SIGNED_IN_CACHE", str(Settings.signed_in_cache), int),
        limits=_limits(env),
        trusted_proxies=_trusted_proxies(env),
        body_timeout_s=_number(env, "BOXOFFICE_BODY_TIMEOUT_S", str(Settings.body_timeout_s), float, positive=True),
        ws_init_timeout_s=_number(env, "BOXOFFICE_WS_INIT_TIMEOUT_S", str(Settings.ws_init_timeout_s), float,
                                  positive=True),
        production=production,
        stripe_sim_faults=_switch(env, "BOXOFFICE_STRIPE_SIM_FAULTS", False) and not production,
        graphiql=None if not env.get("BOXOFFICE_GRAPHIQL", "").strip() else _switch(env, "BOXOFFICE_GRAPHIQL", True),
        introspection=_switch(env, "BOXOFFICE_INTROSPECTION", True),
    )
