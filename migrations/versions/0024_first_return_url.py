"""payments.first_return_url: the 3-D Secure return address the first payment attempt was sent with

Revision ID: 0024_first_return_url
Revises: 0023_resale_payout_disputed
Create Date: 2026-12-05

The order's intent is created with the fan's first card and an idempotency key; to find an intent
whose creation answer was lost, the same request is sent again, and Stripe replays it only if every
parameter is the same. The return address came from the asking process's public URL: `boxoffice
reconcile` (or a server restarted on another address) asked with another one, Stripe answered
idempotency_error, and a charged payment was never settled. It is stored with the card.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_first_return_url"
down_revision: str | None = "0023_resale_payout_disputed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("first_return_url", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("payments", "first_return_url")
