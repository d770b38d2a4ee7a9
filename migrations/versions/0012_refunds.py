"""Refunds and show cancellation (issue 19)

Revision ID: 0012_refunds
Revises: 0011_door
Create Date: 2026-12-02

- `order_refunds`: the money owed back for a refunded order, written with the order's voiding and
  settled at Stripe afterwards (booking/refunds/).
- `show_cancellations`: a cancelled show's refund job, resumable by any process.
- Notifications of every kind of the contract's NotificationKind.
- The reserved-seat hold functions (0003, 0004, as 0005 left them) refuse holds of a cancelled show: they read the
  show's status under the show's shared lock, which cancelShow takes exclusively to cancel it, so
  no hold is made after the cancellation commits, whatever a process's show cache says. Their
  text is taken from those migrations (through 0005's) with that one check added (one primary-key
  read, no round trip), so the rest cannot drift.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = "0012_refunds"
down_revision = "0011_door"
branch_labels = None
depends_on = None

OLD_KINDS = "kind IN ('ORDER_CONFIRMED', 'PAYMENT_FAILED', 'HOLD_EXPIRED', 'ORDER_CANCELLED')"
KINDS = ("kind IN ('ORDER_CONFIRMED', 'PAYMENT_FAILED', 'HOLD_EXPIRED', 'ORDER_CANCELLED', "
         "'SHOW_CANCELLED', 'ORDER_REFUNDED', 'TICKET_TRANSFERRED', 'WAITLIST_OFFER', 'RESALE_SOLD')")
CANCELLED = "EXISTS (SELECT 1 FROM shows WHERE id = p_show AND status = 'cancelled')"


def _sibling(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _replace_once(source: str, old: str, new: str) -> str:
    assert source.count(old) == 1, f"migration 0012: {old!r} is not in the hold function once"
    return source.replace(old, new)


def _hold_functions() -> tuple[str, str, str, str]:
    """(single, batch) as 0005 left them (0003's and 0004's with 0005's sums), then with the
    cancelled-show check."""
    latest = _sibling("0005_holds_user_show_active_index")
    single = latest._function(latest.SINGLE, latest.SINGLE_SUM)
    batch = latest._function(latest.BATCH, latest.BATCH_SUM)
    checked_single = _replace_once(single, "  IF p_refused THEN\n", f"  IF p_refused OR {CANCELLED} THEN\n")
    checked_batch = _replace_once(
        batch, "  v_outcome := array_fill(NULL::text, ARRAY[v_n]);\n",
        "  v_outcome := array_fill(NULL::text, ARRAY[v_n]);\n"
        f"  IF {CANCELLED} THEN  -- cancelled: every hold of the batch is refused\n"
        "    p_refused := array_fill(true, ARRAY[v_n]);\n"
        "  END IF;\n")
    return single, batch, checked_single, checked_batch


def upgrade() -> None:
    op.create_table(
        "order_refunds",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("show_id", sa.UUID(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.UUID(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("stripe_refund_id", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name=op.f("ck_order_refunds_status")),
        sa.CheckConstraint("cause IN ('fan', 'organizer', 'show_cancelled')", name=op.f("ck_order_refunds_cause")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_order_refunds_order_id_orders")),
        sa.ForeignKeyConstraint(["show_id"], ["shows.id"], name=op.f("fk_order_refunds_show_id_shows")),
        sa.ForeignKeyConstraint(["requested_by"], ["users.id"], name=op.f("fk_order_refunds_requested_by_users")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_refunds")),
    )
    op.create_index("ix_order_refunds_due", "order_refunds", ["next_attempt_at"],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_order_refunds_show", "order_refunds", ["show_id", "status"])
    op.create_table(
        "show_cancellations",
        sa.Column("show_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), server_default="running", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('running', 'done')", name=op.f("ck_show_cancellations_status")),
        sa.ForeignKeyConstraint(["show_id"], ["shows.id"], name=op.f("fk_show_cancellations_show_id_shows")),
        sa.ForeignKeyConstraint(["requested_by"], ["users.id"],
                                name=op.f("fk_show_cancellations_requested_by_users")),
        sa.PrimaryKeyConstraint("show_id", name=op.f("pk_show_cancellations")),
    )
    op.create_index("ix_show_cancellations_running", "show_cancellations", ["show_id"],
                    postgresql_where=sa.text("status = 'running'"))
    op.execute(f"ALTER TABLE notifications DROP CONSTRAINT ck_notifications_kind, "
               f"ADD CONSTRAINT ck_notifications_kind CHECK ({KINDS})")
    _, _, single, batch = _hold_functions()
    op.execute(single)
    op.execute(batch)


def downgrade() -> None:
    single, batch, _, _ = _hold_functions()
    op.execute(single)
    op.execute(batch)
    op.execute(f"DELETE FROM notifications WHERE NOT ({OLD_KINDS})")
    op.execute(f"ALTER TABLE notifications DROP CONSTRAINT ck_notifications_kind, "
               f"ADD CONSTRAINT ck_notifications_kind CHECK ({OLD_KINDS})")
    op.drop_index("ix_show_cancellations_running", table_name="show_cancellations",
                  postgresql_where=sa.text("status = 'running'"))
    op.drop_table("show_cancellations")
    op.drop_index("ix_order_refunds_show", table_name="order_refunds")
    op.drop_index("ix_order_refunds_due", table_name="order_refunds", postgresql_where=sa.text("status = 'pending'"))
    op.drop_table("order_refunds")
