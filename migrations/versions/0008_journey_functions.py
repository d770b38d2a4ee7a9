"""release_fan_hold(), create_order_for_hold(), settle_paid_intent(): a journey step in one call

Revision ID: 0008_journey_functions
Revises: 0007_payment_disputes
Create Date: 2026-12-02

Each of releaseHold, createOrder and a payment's settlement took 4 to 12 round trips (BEGIN, one
statement per check or change, COMMIT), with the order, hold and seat rows locked across them. Each
is now one call, so its row locks last as long as PostgreSQL takes, not as long as a busy server
process takes between round trips. The decisions and the lock order are those of the Python code
they replace (booking/inventory/hold_release.py, booking/checkout/orders.py, booking/checkout/payments.py):

- a release locks the hold's pending order row first, then the show's shared lock, the hold, and
  the seat rows in primary-key order;
- a settlement locks the order row first, then the show's shared lock, the seat rows in key order,
  then the hold (binding an intent by its signed order id locks the order row before the payment's).

Ticket barcodes are signed in Python (the key never reaches SQL): the caller passes the ticket ids
and signed barcodes for the order's show and ticket count; if it guessed them wrong (a webhook that
does not know the order yet), nothing changes and the call answers 'tickets' with both, to sign and
call again.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008_journey_functions"
down_revision: str | None = "0007_payment_disputes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The hold's seats still held by it back on sale, locked in key order first (as seatmap.move_seats).
FREE_HOLD_SEATS = r"""
CREATE OR REPLACE FUNCTION free_hold_seats(p_show uuid, p_hold uuid) RETURNS json
LANGUAGE sql AS $$
  WITH locked AS (SELECT ss.id FROM show_seats ss WHERE ss.show_id = p_show AND ss.hold_id = p_hold
                   AND ss.status = 'H' ORDER BY ss.id FOR UPDATE),
  moved AS (UPDATE show_seats ss SET status = 'A', hold_id = NULL, hold_expires_at = NULL,
                   version = nextval(CAST(sh.version_sequence AS regclass))
              FROM shows sh, locked l
             WHERE sh.id = p_show AND ss.show_id = p_show AND ss.id = l.id AND ss.hold_id = p_hold AND ss.status = 'H'
            RETURNING ss.id, ss.section_id, ss.version, ss.position IS NULL AS ga)
  SELECT COALESCE(json_agg(json_build_array(m.id, m.section_id, m.version, m.ga)), '[]') FROM moved m
$$;
"""

RELEASE = r"""
CREATE OR REPLACE FUNCTION release_fan_hold(p_hold uuid, p_user uuid)
RETURNS TABLE (outcome text, id uuid, user_id uuid, show_id uuid, status text, expires_at timestamptz,
               seat_ids bigint[], ga_lines jsonb, ticket_count int, total_cents int, currency text,
               created_at timestamptz, cancelled_order uuid, freed json)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_hold holds%ROWTYPE; v_order uuid; v_freed json := '[]';
BEGIN
  SELECT * INTO v_hold FROM holds h WHERE h.id = p_hold;
  IF NOT FOUND OR v_hold.user_id <> p_user THEN
    RETURN QUERY SELECT 'not_found', NULL::uuid, NULL::uuid, NULL::uuid, NULL::text, NULL::timestamptz,
                        NULL::bigint[], NULL::jsonb, NULL::int, NULL::int, NULL::text, NULL::timestamptz,
                        NULL::uuid, NULL::json;
    RETURN;
  END IF;
  IF v_hold.status = 'active' AND v_hold.expires_at > now() THEN
    -- Its pending order's row first, as a payment settling that order does (order, seats, hold):
    -- the two then queue on the order row instead of deadlocking on the seats and the hold.
    SELECT o.id INTO v_order FROM orders o WHERE o.hold_id = p_hold AND o.status = 'pending_payment' FOR UPDATE;
    PERFORM pg_advisory_xact_lock_shared(hashtextextended(v_hold.show_id::text, 7));
    UPDATE holds h SET status = 'released', ended_at = now()
     WHERE h.id = p_hold AND h.status = 'active' AND h.expires_at > now();
    IF FOUND THEN
      v_freed := free_hold_seats(v_hold.show_id, p_hold);
      IF v_order IS NOT NULL THEN
        UPDATE orders o SET status = 'cancelled' WHERE o.id = v_order;
      END IF;
    ELSE
      v_order := NULL;
    END IF;
  END IF;
  -- The hold as it is now: 'converted' if its payment settled while this waited for the order row.
  RETURN QUERY SELECT CASE WHEN h.status = 'converted' THEN 'converted' ELSE 'ok' END, h.id, h.user_id,
                      h.show_id, h.status, h.expires_at, h.seat_ids, h.ga_lines, h.ticket_count, h.total_cents,
                      h.currency, h.created_at, v_order, v_freed
                 FROM holds h WHERE h.id = p_hold;
END $$;
"""

CREATE_ORDER = r"""
CREATE OR REPLACE FUNCTION create_order_for_hold(p_order uuid, p_user uuid, p_hold uuid, p_key text)
RETURNS TABLE (outcome text, id uuid, user_id uuid, show_id uuid, hold_id uuid, status text, ticket_count int,
               total_cents int, currency text, expires_at timestamptz, created_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_same orders%ROWTYPE; v_hold holds%ROWTYPE; v_id uuid;
BEGIN
  SELECT * INTO v_same FROM orders o WHERE o.user_id = p_user AND o.idempotency_key = p_key;
  IF FOUND THEN
    IF v_same.hold_id <> p_hold THEN
      RETURN QUERY SELECT 'key_conflict', NULL::uuid, NULL::uuid, NULL::uuid, NULL::uuid, NULL::text, NULL::int,
                          NULL::int, NULL::text, NULL::timestamptz, NULL::timestamptz;
      RETURN;
    END IF;
    v_id := v_same.id;
  ELSE
    SELECT * INTO v_hold FROM holds h WHERE h.id = p_hold FOR UPDATE;
    IF NOT FOUND OR v_hold.user_id <> p_user THEN
      RETURN QUERY SELECT 'not_found', NULL::uuid, NULL::uuid, NULL::uuid, NULL::uuid, NULL::text, NULL::int,
                          NULL::int, NULL::text, NULL::timestamptz, NULL::timestamptz;
      RETURN;
    END IF;
    SELECT o.id INTO v_id FROM orders o WHERE o.hold_id = p_hold;  -- one order per hold, whichever key asked first
    IF v_id IS NULL THEN
      IF v_hold.status <> 'active' OR v_hold.expires_at <= now() THEN
        RETURN QUERY SELECT 'hold_ended', NULL::uuid, NULL::uuid, NULL::uuid, NULL::uuid, NULL::text, NULL::int,
                            NULL::int, NULL::text, NULL::timestamptz, NULL::timestamptz;
        RETURN;
      END IF;
      INSERT INTO orders (id, user_id, show_id, hold_id, ticket_count, total_cents, currency, idempotency_key,
                          expires_at)
      VALUES (p_order, p_user, v_hold.show_id, p_hold, v_hold.ticket_count, v_hold.total_cents, v_hold.currency,
              p_key, v_hold.expires_at);
      INSERT INTO payments (order_id, amount_cents, currency) VALUES (p_order, v_hold.total_cents, v_hold.currency);
      v_id := p_order;
    END IF;
  END IF;
  RETURN QUERY SELECT 'ok', o.id, o.user_id, o.show_id, o.hold_id, o.status, o.ticket_count, o.total_cents,
                      o.currency, o.expires_at, o.created_at FROM orders o WHERE o.id = v_id;
END $$;
"""

SETTLE = r"""
CREATE OR REPLACE FUNCTION settle_paid_intent(p_intent text, p_claimed uuid, p_amount int, p_currency text,
    p_show uuid, p_tickets uuid[], p_barcodes text[])
RETURNS TABLE (outcome text, id uuid, user_id uuid, show_id uuid, hold_id uuid, status text, ticket_count int,
               total_cents int, currency text, expires_at timestamptz, created_at timestamptz, live boolean,
               changed json)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_oid uuid; v_stored boolean; v_order orders%ROWTYPE; v_n int; v_issued int; v_changed json := '[]';
  v_outcome text;
BEGIN
  SELECT p.order_id INTO v_oid FROM payments p WHERE p.intent_id = p_intent;
  v_stored := v_oid IS NOT NULL;
  IF NOT v_stored THEN
    v_oid := p_claimed;  -- the order id of metadata boxoffice signed (checked by the caller), if any
  END IF;
  IF v_oid IS NOT NULL THEN
    -- The order row before anything else, as a release and every other change of the order take it.
    SELECT * INTO v_order FROM orders o WHERE o.id = v_oid FOR UPDATE;
  END IF;
  IF v_order.id IS NULL THEN
    v_outcome := 'unbound';
  ELSIF NOT v_stored THEN
    -- Bound by the signature only for the order's exact amount, and only while it has no other intent.
    UPDATE payments p SET intent_id = p_intent, updated_at = now()
     WHERE p.order_id = v_oid AND p.intent_id IS NULL AND p.amount_cents = p_amount
       AND lower(p.currency) = lower(p_currency);
    IF NOT FOUND THEN
      v_outcome := 'unbound';
    END IF;
  END IF;
  IF v_outcome IS NULL AND v_order.status = 'confirmed' THEN
    v_outcome := 'confirmed';
  END IF;
  IF v_outcome IS NULL AND v_order.status = 'pending_payment' AND v_order.expires_at > now()
     AND p_amount = v_order.total_cents AND lower(p_currency) = lower(v_order.currency) THEN
    IF p_show IS DISTINCT FROM v_order.show_id OR coalesce(cardinality(p_tickets), 0) <> v_order.ticket_count
       OR coalesce(cardinality(p_barcodes), 0) <> v_order.ticket_count THEN
      v_outcome := 'tickets';  -- sign this many barcodes for this show, and call again
    ELSE
      PERFORM pg_advisory_xact_lock_shared(hashtextextended(v_order.show_id::text, 7));
      SELECT count(*) INTO v_n FROM (SELECT ss.id FROM show_seats ss WHERE ss.show_id = v_order.show_id
                                        AND ss.hold_id = v_order.hold_id AND ss.status = 'H' ORDER BY ss.id FOR UPDATE) l;
      -- Fewer: someone claimed them after the hold lapsed; the order is cancelled below and refunded.
      IF v_n = v_order.ticket_count THEN
        WITH sold AS (
          UPDATE show_seats ss SET status = 'S', order_id = v_oid, hold_id = NULL, hold_expires_at = NULL,
                 version = nextval(CAST(sh.version_sequence AS regclass))
            FROM shows sh
           WHERE sh.id = v_order.show_id AND ss.show_id = v_order.show_id AND ss.hold_id = v_order.hold_id
             AND ss.status = 'H'
          RETURNING ss.id, ss.section_id, ss.version, ss.position IS NULL AS ga),
        numbered AS (SELECT s.*, row_number() OVER (ORDER BY s.id) AS i FROM sold s),
        issued AS (
          INSERT INTO tickets (id, order_id, show_id, place_id, seat_id, section_id, barcode)
          SELECT p_tickets[n.i], v_oid, v_order.show_id, n.id, CASE WHEN n.ga THEN NULL ELSE n.id END, n.section_id,
                 p_barcodes[n.i]
            FROM numbered n
          ON CONFLICT (show_id, place_id) DO NOTHING RETURNING place_id)
        SELECT COALESCE(json_agg(json_build_array(n.id, n.section_id, n.version, n.ga)), '[]'),
               (SELECT count(*) FROM issued)
          INTO v_changed, v_issued FROM numbered n;
        IF v_issued < v_n AND EXISTS (
            SELECT 1 FROM tickets t JOIN show_seats ss ON ss.show_id = t.show_id AND ss.id = t.place_id
             WHERE t.show_id = v_order.show_id AND ss.order_id = v_oid AND t.order_id <> v_oid) THEN
          -- A resold place whose old ticket was not voided: never a silent gap (all of this rolls back).
          RAISE EXCEPTION 'ticket_conflict: places of show % are ticketed for another order', v_order.show_id;
        END IF;
        UPDATE holds h SET status = 'converted', ended_at = now() WHERE h.id = v_order.hold_id;
        UPDATE orders o SET status = 'confirmed', confirmed_at = now() WHERE o.id = v_oid;
        UPDATE payments p SET status = 'succeeded', next_action_url = NULL, failure_reason = NULL, updated_at = now()
         WHERE p.order_id = v_oid;
        -- Told through the outbox, in this transaction: the notification exists iff the sale does.
        INSERT INTO outbox (topic, user_id, payload) VALUES ('notification', v_order.user_id, jsonb_build_object(
          'kind', 'ORDER_CONFIRMED', 'orderId', v_oid::text, 'showId', v_order.show_id::text));
        v_outcome := 'sold';
      END IF;
    END IF;
  END IF;
  IF v_outcome IS NULL THEN
    -- Paid, but the order can no longer have its places: cancel it (freeing what it still holds).
    IF v_order.status = 'pending_payment' THEN
      PERFORM pg_advisory_xact_lock_shared(hashtextextended(v_order.show_id::text, 7));
      UPDATE holds h SET status = 'expired', ended_at = now() WHERE h.id = v_order.hold_id AND h.status = 'active';
      v_changed := free_hold_seats(v_order.show_id, v_order.hold_id);
      UPDATE orders o SET status = 'cancelled' WHERE o.id = v_oid;
    END IF;
    UPDATE payments p SET status = 'succeeded', updated_at = now()
     WHERE p.order_id = v_oid AND p.status NOT IN ('succeeded', 'refunded');
    -- A charged-back or refunded payment is not refunded again.
    v_outcome := CASE WHEN v_order.status IN ('refunded', 'disputed') THEN 'lost' ELSE 'refund' END;
  END IF;
  IF v_outcome = 'unbound' THEN
    RETURN QUERY SELECT 'unbound', NULL::uuid, NULL::uuid, NULL::uuid, NULL::uuid, NULL::text, NULL::int, NULL::int,
                        NULL::text, NULL::timestamptz, NULL::timestamptz, NULL::boolean, NULL::json;
    RETURN;
  END IF;
  RETURN QUERY SELECT v_outcome, o.id, o.user_id, o.show_id, o.hold_id, o.status, o.ticket_count, o.total_cents,
                      o.currency, o.expires_at, o.created_at, o.expires_at > now(), v_changed
                 FROM orders o WHERE o.id = v_oid;
END $$;
"""


def upgrade() -> None:
    op.execute(FREE_HOLD_SEATS)
    op.execute(RELEASE)
    op.execute(CREATE_ORDER)
    op.execute(SETTLE)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS settle_paid_intent(text, uuid, int, text, uuid, uuid[], text[])")
    op.execute("DROP FUNCTION IF EXISTS create_order_for_hold(uuid, uuid, uuid, text)")
    op.execute("DROP FUNCTION IF EXISTS release_fan_hold(uuid, uuid)")
    op.execute("DROP FUNCTION IF EXISTS free_hold_seats(uuid, uuid)")
