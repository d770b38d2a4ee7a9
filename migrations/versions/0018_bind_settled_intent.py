"""bind_paid_order(): an intent bound meanwhile to the same order is bound, not 'unbound'

Revision ID: 0018_bind_settled_intent
Revises: 0017_release_batch
Create Date: 2026-12-03

The buyer's confirmation and Stripe's webhook settle the same intent at the same moment. When the
intent id was not stored yet (the card is charged in the intent's creation), both look it up, find
nothing, and bind it by boxoffice's signed metadata, one after the other under the order's lock.
The second found the payment already bound (to this very intent) and answered 'unbound', so the
buyer's confirmation showed an order still PENDING_PAYMENT that the webhook confirmed a moment
later. A payment bound to the intent being settled is what binding wants: it now counts as bound.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op
from alembic.util import load_python_file

revision: str = "0018_bind_settled_intent"
down_revision: str | None = "0017_release_batch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The one change to 0015's bind_paid_order(): a payment bound to this very intent counts as bound (a
# settlement of the same intent that held the order's lock before this one may have bound it).
EARLIER = "0015_one_settlement.py"
ONLY_UNBOUND = "WHERE p.order_id = v_oid AND p.intent_id IS NULL AND"
OR_THIS_ONE = "WHERE p.order_id = v_oid AND (p.intent_id IS NULL OR p.intent_id = p_intent) AND"


def _earlier_bind() -> str:
    return str(load_python_file(Path(__file__).parent, EARLIER).BIND)


def upgrade() -> None:
    earlier = _earlier_bind()
    assert ONLY_UNBOUND in earlier, "0015's bind_paid_order() is not the one this migration changes"
    op.execute(earlier.replace(ONLY_UNBOUND, OR_THIS_ONE))


def downgrade() -> None:
    op.execute(_earlier_bind())
