"""Waitlist offers (issue 20)

Revision ID: 0014_waitlist
Revises: 0013_transfers_resale
Create Date: 2026-12-02

- `waitlist_entries`: a fan waiting for `quantity` places of a show (optionally one price tier);
  'waiting' -> 'offered' (with the hold made for them) -> 'fulfilled' | 'expired' | 'left'.
- Seat status 'W' (parked for the waitlist): a seat coming back on sale ('A' from any other status)
  while the show has a waiting entry that its tier fits is parked instead, by a BEFORE UPDATE row
  trigger, in the transaction that frees it (release, expiry, refund, cancelled order, withdrawn
  listing alike). Open sale never claims 'W'. The offer job (booking/waitlist/offers.py) turns parked
  seats into offer holds or, when no entry fits, into 'A' (with `boxoffice.waitlist_release` set for
  its transaction, so this trigger lets them through). The trigger's WHEN keeps it off the hold path
  (A -> H never calls it); with nobody waiting it costs one probe of a partial index.
- An offer hold (idempotency key 'waitlist-offer:<entry id>:<hold id>') ending moves its entry on in the same
  transaction, by an AFTER UPDATE trigger on holds whose WHEN matches offer holds only: converted ->
  'fulfilled', released by the fan -> 'left', expired -> 'expired'.
- WAITLIST_OFFER notifications: already allowed by 0012_refunds (every kind of the contract).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_waitlist"
down_revision = "0013_transfers_resale"
branch_labels = None
depends_on = None

PARK = r"""
CREATE OR REPLACE FUNCTION park_seat_for_waitlist() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- The offer job releasing seats nobody on the waitlist fits: let them through to open sale.
  IF current_setting('boxoffice.waitlist_release', true) = 'on' THEN
    RETURN NEW;
  END IF;
  IF EXISTS (SELECT 1 FROM waitlist_entries w WHERE w.show_id = NEW.show_id AND w.status = 'waiting'
              AND (w.price_tier_id IS NULL OR w.price_tier_id = (
                   SELECT sc.price_tier_id FROM show_sections sc
                    WHERE sc.show_id = NEW.show_id AND sc.section_id = NEW.section_id))) THEN
    NEW.status := 'W';
  END IF;
  RETURN NEW;
END $$;
"""

OFFER_ENDED = r"""
CREATE OR REPLACE FUNCTION end_waitlist_offer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE waitlist_entries w
     SET status = CASE NEW.status WHEN 'converted' THEN 'fulfilled' WHEN 'released' THEN 'left' ELSE 'expired' END,
         ended_at = now()
   WHERE w.offer_hold_id = NEW.id AND w.status = 'offered';
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("show_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("price_tier_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.Text(), server_default="waiting", nullable=False),
        sa.Column("offer_hold_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('waiting', 'offered', 'fulfilled', 'expired', 'left')",
                           name=op.f("ck_waitlist_entries_status")),
        sa.CheckConstraint("quantity BETWEEN 1 AND 100", name=op.f("ck_waitlist_entries_quantity")),
        sa.CheckConstraint("status <> 'offered' OR offer_hold_id IS NOT NULL",
                           name=op.f("ck_waitlist_entries_offer_has_hold")),
        sa.ForeignKeyConstraint(["show_id"], ["shows.id"], name=op.f("fk_waitlist_entries_show_id_shows")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_waitlist_entries_user_id_users")),
        sa.ForeignKeyConstraint(["price_tier_id"], ["price_tiers.id"],
                                name=op.f("fk_waitlist_entries_price_tier_id_price_tiers")),
        sa.ForeignKeyConstraint(["offer_hold_id"], ["holds.id"], name=op.f("fk_waitlist_entries_offer_hold_id_holds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entries")),
    )
    op.create_index("ix_waitlist_entries_waiting", "waitlist_entries", ["show_id", "created_at", "id"],
                    postgresql_where=sa.text("status = 'waiting'"))
    op.create_index("ix_waitlist_entries_user", "waitlist_entries", ["user_id", "created_at"])
    op.create_index("uq_waitlist_entries_live", "waitlist_entries", ["show_id", "user_id"], unique=True,
                    postgresql_where=sa.text("status IN ('waiting', 'offered')"))
    op.create_index("uq_waitlist_entries_offer_hold", "waitlist_entries", ["offer_hold_id"], unique=True,
                    postgresql_where=sa.text("offer_hold_id IS NOT NULL"))

    op.execute("ALTER TABLE show_seats DROP CONSTRAINT ck_show_seats_status, "
               "ADD CONSTRAINT ck_show_seats_status CHECK (status IN ('A', 'H', 'S', 'B', 'W'))")
    op.create_index("ix_show_seats_parked", "show_seats", ["show_id", "id"], postgresql_where=sa.text("status = 'W'"))
    op.execute(PARK)
    op.execute("CREATE TRIGGER park_seat_for_waitlist BEFORE UPDATE OF status ON show_seats FOR EACH ROW "
               "WHEN (NEW.status = 'A' AND OLD.status <> 'A') EXECUTE FUNCTION park_seat_for_waitlist()")
    op.execute(OFFER_ENDED)
    op.execute("CREATE TRIGGER end_waitlist_offer AFTER UPDATE OF status ON holds FOR EACH ROW "
               "WHEN (OLD.status = 'active' AND NEW.status <> 'active' "
               "AND NEW.idempotency_key LIKE 'waitlist-offer:%') EXECUTE FUNCTION end_waitlist_offer()")


def downgrade() -> None:
    op.execute("DROP TRIGGER end_waitlist_offer ON holds")
    op.execute("DROP FUNCTION end_waitlist_offer()")
    op.execute("DROP TRIGGER park_seat_for_waitlist ON show_seats")
    op.execute("DROP FUNCTION park_seat_for_waitlist()")
    op.drop_index("ix_show_seats_parked", table_name="show_seats")
    op.execute("UPDATE show_seats SET status = 'A' WHERE status = 'W'")
    op.execute("ALTER TABLE show_seats DROP CONSTRAINT ck_show_seats_status, "
               "ADD CONSTRAINT ck_show_seats_status CHECK (status IN ('A', 'H', 'S', 'B'))")
    op.drop_table("waitlist_entries")
