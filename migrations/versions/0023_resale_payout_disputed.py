"""resale_listings.refund_status 'disputed': a seller's payout Stripe refuses because the seller disputed the charge

Revision ID: 0023_resale_payout_disputed
Revises: 0022_refund_after_won_dispute
Create Date: 2026-12-05

A seller who disputes their charge with their bank gets the whole of it back, the resold ticket's
part included: the payout is no longer owed, and Stripe refuses it (charge_disputed). It stayed
'pending' and was asked again every reconciliation round, forever. 'disputed' ends it; should the box
office win the dispute, the money is back with it and the payout is 'pending' again
(booking/checkout/disputes.py).
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0023_resale_payout_disputed"
down_revision: str | None = "0022_refund_after_won_dispute"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_resale_listings_refund_status"), "resale_listings", type_="check")
    op.create_check_constraint(op.f("ck_resale_listings_refund_status"), "resale_listings",
                               "refund_status IS NULL OR refund_status IN ('pending', 'refunded', 'disputed')")


def downgrade() -> None:
    # A disputed payout was never made: pending is what it was before.
    op.execute("UPDATE resale_listings SET refund_status = 'pending' WHERE refund_status = 'disputed'")
    op.drop_constraint(op.f("ck_resale_listings_refund_status"), "resale_listings", type_="check")
    op.create_check_constraint(op.f("ck_resale_listings_refund_status"), "resale_listings",
                               "refund_status IS NULL OR refund_status IN ('pending', 'refunded')")
