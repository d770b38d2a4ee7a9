"""One settlement: settle_intent() binds, confirms or cancels every paid order; only the sale differs

Revision ID: 0015_one_settlement
Revises: 0014_waitlist
Create Date: 2026-12-02

settle_resale_intent() (0013) was a copy of settle_paid_intent() (0008) around a different sale: the
intent's binding, the 'unbound' / 'confirmed' / 'tickets' answers, the confirmation, the cancellation
of an order paid too late and the answer's row were written twice. They are now written once, in
settle_intent() (the function booking/checkout/payments.py calls: same arguments, same answer, still
one call), and what a sale does is one of two small functions:

- bind_paid_order(): the order an intent pays, bound and its row locked (NULL: 'unbound');
- sell_held_seats(): a primary sale, the hold's seats sold and ticketed (0008's middle);
- sell_listing(): a resale, the listed ticket voided and re-issued to the buyer (0013's middle).

settle_intent() takes the order's kind from resale_holds after binding, under the order row's lock,
instead of before it (the first of its two lookups of the intent is gone). Lock order as before: the
order row, the show's shared lock, the listing and ticket (resale) or the seat rows in key order,
then the hold. One difference: a resale order paid too late is now cancelled under the show's shared
lock too, like a primary one (the lock every change of an order takes after the order row); its hold
has no seat rows, so free_hold_seats() frees nothing and the answer is the same. The seller's
RESALE_SOLD is now written to the outbox before the buyer's ORDER_CONFIRMED (one transaction).

Downgrade restores the three functions of 0008 and 0013 from those migrations' own text.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op
from alembic.util import load_python_file

revision: str = "0015_one_settlement"
down_revision: str | None = "0014_waitlist"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _migration(filename: str) -> ModuleType:
    """An earlier migration of this directory, for its function text (so nothing is copied to drift)."""
    return load_python_file(Path(__file__).parent, filename)


JOURNEY = "0008_journey_functions.py"  # settle_paid_intent()
RESALE = "0013_transfers_resale.py"  # settle_resale_intent(), settle_intent(), their arguments and answer

# The order an intent pays, its row locked before anything else (as a release and every other change
# of the order take it); NULL if the intent pays no order we know, or cannot be bound to it.
BIND = r"""
CREATE OR REPLACE FUNCTION bind_paid_order(p_intent text, p_claimed uuid, p_amount int, p_currency text)
RETURNS orders
LANGUAGE plpgsql AS $$
DECLARE
  v_oid uuid; v_stored boolean; v_order orders%ROWTYPE;
BEGIN
  SELECT p.order_id INTO v_oid FROM payments p WHERE p.intent_id = p_intent;
  v_stored := v_oid IS NOT NULL;
  IF NOT v_stored THEN
    v_oid := p_claimed;  -- the order id of metadata boxoffice signed (checked by the caller), if any
  END IF;
  IF v_oid IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT * INTO v_order FROM orders o WHERE o.id = v_oid FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF NOT v_stored THEN
    -- Bound by the signature only for the order's exact amount, and only while it has no other intent.
    UPDATE payments p SET intent_id = p_intent, updated_at = now()
     WHERE p.order_id = v_oid AND p.intent_id IS NULL AND p.amount_cents = p_amount
       AND lower(p.currency) = lower(p_currency);
    IF NOT FOUND THEN
      RETURN NULL;
    END IF;
  END IF;
  RETURN v_order;
END $$;
"""

# A primary sale: the seats still held by the order's hold, locked in key order, sold to the order and
# ticketed; the changed seats, or NULL (nothing changed) if the hold kept fewer than the order paid
# for (someone claimed them after it lapsed).
SELL_HELD_SEATS = r"""
CREATE OR REPLACE FUNCTION sell_held_seats(p_order orders, p_tickets uuid[], p_barcodes text[])
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
  v_n int; v_issued int; v_changed json;
BEGIN
  SELECT count(*) INTO v_n FROM (SELECT ss.id FROM show_seats ss WHERE ss.show_id = p_order.show_id
                                    AND ss.hold_id = p_order.hold_id AND ss.status = 'H' ORDER BY ss.id FOR UPDATE) l;
  IF v_n <> p_order.ticket_count THEN
    RETURN NULL;
  END IF;
  WITH sold AS (
    UPDATE show_seats ss SET status = 'S', order_id = p_order.id, hold_id = NULL, hold_expires_at = NULL,
           version = nextval(CAST(sh.version_sequence AS regclass))
      FROM shows sh
     WHERE sh.id = p_order.show_id AND ss.show_id = p_order.show_id AND ss.hold_id = p_order.hold_id
       AND ss.status = 'H'
    RETURNING ss.id, ss.section_id, ss.version, ss.position IS NULL AS ga),
  numbered AS (SELECT s.*, row_number() OVER (ORDER BY s.id) AS i FROM sold s),
  issued AS (
    INSERT INTO tickets (id, order_id, show_id, place_id, seat_id, section_id, barcode)
    SELECT p_tickets[n.i], p_order.id, p_order.show_id, n.id, CASE WHEN n.ga THEN NULL ELSE n.id END, n.section_id,
           p_barcodes[n.i]
      FROM numbered n
    ON CONFLICT (show_id, place_id) DO NOTHING RETURNING place_id)
  SELECT COALESCE(json_agg(json_build_array(n.id, n.section_id, n.version, n.ga)), '[]'),
         (SELECT count(*) FROM issued)
    INTO v_changed, v_issued FROM numbered n;
  IF v_issued < v_n AND EXISTS (
      SELECT 1 FROM tickets t JOIN show_seats ss ON ss.show_id = t.show_id AND ss.id = t.place_id
       WHERE t.show_id = p_order.show_id AND ss.order_id = p_order.id AND t.order_id <> p_order.id) THEN
    -- A resold place whose old ticket was not voided: never a silent gap (all of this rolls back).
    RAISE EXCEPTION 'ticket_conflict: places of show % are ticketed for another order', p_order.show_id;
  END IF;
  RETURN v_changed;
END $$;
"""

# A resale: the place stays sold; the listing (locked), then the seller's ticket, then the seat row.
# The seller's ticket is voided (revoked, 'resold'), the buyer's issued with a new barcode, the place
# passes to the buyer's order, the listing is SOLD with the seller's refund pending and the seller
# told. The changed place, or NULL (nothing changed) if the listing was withdrawn, sold, or is held
# by a later hold.
SELL_LISTING = r"""
CREATE OR REPLACE FUNCTION sell_listing(p_order orders, p_ticket uuid, p_barcode text)
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
  v_listing resale_listings%ROWTYPE; v_ticket tickets%ROWTYPE; v_changed json;
BEGIN
  SELECT l.* INTO v_listing FROM resale_holds r JOIN resale_listings l ON l.id = r.listing_id
   WHERE r.hold_id = p_order.hold_id FOR UPDATE OF l;
  IF v_listing.status = 'listed' AND v_listing.hold_id = p_order.hold_id THEN
    SELECT * INTO v_ticket FROM tickets t WHERE t.id = v_listing.ticket_id FOR UPDATE;
  END IF;
  IF v_ticket.id IS NULL OR v_ticket.status <> 'valid' OR NOT v_ticket.listed THEN
    RETURN NULL;
  END IF;
  PERFORM 1 FROM show_seats ss WHERE ss.show_id = p_order.show_id AND ss.id = v_ticket.place_id FOR UPDATE;
  DELETE FROM tickets t WHERE t.id = v_ticket.id;
  INSERT INTO revoked_tickets (ticket_id, order_id, show_id, barcode, reason, place_id, seat_id, section_id)
  VALUES (v_ticket.id, v_ticket.order_id, v_ticket.show_id, v_ticket.barcode, 'resold', v_ticket.place_id,
          v_ticket.seat_id, v_ticket.section_id);
  INSERT INTO tickets (id, order_id, show_id, place_id, seat_id, section_id, barcode)
  VALUES (p_ticket, p_order.id, p_order.show_id, v_ticket.place_id, v_ticket.seat_id, v_ticket.section_id,
          p_barcode);
  WITH moved AS (
    UPDATE show_seats ss SET order_id = p_order.id, version = nextval(CAST(sh.version_sequence AS regclass))
      FROM shows sh
     WHERE sh.id = p_order.show_id AND ss.show_id = p_order.show_id AND ss.id = v_ticket.place_id
    RETURNING ss.id, ss.section_id, ss.version, ss.position IS NULL AS ga)
  SELECT COALESCE(json_agg(json_build_array(m.id, m.section_id, m.version, m.ga)), '[]') INTO v_changed
    FROM moved m;
  UPDATE resale_listings l SET status = 'sold', buyer_order_id = p_order.id, refund_status = 'pending',
         ended_at = now() WHERE l.id = v_listing.id;
  INSERT INTO outbox (topic, user_id, payload) VALUES ('notification', v_listing.seller_id, jsonb_build_object(
    'kind', 'RESALE_SOLD', 'listingId', v_listing.id::text, 'orderId', v_listing.seller_order_id::text,
    'showId', p_order.show_id::text, 'priceCents', v_listing.price_cents));
  RETURN v_changed;
END $$;
"""

_UNBOUND = ("'unbound', NULL::uuid, NULL::uuid, NULL::uuid, NULL::uuid, NULL::text, NULL::int, NULL::int,\n"
            "                        NULL::text, NULL::timestamptz, NULL::timestamptz, NULL::boolean, NULL::json")


def _settle_intent(resale: ModuleType) -> str:
    """settle_intent() with 0013's arguments and answer (what Python reads cannot drift from them).
    Outcomes: 'unbound', 'confirmed' (already), 'tickets' (sign this many barcodes for this show and
    call again), 'sold' or 'resold' (the caller then refunds the seller), 'refund' (paid, but the order
    cannot have its places: cancelled, refund the buyer), 'lost' (refunded or charged back already)."""
    return f"""
CREATE OR REPLACE FUNCTION settle_intent({resale._ARGS})
{resale._RETURNS}
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_order orders%ROWTYPE; v_resale boolean; v_sold json; v_changed json := '[]'; v_outcome text;
BEGIN
  v_order := bind_paid_order(p_intent, p_claimed, p_amount, p_currency);
  IF v_order.id IS NULL THEN
    RETURN QUERY SELECT {_UNBOUND};
    RETURN;
  END IF;
  IF v_order.status = 'confirmed' THEN
    v_outcome := 'confirmed';
  ELSIF v_order.status = 'pending_payment' AND v_order.expires_at > now()
     AND p_amount = v_order.total_cents AND lower(p_currency) = lower(v_order.currency) THEN
    IF p_show IS DISTINCT FROM v_order.show_id OR coalesce(cardinality(p_tickets), 0) <> v_order.ticket_count
       OR coalesce(cardinality(p_barcodes), 0) <> v_order.ticket_count THEN
      v_outcome := 'tickets';
    ELSE
      PERFORM pg_advisory_xact_lock_shared(hashtextextended(v_order.show_id::text, 7));
      -- A resale order is one whose hold buys a listing (holdResaleListing); one ticket, checked above.
      v_resale := EXISTS (SELECT 1 FROM resale_holds r WHERE r.hold_id = v_order.hold_id);
      IF v_resale THEN
        v_sold := sell_listing(v_order, p_tickets[1], p_barcodes[1]);
      ELSE
        v_sold := sell_held_seats(v_order, p_tickets, p_barcodes);
      END IF;
      IF v_sold IS NOT NULL THEN
        UPDATE holds h SET status = 'converted', ended_at = now() WHERE h.id = v_order.hold_id;
        UPDATE orders o SET status = 'confirmed', confirmed_at = now() WHERE o.id = v_order.id;
        UPDATE payments p SET status = 'succeeded', next_action_url = NULL, failure_reason = NULL, updated_at = now()
         WHERE p.order_id = v_order.id;
        -- Told through the outbox, in this transaction: the notification exists iff the sale does.
        INSERT INTO outbox (topic, user_id, payload) VALUES ('notification', v_order.user_id, jsonb_build_object(
          'kind', 'ORDER_CONFIRMED', 'orderId', v_order.id::text, 'showId', v_order.show_id::text));
        v_changed := v_sold;
        v_outcome := CASE WHEN v_resale THEN 'resold' ELSE 'sold' END;
      END IF;
    END IF;
  END IF;
  IF v_outcome IS NULL THEN
    -- Paid, but the order can no longer have its places (its seats were claimed after the hold lapsed,
    -- its listing is gone): cancel it, freeing what its hold still holds (a resale hold holds no seat).
    IF v_order.status = 'pending_payment' THEN
      PERFORM pg_advisory_xact_lock_shared(hashtextextended(v_order.show_id::text, 7));
      UPDATE holds h SET status = 'expired', ended_at = now() WHERE h.id = v_order.hold_id AND h.status = 'active';
      v_changed := free_hold_seats(v_order.show_id, v_order.hold_id);
      UPDATE orders o SET status = 'cancelled' WHERE o.id = v_order.id;
    END IF;
    UPDATE payments p SET status = 'succeeded', updated_at = now()
     WHERE p.order_id = v_order.id AND p.status NOT IN ('succeeded', 'refunded');
    -- A charged-back or refunded payment is not refunded again.
    v_outcome := CASE WHEN v_order.status IN ('refunded', 'disputed') THEN 'lost' ELSE 'refund' END;
  END IF;
  RETURN QUERY SELECT v_outcome, o.id, o.user_id, o.show_id, o.hold_id, o.status, o.ticket_count, o.total_cents,
                      o.currency, o.expires_at, o.created_at, o.expires_at > now(), v_changed
                 FROM orders o WHERE o.id = v_order.id;
END $$;
"""


_SETTLE_ARGS = "text, uuid, int, text, uuid, uuid[], text[]"
_HELPERS = ("sell_listing(orders, uuid, text)", "sell_held_seats(orders, uuid[], text[])",
            "bind_paid_order(text, uuid, int, text)")


def upgrade() -> None:
    op.execute(BIND)
    op.execute(SELL_HELD_SEATS)
    op.execute(SELL_LISTING)
    op.execute(_settle_intent(_migration(RESALE)))
    op.execute(f"DROP FUNCTION settle_resale_intent({_SETTLE_ARGS})")
    op.execute(f"DROP FUNCTION settle_paid_intent({_SETTLE_ARGS})")


def downgrade() -> None:
    resale = _migration(RESALE)
    op.execute(_migration(JOURNEY).SETTLE)
    op.execute(resale.SETTLE_RESALE)
    op.execute(resale.SETTLE_INTENT)
    for helper in _HELPERS:
        op.execute(f"DROP FUNCTION {helper}")
