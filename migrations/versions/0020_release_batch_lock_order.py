"""release_fan_holds() locks all its rows first, in one order for the whole batch

Revision ID: 0020_release_batch_lock_order
Revises: 0019_outbox_relay_lease
Create Date: 2026-12-04

A batch of releases used to take each release's locks in turn: the first hold's seats, then the
second hold's. Seats are locked in key order within one release, but not across the batch, so a
batch could hold seat 10 while it waited for seat 3, and a hold batch (which locks all its seats in
key order, migration 0004) hold seat 3 while it waited for seat 10: PostgreSQL ended one of them
as a deadlock, and the server sent it again (booking/inventory/group_commit.py).

Now the batch first locks every row its releases will lock, kind by kind in the order each release
takes them (pending orders, the shows' shared locks, the holds, their seats), each kind in key
order, and only for holds that are the caller's own. The releases then find their rows locked by
their own transaction, and decide as before.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0020_release_batch_lock_order"
down_revision: str | None = "0019_outbox_relay_lease"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RELEASE_BATCH = r"""
CREATE OR REPLACE FUNCTION release_fan_holds(p_holds uuid[], p_users uuid[])
RETURNS TABLE (idx int, outcome text, id uuid, user_id uuid, show_id uuid, status text, expires_at timestamptz,
               seat_ids bigint[], ga_lines jsonb, ticket_count int, total_cents int, currency text,
               created_at timestamptz, cancelled_order uuid, freed json)
LANGUAGE plpgsql AS $$
DECLARE r record; v_own uuid[];
BEGIN
  -- The batch's holds that release_fan_hold() may release: the caller's own, active.
  SELECT array_agg(h.id ORDER BY h.id) INTO v_own
    FROM holds h JOIN unnest(p_holds, p_users) AS t(h, u) ON h.id = t.h AND h.user_id = t.u
   WHERE h.status = 'active';
  IF v_own IS NOT NULL THEN
    PERFORM 1 FROM orders o WHERE o.hold_id = ANY(v_own) AND o.status = 'pending_payment' ORDER BY o.id FOR UPDATE;
    PERFORM pg_advisory_xact_lock_shared(k) FROM (
      SELECT DISTINCT hashtextextended(h.show_id::text, 7) AS k FROM holds h WHERE h.id = ANY(v_own) ORDER BY 1) keys;
    PERFORM 1 FROM holds h WHERE h.id = ANY(v_own) ORDER BY h.id FOR NO KEY UPDATE;  -- as release_fan_hold's UPDATE
    PERFORM 1 FROM show_seats ss WHERE ss.hold_id = ANY(v_own) AND ss.status = 'H'
      ORDER BY ss.show_id, ss.id FOR UPDATE;
  END IF;
  FOR r IN SELECT t.i, t.h, t.u FROM unnest(p_holds, p_users) WITH ORDINALITY AS t(h, u, i) ORDER BY t.h, t.i LOOP
    RETURN QUERY SELECT r.i::int, f.* FROM release_fan_hold(r.h, r.u) f;
  END LOOP;
END $$;
"""

# Migration 0017's function, for a downgrade.
PREVIOUS = r"""
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
    op.execute(PREVIOUS)
