"""The card and key of an order's first payment attempt, kept so that its intent can be found again

Revision ID: 0016_first_payment_method
Revises: 0015_one_settlement
Create Date: 2026-12-02

confirmPayment now creates and confirms an order's PaymentIntent in one call to Stripe (the card and
confirm=true in the creation, under the order's creation key) instead of two. Stripe holds a key to
the parameters first sent with it, so whoever must find that intent again without its answer
(reconciliation, or the fan paying again) has to be able to repeat them exactly, the card included:
`payments.first_payment_method` is written, once, before that call (booking/checkout/intent_creation.py).
With it, `first_payment_key`, the fan's idempotency key of that attempt, which Stripe never sees: the
same key again is that attempt again (its answer replayed), with another card IDEMPOTENCY_CONFLICT.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_first_payment_method"
down_revision: str | None = "0015_one_settlement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("first_payment_method", sa.Text(), nullable=True))
    op.add_column("payments", sa.Column("first_payment_key", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("payments", "first_payment_key")
    op.drop_column("payments", "first_payment_method")
