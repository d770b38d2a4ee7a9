"""Door staff and check-in (issue 19)

The people an organizer lets scan tickets at one show's doors. Check-in itself needs no table of its
own: a ticket's `status`/`checked_in_at` (0010) are set by one conditional UPDATE, and the sales
report reads its figures from show_seats, orders and tickets (never a second bookkeeping).

Revision ID: 0011_door
Revises: 0010_ticket_and_show_status
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_door"
down_revision = "0010_ticket_and_show_status"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "door_staff",
        sa.Column("show_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("added_by", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["show_id"], ["shows.id"], name=op.f("fk_door_staff_show_id_shows")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_door_staff_user_id_users")),
        sa.ForeignKeyConstraint(["added_by"], ["users.id"], name=op.f("fk_door_staff_added_by_users")),
        sa.PrimaryKeyConstraint("show_id", "user_id", name=op.f("pk_door_staff")),
    )
    # The sales report, its timeline and the CSV export read a show's confirmed orders by time.
    op.create_index("ix_orders_show_confirmed", "orders", ["show_id", "confirmed_at"],
                    postgresql_where=sa.text("confirmed_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_orders_show_confirmed", table_name="orders")
    op.drop_table("door_staff")
