"""payment disputes and the ticket revocation list

Revision ID: 0007_payment_disputes
Revises: 0006_auth_token_version
Create Date: 2026-12-02

A charged-back order is marked `disputed` (its tickets void), its payment keeps Stripe's dispute id
and status, and every voided ticket (refund or dispute) goes on `revoked_tickets`: a barcode's
signature never expires, so the door needs the list.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_payment_disputes"
down_revision: str | None = "0006_auth_token_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ORDER_STATUS = "status IN ('pending_payment', 'confirmed', 'cancelled', 'refunded')"
NEW_ORDER_STATUS = "status IN ('pending_payment', 'confirmed', 'cancelled', 'refunded', 'disputed')"


def upgrade() -> None:
    op.execute(f"ALTER TABLE orders DROP CONSTRAINT ck_orders_status, "
               f"ADD CONSTRAINT ck_orders_status CHECK ({NEW_ORDER_STATUS})")
    op.add_column("payments", sa.Column("dispute_id", sa.Text(), nullable=True))
    op.add_column("payments", sa.Column("dispute_status", sa.Text(), nullable=True))
    op.create_table(
        "revoked_tickets",
        sa.Column("ticket_id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("show_id", sa.UUID(), nullable=False),
        sa.Column("barcode", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("reason IN ('refunded', 'disputed')", name=op.f("ck_revoked_tickets_reason")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_revoked_tickets_order_id_orders")),
        sa.ForeignKeyConstraint(["show_id"], ["shows.id"], name=op.f("fk_revoked_tickets_show_id_shows")),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_revoked_tickets")),
    )
    op.create_index("uq_revoked_tickets_barcode", "revoked_tickets", ["barcode"], unique=True)
    op.create_index("ix_revoked_tickets_show", "revoked_tickets", ["show_id", "revoked_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_revoked_tickets_show", table_name="revoked_tickets")
    op.drop_index("uq_revoked_tickets_barcode", table_name="revoked_tickets")
    op.drop_table("revoked_tickets")
    op.drop_column("payments", "dispute_status")
    op.drop_column("payments", "dispute_id")
    op.execute("UPDATE orders SET status = 'cancelled' WHERE status = 'disputed'")
    op.execute(f"ALTER TABLE orders DROP CONSTRAINT ck_orders_status, "
               f"ADD CONSTRAINT ck_orders_status CHECK ({OLD_ORDER_STATUS})")
