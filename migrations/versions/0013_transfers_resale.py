"""Ticket transfers and face-value resale (issue 20)

Revision ID: 0013_transfers_resale
Revises: 0012_refunds
Create Date: 2026-12-02

- `tickets.holder_id`: who owns a ticket passed on by a transfer (NULL: the order's buyer).
  `tickets.listed`: the ticket is offered for resale; the door admits only `status = 'valid' AND
  NOT listed` (booking/after_sale/door_rules.py), and a listed ticket cannot be transferred.
- `ticket_transfers`: an offer of one ticket to an e-mail address; at most one pending per ticket.
- `resale_listings`: a ticket offered at no more than the show's resale cap. `hold_id` is the hold
  of the buyer now checking out (the listing is held while that hold is active); once sold, the
  seller's refund by the listing price is `refund_status` 'pending' until Stripe has made it.
- `resale_holds`: which holds (and so which orders) buy a listing: a resale order settles through
  settle_resale_intent(), every other order through settle_paid_intent(), chosen by settle_intent().
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_transfers_resale"
down_revision = "0012_refunds"
branch_labels = None
depends_on = None

_RETURNS = """RETURNS TABLE (outcome text, id uuid, user_id uuid, show_id uuid, hold_id uuid, status text, ticket_count int,
               total_cents int, currency text, expires_at timestamptz, created_at timestamptz, live boolean,
               changed json)"""
_ARGS = "p_intent text, p_claimed uuid, p_amount int, p_currency text, p_show uuid, p_tickets uuid[], p_barcodes text[]"

# A paid resale order, as settle_paid_intent() settles a primary one (same arguments, same answer, same
# binding of the intent, the order row locked first), but the place stays sold: in ONE transaction the
# seller's ticket is voided (revoked, 'resold'), the buyer's is issued with a new barcode, the place
# passes to the buyer's order, the listing is SOLD with the seller's refund pending, and both are told.
# Locks: order, show (shared), listing, ticket, seat, then the hold. Outcome 'resold' (not 'sold'):
# the caller then refunds the seller. A listing withdrawn or held by another hold: refund the buyer.
SETTLE_RESALE = f"""
CREATE OR REPLACE FUNCTION settle_resale_intent({_ARGS})
{_RETURNS}
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_oid uuid; v_stored boolean; v_order orders%ROWTYPE; v_listing resale_listings%ROWTYPE;
  v_ticket tickets%ROWTYPE; v_changed json := '[]'; v_outcome text;
BEGIN
  SELECT p.order_id INTO v_oid FROM payments p WHERE p.intent_id = p_intent;
  v_stored := v_oid IS NOT NULL;
  IF NOT v_stored THEN
    v_oid := p_claimed;
  END IF;
  IF v_oid IS NOT NULL THEN
    SELECT * INTO v_order FROM orders o WHERE o.id = v_oid FOR UPDATE;
  END IF;
  IF v_order.id IS NULL THEN
    v_outcome := 'unbound';
  ELSIF NOT v_stored THEN
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
      v_outcome := 'tickets';
    ELSE
      PERFORM pg_advisory_xact_lock_shared(hashtextextended(v_order.show_id::text, 7));
      SELECT l.* INTO v_listing FROM resale_holds r JOIN resale_listings l ON l.id = r.listing_id
       WHERE r.hold_id = v_order.hold_id FOR UPDATE OF l;
      IF v_listing.status = 'listed' AND v_listing.hold_id = v_order.hold_id THEN
        SELECT * INTO v_ticket FROM tickets t WHERE t.id = v_listing.ticket_id FOR UPDATE;
      END IF;
      IF v_ticket.id IS NOT NULL AND v_ticket.status = 'valid' AND v_ticket.listed THEN
        PERFORM 1 FROM show_seats ss WHERE ss.show_id = v_order.show_id AND ss.id = v_ticket.place_id FOR UPDATE;
        DELETE FROM tickets t WHERE t.id = v_ticket.id;
        INSERT INTO revoked_tickets (ticket_id, order_id, show_id, barcode, reason, place_id, seat_id, section_id)
        VALUES (v_ticket.id, v_ticket.order_id, v_ticket.show_id, v_ticket.barcode, 'resold', v_ticket.place_id,
                v_ticket.seat_id, v_ticket.section_id);
        INSERT INTO tickets (id, order_id, show_id, place_id, seat_id, section_id, barcode)
        VALUES (p_tickets[1], v_oid, v_order.show_id, v_ticket.place_id, v_ticket.seat_id, v_ticket.section_id,
                p_barcodes[1]);
        WITH moved AS (
          UPDATE show_seats ss SET order_id = v_oid, version = nextval(CAST(sh.version_sequence AS regclass))
            FROM shows sh
           WHERE sh.id = v_order.show_id AND ss.show_id = v_order.show_id AND ss.id = v_ticket.place_id
          RETURNING ss.id, ss.section_id, ss.version, ss.position IS NULL AS ga)
        SELECT COALESCE(json_agg(json_build_array(m.id, m.section_id, m.version, m.ga)), '[]') INTO v_changed
          FROM moved m;
        UPDATE resale_listings l SET status = 'sold', buyer_order_id = v_oid, refund_status = 'pending',
               ended_at = now() WHERE l.id = v_listing.id;
        UPDATE holds h SET status = 'converted', ended_at = now() WHERE h.id = v_order.hold_id;
        UPDATE orders o SET status = 'confirmed', confirmed_at = now() WHERE o.id = v_oid;
        UPDATE payments p SET status = 'succeeded', next_action_url = NULL, failure_reason = NULL, updated_at = now()
         WHERE p.order_id = v_oid;
        INSERT INTO outbox (topic, user_id, payload) VALUES
          ('notification', v_order.user_id, jsonb_build_object(
             'kind', 'ORDER_CONFIRMED', 'orderId', v_oid::text, 'showId', v_order.show_id::text)),
          ('notification', v_listing.seller_id, jsonb_build_object(
             'kind', 'RESALE_SOLD', 'listingId', v_listing.id::text, 'orderId', v_listing.seller_order_id::text,
             'showId', v_order.show_id::text, 'priceCents', v_listing.price_cents));
        v_outcome := 'resold';
      END IF;
    END IF;
  END IF;
  IF v_outcome IS NULL THEN
    -- Paid, but the listing is gone (withdrawn, sold, or held by a later hold): cancel, refund the buyer.
    IF v_order.status = 'pending_payment' THEN
      UPDATE holds h SET status = 'expired', ended_at = now() WHERE h.id = v_order.hold_id AND h.status = 'active';
      UPDATE orders o SET status = 'cancelled' WHERE o.id = v_oid;
    END IF;
    UPDATE payments p SET status = 'succeeded', updated_at = now()
     WHERE p.order_id = v_oid AND p.status NOT IN ('succeeded', 'refunded');
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

# What booking/checkout/payments.py calls: the order's kind picks its settlement (a resale order is
# one whose hold is in resale_holds); settle_paid_intent() itself is unchanged.
SETTLE_INTENT = f"""
CREATE OR REPLACE FUNCTION settle_intent({_ARGS})
{_RETURNS}
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_oid uuid;
BEGIN
  SELECT p.order_id INTO v_oid FROM payments p WHERE p.intent_id = p_intent;
  v_oid := coalesce(v_oid, p_claimed);
  IF v_oid IS NOT NULL AND EXISTS (SELECT 1 FROM orders o JOIN resale_holds r ON r.hold_id = o.hold_id
                                    WHERE o.id = v_oid) THEN
    RETURN QUERY SELECT * FROM settle_resale_intent(p_intent, p_claimed, p_amount, p_currency, p_show, p_tickets,
                                                    p_barcodes);
  ELSE
    RETURN QUERY SELECT * FROM settle_paid_intent(p_intent, p_claimed, p_amount, p_currency, p_show, p_tickets,
                                                  p_barcodes);
  END IF;
END $$;
"""

# A listed ticket is never admitted, whatever statement tries: the row is left as it is (the
# UPDATE admits nothing), so the door says it does not admit; booking/after_sale/door_rules.py.
REFUSE_LISTED_CHECK_IN = """
CREATE OR REPLACE FUNCTION refuse_listed_check_in() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RETURN NULL;
END $$;
"""
REFUSE_LISTED_TRIGGER = """
CREATE TRIGGER tickets_listed_not_admitted BEFORE UPDATE OF status ON tickets FOR EACH ROW
  WHEN (OLD.listed AND NEW.status = 'checked_in') EXECUTE FUNCTION refuse_listed_check_in();
"""

DROP_FUNCTIONS = ("DROP TRIGGER IF EXISTS tickets_listed_not_admitted ON tickets",
                  "DROP FUNCTION IF EXISTS refuse_listed_check_in()",
                  "DROP FUNCTION IF EXISTS settle_intent(text, uuid, int, text, uuid, uuid[], text[])",
                  "DROP FUNCTION IF EXISTS settle_resale_intent(text, uuid, int, text, uuid, uuid[], text[])")


def upgrade() -> None:
    op.add_column("tickets", sa.Column("holder_id", sa.UUID(), nullable=True))
    op.create_foreign_key(op.f("fk_tickets_holder_id_users"), "tickets", "users", ["holder_id"], ["id"])
    op.create_index("ix_tickets_holder", "tickets", ["holder_id"], postgresql_where=sa.text("holder_id IS NOT NULL"))
    op.add_column("tickets", sa.Column("listed", sa.Boolean(), server_default=sa.text("false"), nullable=False))

    op.create_table(
        "ticket_transfers",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("ticket_id", sa.UUID(), nullable=False),
        sa.Column("show_id", sa.UUID(), nullable=False),
        sa.Column("from_user_id", sa.UUID(), nullable=False),
        sa.Column("to_email", sa.Text(), nullable=False),
        sa.Column("from_barcode", sa.Text(), nullable=False),
        sa.Column("to_user_id", sa.UUID(), nullable=True),
        sa.Column("new_ticket_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'accepted', 'cancelled')", name=op.f("ck_ticket_transfers_status")),
        sa.ForeignKeyConstraint(["show_id"], ["shows.id"], name=op.f("fk_ticket_transfers_show_id_shows")),
        sa.ForeignKeyConstraint(["from_user_id"], ["users.id"], name=op.f("fk_ticket_transfers_from_user_id_users")),
        sa.ForeignKeyConstraint(["to_user_id"], ["users.id"], name=op.f("fk_ticket_transfers_to_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_transfers")),
    )
    op.create_index("uq_ticket_transfers_pending", "ticket_transfers", ["ticket_id"], unique=True,
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_ticket_transfers_ticket", "ticket_transfers", ["ticket_id", "created_at"])
    op.create_index("ix_ticket_transfers_to_email", "ticket_transfers", ["to_email", "created_at"])
    # The order read skips ids a transfer issued (booking/checkout/order_view.py).
    op.create_index("ix_ticket_transfers_new_ticket", "ticket_transfers", ["new_ticket_id"],
                    postgresql_where=sa.text("new_ticket_id IS NOT NULL"))

    op.create_table(
        "resale_listings",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("ticket_id", sa.UUID(), nullable=False),
        sa.Column("show_id", sa.UUID(), nullable=False),
        sa.Column("seller_id", sa.UUID(), nullable=False),
        sa.Column("seller_order_id", sa.UUID(), nullable=False),
        sa.Column("place_id", sa.BigInteger(), nullable=False),
        sa.Column("seat_id", sa.BigInteger(), nullable=True),
        sa.Column("section_id", sa.UUID(), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("face_value_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="listed", nullable=False),
        sa.Column("hold_id", sa.UUID(), nullable=True),
        sa.Column("buyer_order_id", sa.UUID(), nullable=True),
        sa.Column("refund_status", sa.Text(), nullable=True),
        sa.Column("refund_id", sa.Text(), nullable=True),
        sa.Column("refunded_cents", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('listed', 'sold', 'withdrawn')", name=op.f("ck_resale_listings_status")),
        sa.CheckConstraint("price_cents > 0 AND price_cents <= face_value_cents",
                           name=op.f("ck_resale_listings_price")),
        sa.CheckConstraint("refund_status IS NULL OR refund_status IN ('pending', 'refunded')",
                           name=op.f("ck_resale_listings_refund_status")),
        sa.CheckConstraint("(status = 'sold') = (buyer_order_id IS NOT NULL AND refund_status IS NOT NULL)",
                           name=op.f("ck_resale_listings_sold")),
        sa.ForeignKeyConstraint(["show_id"], ["shows.id"], name=op.f("fk_resale_listings_show_id_shows")),
        sa.ForeignKeyConstraint(["seller_id"], ["users.id"], name=op.f("fk_resale_listings_seller_id_users")),
        sa.ForeignKeyConstraint(["seller_order_id"], ["orders.id"],
                                name=op.f("fk_resale_listings_seller_order_id_orders")),
        sa.ForeignKeyConstraint(["buyer_order_id"], ["orders.id"],
                                name=op.f("fk_resale_listings_buyer_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resale_listings")),
    )
    op.create_index("uq_resale_listings_open", "resale_listings", ["ticket_id"], unique=True,
                    postgresql_where=sa.text("status = 'listed'"))
    op.create_index("ix_resale_listings_show_price", "resale_listings", ["show_id", "price_cents"],
                    postgresql_where=sa.text("status = 'listed'"))
    op.create_index("ix_resale_listings_seller", "resale_listings", ["seller_id", "created_at"])
    op.create_index("ix_resale_listings_ticket", "resale_listings", ["ticket_id", "created_at"])
    op.create_index("ix_resale_listings_refund_pending", "resale_listings", ["ended_at"],
                    postgresql_where=sa.text("refund_status = 'pending'"))

    op.create_table(
        "resale_holds",
        sa.Column("hold_id", sa.UUID(), nullable=False),
        sa.Column("listing_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(["hold_id"], ["holds.id"], name=op.f("fk_resale_holds_hold_id_holds")),
        sa.ForeignKeyConstraint(["listing_id"], ["resale_listings.id"],
                                name=op.f("fk_resale_holds_listing_id_resale_listings")),
        sa.PrimaryKeyConstraint("hold_id", name=op.f("pk_resale_holds")),
    )
    op.create_index("ix_resale_holds_listing", "resale_holds", ["listing_id"])

    op.execute(SETTLE_RESALE)
    op.execute(SETTLE_INTENT)
    op.execute(REFUSE_LISTED_CHECK_IN)
    op.execute(REFUSE_LISTED_TRIGGER)


def downgrade() -> None:
    for statement in DROP_FUNCTIONS:
        op.execute(statement)
    op.drop_index("ix_resale_holds_listing", table_name="resale_holds")
    op.drop_table("resale_holds")
    for name in ("ix_resale_listings_refund_pending", "ix_resale_listings_ticket", "ix_resale_listings_seller",
                 "ix_resale_listings_show_price", "uq_resale_listings_open"):
        op.drop_index(name, table_name="resale_listings")
    op.drop_table("resale_listings")
    for name in ("ix_ticket_transfers_new_ticket", "ix_ticket_transfers_to_email", "ix_ticket_transfers_ticket",
                 "uq_ticket_transfers_pending"):
        op.drop_index(name, table_name="ticket_transfers")
    op.drop_table("ticket_transfers")
    op.drop_column("tickets", "listed")
    op.drop_index("ix_tickets_holder", table_name="tickets")
    op.drop_constraint(op.f("fk_tickets_holder_id_users"), "tickets", type_="foreignkey")
    op.drop_column("tickets", "holder_id")

