"""order_refunds.cause 'dispute_won': the money of an order voided by a dispute the box office won

Revision ID: 0022_refund_after_won_dispute
Revises: 0021_settle_after_cancel
Create Date: 2026-12-05

A chargeback voids the order's tickets at once (booking/checkout/disputes.py). When the box office
then wins the dispute, the money comes back to it, and the fan, whose tickets were voided before
the show, paid for nothing: the money is owed back to them like any refund.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0022_refund_after_won_dispute"
down_revision: str | None = "0021_settle_after_cancel"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_order_refunds_cause"), "order_refunds", type_="check")
    op.create_check_constraint(op.f("ck_order_refunds_cause"), "order_refunds",
                               "cause IN ('fan', 'organizer', 'show_cancelled', 'dispute_won')")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_order_refunds_cause"), "order_refunds", type_="check")
    op.create_check_constraint(op.f("ck_order_refunds_cause"), "order_refunds",
                               "cause IN ('fan', 'organizer', 'show_cancelled')")
