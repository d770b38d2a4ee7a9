"""hold_reserved_seats(): a reserved-seat hold in one statement

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

The whole hold (locks, idempotency, limit, all-or-nothing claim, hold row) runs inside
PostgreSQL, so row locks on hot seats are held for microseconds, not for as long as a busy
server process takes between round trips.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = r"""
CREATE OR REPLACE FUNCTION hold_reserved_seats(
    p_hold uuid, p_user uuid, p_show uuid, p_ids bigint[], p_key text, p_hash text, p_ttl int, p_max int,
    p_seq text, p_currency text, p_refused boolean)
RETURNS TABLE (outcome text, taken bigint[], hold json, claimed json)
LANGUAGE plpgsql AS $$
DECLARE
  v_n int := cardinality(p_ids);
  v_found int; v_not_seats int; v_taken bigint[]; v_in_use int; v_exp timestamptz; v_hold json; v_claimed json;
BEGIN
  -- A hold lost in a crash only expires early: not worth an fsync per hold.
  PERFORM set_config('synchronous_commit', 'off', true);
  -- The same keys as booking/inventory/seatmap.py (version barrier) and booking/inventory/holds.py (per-user lock).
  PERFORM pg_advisory_xact_lock_shared(hashtextextended(p_show::text, 7));
  PERFORM pg_advisory_xact_lock(hashtextextended(p_user::text || p_show::text, 11));
  SELECT row_to_json(h) INTO v_hold FROM holds h WHERE h.user_id = p_user AND h.idempotency_key = p_key;
  IF v_hold IS NOT NULL THEN
    RETURN QUERY SELECT 'existing', NULL::bigint[], v_hold, NULL::json; RETURN;
  END IF;
  IF p_refused THEN
    RETURN QUERY SELECT 'refused', NULL::bigint[], NULL::json, NULL::json; RETURN;
  END IF;
  SELECT COALESCE((SELECT sum(ticket_count) FROM holds WHERE user_id = p_user AND show_id = p_show
                   AND status = 'active' AND expires_at > now()), 0)
       + COALESCE((SELECT sum(ticket_count) FROM orders WHERE user_id = p_user AND show_id = p_show
                   AND status = 'confirmed'), 0) INTO v_in_use;
  IF v_in_use + v_n > p_max THEN
    RETURN QUERY SELECT 'limit', NULL::bigint[], NULL::json, NULL::json; RETURN;
  END IF;
  -- Lock in key order (no deadlocks between overlapping holds); an expired hold counts as free.
  SELECT count(*), count(*) FILTER (WHERE l.position IS NULL),
         array_agg(l.id ORDER BY l.id) FILTER (WHERE NOT (l.status = 'A'
                                               OR (l.status = 'H' AND l.hold_expires_at <= now())))
    INTO v_found, v_not_seats, v_taken
    FROM (SELECT ss.id, ss.position, ss.status, ss.hold_expires_at FROM show_seats ss
          WHERE ss.show_id = p_show AND ss.id = ANY(p_ids) ORDER BY ss.id FOR UPDATE) l;
  IF v_found <> v_n OR v_not_seats > 0 THEN
    RETURN QUERY SELECT 'invalid', NULL::bigint[], NULL::json, NULL::json; RETURN;
  END IF;
  IF v_taken IS NOT NULL THEN
    RETURN QUERY SELECT 'unavailable', v_taken, NULL::json, NULL::json; RETURN;
  END IF;
  v_exp := now() + make_interval(secs => p_ttl);
  WITH u AS (UPDATE show_seats SET status = 'H', hold_id = p_hold, hold_expires_at = v_exp, order_id = NULL,
                    version = nextval(p_seq::regclass)
             WHERE show_id = p_show AND id = ANY(p_ids) RETURNING id, section_id, version, price_cents)
  SELECT json_agg(json_build_array(u.id, u.section_id, u.version, u.price_cents)) INTO v_claimed FROM u;
  INSERT INTO holds AS h (id, user_id, show_id, expires_at, idempotency_key, request_hash, seat_ids, unit_ids,
                          ga_lines, ticket_count, total_cents, currency)
  VALUES (p_hold, p_user, p_show, v_exp, p_key, p_hash, p_ids, '{}', '[]'::jsonb, v_n,
          (SELECT sum((c->>3)::int) FROM json_array_elements(v_claimed) AS c), p_currency)
  RETURNING row_to_json(h) INTO v_hold;
  RETURN QUERY SELECT 'ok', NULL::bigint[], v_hold, v_claimed;
END $$;
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS hold_reserved_seats(uuid, uuid, uuid, bigint[], text, text, int, int, "
               "text, text, boolean)")
