"""hold_reserved_seats_batch(): many reserved-seat holds of one show in one statement (group commit)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Each SQL statement inside hold_reserved_seats() costs executor start-up and planning whatever it
touches; per hold that was most of ~1 ms of PostgreSQL CPU. This variant does the same checks for a
batch of holds with a handful of set-based statements and one commit. The caller (booking/inventory/hold_batch.py)
puts at most one hold per user and disjoint seats into a batch, so every hold is decided on its own,
exactly as hold_reserved_seats() would decide it alone; the function refuses any other batch.
Locks: the show's shared lock, then the users' locks in ascending key order, then every seat row of
the batch in primary-key order, once (no deadlocks with each other or with single holds).
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = r"""
CREATE OR REPLACE FUNCTION hold_reserved_seats_batch(
    p_show uuid, p_seq text, p_ttl int, p_max int, p_currency text,
    p_holds uuid[], p_users uuid[], p_keys text[], p_hashes text[], p_refused boolean[],
    p_seat_owner int[], p_seat_ids bigint[])
RETURNS TABLE (idx int, outcome text, taken bigint[], hold json, claimed json)
-- Generic plans: re-planning these statements on every call cost more than running them. The
-- user's sum keeps its conditions out of WHERE so that no plan can go through ix_holds_expiry
-- (over every active hold of every user): a generic plan made while `holds` was small did.
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_n int := cardinality(p_holds);
  v_exp timestamptz := now() + make_interval(secs => p_ttl);
  v_existing json[]; v_in_use int[]; v_count int[]; v_outcome text[]; v_try int[]; v_ok int[];
  v_found int[]; v_not_seats int[]; v_owner int[]; v_taken_json json[]; v_i int; v_j int;
BEGIN
  IF (SELECT count(DISTINCT u) FROM unnest(p_users) u) <> v_n
     OR (SELECT count(DISTINCT s) FROM unnest(p_seat_ids) s) <> cardinality(p_seat_ids) THEN
    RAISE EXCEPTION 'hold_reserved_seats_batch: a user repeats or seats overlap';
  END IF;
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM pg_advisory_xact_lock_shared(hashtextextended(p_show::text, 7));
  PERFORM pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT hashtextextended(u::text || p_show::text, 11) AS k FROM unnest(p_users) u ORDER BY 1) keys;
  -- Under the users' locks: earlier holds with these keys, and what each user already has.
  SELECT array_agg(e.hold ORDER BY r.i), array_agg(e.in_use ORDER BY r.i)
    INTO v_existing, v_in_use
    FROM unnest(p_users, p_keys) WITH ORDINALITY AS r(u, k, i)
    CROSS JOIN LATERAL (SELECT
      (SELECT row_to_json(h) FROM holds h WHERE h.user_id = r.u AND h.idempotency_key = r.k) AS hold,
      (COALESCE((SELECT sum(CASE WHEN status = 'active' AND expires_at > now() THEN ticket_count END)
                   FROM holds WHERE user_id = r.u AND show_id = p_show), 0)
       + COALESCE((SELECT sum(ticket_count) FROM orders WHERE user_id = r.u AND show_id = p_show
                 AND status = 'confirmed'), 0))::int AS in_use) e;
  SELECT array_agg(c ORDER BY i) INTO v_count FROM (
    SELECT i, (SELECT count(*) FROM unnest(p_seat_owner) o WHERE o = i)::int AS c
      FROM generate_series(1, v_n) i) counts;
  v_outcome := array_fill(NULL::text, ARRAY[v_n]);
  v_try := '{}';
  FOR i IN 1 .. v_n LOOP
    IF v_existing[i] IS NOT NULL THEN v_outcome[i] := 'existing';
    ELSIF p_refused[i] THEN v_outcome[i] := 'refused';
    ELSIF v_in_use[i] + v_count[i] > p_max THEN v_outcome[i] := 'limit';
    ELSE v_try := v_try || i;
    END IF;
  END LOOP;
  -- Lock every seat of the holds still in the running, once, in key order; an expired hold counts as free.
  -- (Seat rows are found by `id = ANY(array)`: a join to unnest() was planned as a hash join over
  -- all the show's seats.)
  SELECT array_agg(l.owner ORDER BY l.owner), array_agg(l.found ORDER BY l.owner),
         array_agg(l.not_seats ORDER BY l.owner), array_agg(to_json(l.taken) ORDER BY l.owner)
    INTO v_owner, v_found, v_not_seats, v_taken_json
    FROM (SELECT p_seat_owner[array_position(p_seat_ids, q.id)] AS owner, count(*)::int AS found,
                 (count(*) FILTER (WHERE q.position IS NULL))::int AS not_seats,
                 array_agg(q.id ORDER BY q.id) FILTER (WHERE NOT (q.status = 'A'
                                                       OR (q.status = 'H' AND q.hold_expires_at <= now()))) AS taken
            FROM (SELECT ss.id, ss.position, ss.status, ss.hold_expires_at FROM show_seats ss
                   WHERE ss.show_id = p_show
                     AND ss.id = ANY(ARRAY(SELECT p_seat_ids[j] FROM generate_subscripts(p_seat_ids, 1) j
                                           WHERE p_seat_owner[j] = ANY(v_try)))
                   ORDER BY ss.id FOR UPDATE) q
           GROUP BY 1) l;
  v_ok := '{}';
  FOREACH v_i IN ARRAY v_try LOOP
    v_j := array_position(v_owner, v_i);
    IF v_j IS NULL OR v_found[v_j] <> v_count[v_i] OR v_not_seats[v_j] > 0 THEN v_outcome[v_i] := 'invalid';
    ELSIF json_typeof(v_taken_json[v_j]) = 'array' THEN v_outcome[v_i] := 'unavailable';
    ELSE v_outcome[v_i] := 'ok'; v_ok := v_ok || v_i;
    END IF;
  END LOOP;
  RETURN QUERY
  WITH u AS (
    UPDATE show_seats ss SET status = 'H', hold_id = p_holds[p_seat_owner[array_position(p_seat_ids, ss.id)]],
                             hold_expires_at = v_exp, order_id = NULL, version = nextval(p_seq::regclass)
     WHERE ss.show_id = p_show
       AND ss.id = ANY(ARRAY(SELECT p_seat_ids[j] FROM generate_subscripts(p_seat_ids, 1) j
                             WHERE p_seat_owner[j] = ANY(v_ok)))
    RETURNING p_seat_owner[array_position(p_seat_ids, ss.id)] AS owner, ss.id, ss.section_id, ss.version,
              ss.price_cents),
  claims AS (
    SELECT u.owner, json_agg(json_build_array(u.id, u.section_id, u.version, u.price_cents)) AS claimed,
           sum(u.price_cents)::int AS total
      FROM u GROUP BY u.owner),
  seats AS (
    SELECT s.owner, array_agg(s.id ORDER BY s.j) AS ids, count(*)::int AS n
      FROM unnest(p_seat_ids, p_seat_owner) WITH ORDINALITY AS s(id, owner, j)
     WHERE s.owner = ANY(v_ok) GROUP BY s.owner),
  ins AS (
    INSERT INTO holds AS h (id, user_id, show_id, expires_at, idempotency_key, request_hash, seat_ids, unit_ids,
                            ga_lines, ticket_count, total_cents, currency)
    SELECT p_holds[c.owner], p_users[c.owner], p_show, v_exp, p_keys[c.owner], p_hashes[c.owner], s.ids, '{}',
           '[]'::jsonb, s.n, c.total, p_currency
      FROM claims c JOIN seats s ON s.owner = c.owner
    RETURNING h.id, row_to_json(h) AS hold)
  SELECT r.i::int,
         v_outcome[r.i],
         CASE WHEN v_outcome[r.i] = 'unavailable'
              THEN ARRAY(SELECT json_array_elements_text(v_taken_json[array_position(v_owner, r.i::int)])::bigint)
         END,
         CASE WHEN v_outcome[r.i] = 'existing' THEN v_existing[r.i] ELSE ins.hold END,
         c.claimed
    FROM generate_series(1, v_n) AS r(i)
    LEFT JOIN ins ON ins.id = p_holds[r.i] AND v_outcome[r.i] = 'ok'
    LEFT JOIN claims c ON c.owner = r.i AND v_outcome[r.i] = 'ok';
END $$;
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS hold_reserved_seats_batch(uuid, text, int, int, text, uuid[], uuid[], "
               "text[], text[], boolean[], int[], bigint[])")
