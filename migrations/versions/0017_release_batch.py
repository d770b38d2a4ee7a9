"""release_fan_holds(): concurrent releases share one call and one commit

Revision ID: 0017_release_batch
Revises: 0016_first_payment_method
Create Date: 2026-12-03

Under a sale fans release holds as often as they place them, and a release's cost in PostgreSQL and
in the server is mostly per statement (a round trip, executor start-up, a commit), not per seat.
booking/inventory/release_batch.py gathers the releases that arrive while its earlier calls are in
PostgreSQL and sends them as one call of this function, as hold_batch.py does for holds.

Each release is release_fan_hold() itself (migration 0008), so its decisions and its lock order
(pending order row, the show's shared lock, the hold, its seats in key order) are unchanged. The
batch takes them hold after hold in hold-id order: two batches that share holds lock them in the
same order, and a batch holds no lock another release or a settlement takes before one the batch
still waits for. The batcher never puts one hold in a batch twice.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017_release_batch"
down_revision: str | None = "0016_first_payment_method"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RELEASE_BATCH = r"""
CREATE OR REPLACE FUNCTION release_fan_holds(p_holds uuid[], p_users uuid[])
RETURNS TABLE (idx int, outcome text, id uuid, user_id uuid, show_id uuid, status text, expires_at timestamptz,
               seat_ids bigint[], ga_lines jsonb, ticket_count int, total_cents int, currency text,
               created_at timestamptz, cancelled_order uuid, freed json)
LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT t.i, t.h, t.u FROM unnest(p_holds, p_users) WITH ORDINALITY AS t(h, u, i) ORDER BY t.h, t.i LOOP
    RETURN QUERY SELECT r.i::int, f.* FROM release_fan_hold(r.h, r.u) f;
  END LOOP;
END $$;
"""


def upgrade() -> None:
    op.execute(RELEASE_BATCH)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS release_fan_holds(uuid[], uuid[])")
