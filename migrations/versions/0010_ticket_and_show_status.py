"""Ticket and show status: check-in state, void barcodes per barcode, cancelled shows, refund policy, resale cap

Revision ID: 0010_ticket_and_show_status
Revises: 0009_venue_time_zone
Create Date: 2026-12-02

What the door, refunds, cancellations, transfers and resale share, in one place:

- A ticket is a live row of `tickets` while it admits someone: `status` 'valid' until its first
  scan, then 'checked_in' (with `checked_in_at`), set by one conditional UPDATE so two doors can
  never both admit it. A void ticket (refunded, cancelled, disputed, resold) leaves `tickets` and its
  barcode goes on `revoked_tickets`, as since 0007: the place can be ticketed again and every
  scanner's revocation list keeps it out. That list is now keyed by barcode, because a transfer
  re-barcodes the same ticket and revokes the old barcode while the ticket lives on; it also keeps
  the place, so a void ticket can still be shown to its former owner.
- A show is 'scheduled' or 'cancelled' (when and why); fans may refund their own orders until
  `fan_refunds_until_hours_before` hours before it starts (NULL: never); resale listings may ask at
  most `resale_cap_percent` of face value (100 = face value).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_ticket_and_show_status"
down_revision = "0009_venue_time_zone"
branch_labels = None
depends_on = None

REASONS = "reason IN ('refunded', 'disputed', 'cancelled', 'transferred', 'resold')"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("status", sa.Text(), server_default="valid", nullable=False))
    op.add_column("tickets", sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(op.f("ck_tickets_status"), "tickets", "status IN ('valid', 'checked_in')")
    op.create_check_constraint(op.f("ck_tickets_checked_in_at"), "tickets", "(status = 'checked_in') = (checked_in_at IS NOT NULL)")

    op.drop_constraint(op.f("pk_revoked_tickets"), "revoked_tickets", type_="primary")
    op.drop_index("uq_revoked_tickets_barcode", table_name="revoked_tickets")
    op.create_primary_key(op.f("pk_revoked_tickets"), "revoked_tickets", ["barcode"])
    op.create_index("ix_revoked_tickets_ticket", "revoked_tickets", ["ticket_id"])
    op.create_index("ix_revoked_tickets_order", "revoked_tickets", ["order_id"])  # an order's void tickets
    op.add_column("revoked_tickets", sa.Column("place_id", sa.BigInteger(), nullable=True))
    op.add_column("revoked_tickets", sa.Column("seat_id", sa.BigInteger(), nullable=True))
    op.add_column("revoked_tickets", sa.Column("section_id", sa.UUID(), nullable=True))
    op.execute(f"ALTER TABLE revoked_tickets DROP CONSTRAINT ck_revoked_tickets_reason, "
               f"ADD CONSTRAINT ck_revoked_tickets_reason CHECK ({REASONS})")

    op.add_column("shows", sa.Column("status", sa.Text(), server_default="scheduled", nullable=False))
    op.add_column("shows", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("shows", sa.Column("cancel_reason", sa.Text(), nullable=True))
    op.add_column("shows", sa.Column("fan_refunds_until_hours_before", sa.Integer(), nullable=True))
    op.add_column("shows", sa.Column("resale_cap_percent", sa.Integer(), server_default="100", nullable=False))
    op.create_check_constraint(op.f("ck_shows_status"), "shows", "status IN ('scheduled', 'cancelled')")
    op.create_check_constraint(op.f("ck_shows_refund_window"), "shows",
                               "fan_refunds_until_hours_before IS NULL OR fan_refunds_until_hours_before BETWEEN 0 AND 8760")
    op.create_check_constraint(op.f("ck_shows_resale_cap"), "shows", "resale_cap_percent BETWEEN 1 AND 100")


def downgrade() -> None:
    for name in ("resale_cap", "refund_window", "status"):
        op.drop_constraint(op.f(f"ck_shows_{name}"), "shows", type_="check")
    for column in ("resale_cap_percent", "fan_refunds_until_hours_before", "cancel_reason", "cancelled_at", "status"):
        op.drop_column("shows", column)
    op.execute("DELETE FROM revoked_tickets WHERE reason NOT IN ('refunded', 'disputed')")
    op.execute("ALTER TABLE revoked_tickets DROP CONSTRAINT ck_revoked_tickets_reason, "
               "ADD CONSTRAINT ck_revoked_tickets_reason CHECK (reason IN ('refunded', 'disputed'))")
    for column in ("section_id", "seat_id", "place_id"):
        op.drop_column("revoked_tickets", column)
    op.drop_index("ix_revoked_tickets_order", table_name="revoked_tickets")
    op.drop_index("ix_revoked_tickets_ticket", table_name="revoked_tickets")
    op.drop_constraint(op.f("pk_revoked_tickets"), "revoked_tickets", type_="primary")
    op.create_index("uq_revoked_tickets_barcode", "revoked_tickets", ["barcode"], unique=True)
    op.create_primary_key(op.f("pk_revoked_tickets"), "revoked_tickets", ["ticket_id"])
    op.drop_constraint(op.f("ck_tickets_checked_in_at"), "tickets", type_="check")
    op.drop_constraint(op.f("ck_tickets_status"), "tickets", type_="check")
    op.drop_column("tickets", "checked_in_at")
    op.drop_column("tickets", "status")
