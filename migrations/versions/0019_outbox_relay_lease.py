"""outbox.relay_lease_until: the relay leases its rows instead of holding them locked across Redis

Revision ID: 0019_outbox_relay_lease
Revises: 0018_bind_settled_intent
Create Date: 2026-12-04

The relay used to lock a batch of outbox rows (FOR UPDATE SKIP LOCKED), XADD them to the
notification stream and mark them relayed, all in one transaction: a transaction held open across
a call to Redis, for up to its timeout when Redis stalls. Now one statement leases the batch (this
column, a few seconds ahead), the XADD happens outside any transaction, and a second statement
marks the rows relayed. A relay that dies in between leaves rows whose lease runs out, and the next
relay sends them again: delivery stays at-least-once, and the deliverer is idempotent on the outbox
id, as before.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_outbox_relay_lease"
down_revision: str | None = "0018_bind_settled_intent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("relay_lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "relay_lease_until")
