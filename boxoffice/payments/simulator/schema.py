"""The simulator's own PostgreSQL schema, created idempotently at start-up.

Deliberately outside the app's alembic migrations: it is test-mode plumbing that
every server process creates for itself if missing.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

SCHEMA = "stripe_sim"

_DDL = [
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.payment_intents (
        id text PRIMARY KEY,
        amount bigint NOT NULL,
        currency text NOT NULL,
        status text NOT NULL,
        client_secret text NOT NULL,
        created bigint NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{{}}',
        description text,
        payment_method text,
        latest_charge text,
        amount_received bigint NOT NULL DEFAULT 0,
        amount_refunded bigint NOT NULL DEFAULT 0,
        last_payment_error jsonb,
        next_action jsonb,
        return_url text,
        cancellation_reason text,
        canceled_at bigint,
        succeeded_at bigint)""",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.refunds (
        id text PRIMARY KEY,
        payment_intent text NOT NULL REFERENCES {SCHEMA}.payment_intents (id),
        charge text NOT NULL,
        amount bigint NOT NULL,
        currency text NOT NULL,
        status text NOT NULL,
        created bigint NOT NULL,
        reason text,
        metadata jsonb NOT NULL DEFAULT '{{}}')""",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.disputes (
        id text PRIMARY KEY,
        payment_intent text NOT NULL REFERENCES {SCHEMA}.payment_intents (id),
        charge text NOT NULL,
        amount bigint NOT NULL,
        currency text NOT NULL,
        status text NOT NULL,
        reason text NOT NULL,
        created bigint NOT NULL)""",
    f"CREATE INDEX IF NOT EXISTS disputes_charge ON {SCHEMA}.disputes (charge)",
    f"CREATE INDEX IF NOT EXISTS payment_intents_charge ON {SCHEMA}.payment_intents (latest_charge)",
    # Keyed per API key (hashed: no secrets at rest), as Stripe scopes keys.
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.idempotency_keys (
        api_key_hash text NOT NULL,
        idempotency_key text NOT NULL,
        fingerprint text NOT NULL,
        status_code integer,
        body text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (api_key_hash, idempotency_key))""",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.events (
        id text PRIMARY KEY,
        type text NOT NULL,
        created bigint NOT NULL,
        object_id text,
        payload text NOT NULL)""",
    f"CREATE SEQUENCE IF NOT EXISTS {SCHEMA}.delivery_seq",
    # status: held (reorder switch) -> pending -> delivered. seq orders delivery;
    # a reordered batch is released with negated seq so it goes out newest first.
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.webhook_deliveries (
        id bigserial PRIMARY KEY,
        event_id text NOT NULL REFERENCES {SCHEMA}.events (id),
        url text NOT NULL,
        group_key text,
        status text NOT NULL DEFAULT 'pending',
        seq bigint NOT NULL DEFAULT nextval('{SCHEMA}.delivery_seq'),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        last_status integer,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp())""",
    # Each endpoint's worker claims its own due rows (outbox.claim_due).
    f"DROP INDEX IF EXISTS {SCHEMA}.webhook_deliveries_due",
    f"""CREATE INDEX IF NOT EXISTS webhook_deliveries_due_per_endpoint
        ON {SCHEMA}.webhook_deliveries (url, next_attempt_at, seq) WHERE status = 'pending'""",
    f"""CREATE INDEX IF NOT EXISTS webhook_deliveries_held
        ON {SCHEMA}.webhook_deliveries (created_at) WHERE status = 'held'""",
    f"CREATE INDEX IF NOT EXISTS webhook_deliveries_event ON {SCHEMA}.webhook_deliveries (event_id)",
    # One row: switches every process reads, so a test flips them for all of them.
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.faults (
        id integer PRIMARY KEY CHECK (id = 1),
        latency_ms integer NOT NULL DEFAULT 0,
        fail_next integer NOT NULL DEFAULT 0,
        fail_after_next integer NOT NULL DEFAULT 0,
        timeout_next integer NOT NULL DEFAULT 0,
        hang_ms integer NOT NULL DEFAULT 30000,
        duplicate_webhooks boolean NOT NULL DEFAULT false,
        reorder_webhooks boolean NOT NULL DEFAULT false,
        reorder_window_ms integer NOT NULL DEFAULT 1000)""",
    f"INSERT INTO {SCHEMA}.faults (id) VALUES (1) ON CONFLICT DO NOTHING",
]


# Every relation the DDL creates, schema-qualified.
_RELATIONS = [name if "." in name else f"{SCHEMA}.{name}"
              for statement in _DDL if not statement.startswith("CREATE SCHEMA")
              for name in re.findall(r"IF NOT EXISTS (\S+)", statement)]


async def ensure_schema(engine: AsyncEngine) -> None:
    # CREATE INDEX IF NOT EXISTS still takes its table's SHARE lock, which waits behind a running
    # server's webhook writes (a CLI starting beside a busy server timed out there): when every
    # relation exists, take no lock at all.
    async with engine.connect() as conn:
        missing = (await conn.execute(text("SELECT count(*) FROM unnest(CAST(:names AS text[])) AS n "
                                           "WHERE to_regclass(n) IS NULL"), {"names": _RELATIONS})).scalar()
    if missing == 0:
        return
    async with engine.begin() as conn:
        # Several processes start at once; IF NOT EXISTS alone races on the catalogs.
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('stripe_sim.schema'))"))
        for statement in _DDL:
            await conn.execute(text(statement))
