"""settle_intent() sells nothing of a show a cancellation has committed: the payment is refunded

Revision ID: 0021_settle_after_cancel
Revises: 0020_release_key_share
Create Date: 2026-12-05

A payment confirmed while its show was being cancelled waited for the cancellation's exclusive lock,
then sold: the order was CONFIRMED after the show was cancelled (the fan told so, then told of the
cancellation, then refunded by the cancellation's job). Cancelling commits the show's status under
that lock, before the show's pending orders are ended; the settlement now reads it once it has the
shared lock, and a cancelled show's order goes the way of any order that can no longer have its
places: cancelled, and its payment refunded by the caller.

Downgrade restores 0015's text.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op
from alembic.util import load_python_file

revision: str = "0021_settle_after_cancel"
down_revision: str | None = "0020_release_key_share"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SALE = "      IF v_resale THEN\n        v_sold := sell_listing("
_UNLESS_CANCELLED = ("      IF (SELECT sh.status FROM shows sh WHERE sh.id = v_order.show_id) = 'cancelled' THEN\n"
                     "        v_sold := NULL;  -- cancelled while this payment waited for the show's lock\n"
                     "      ELSIF v_resale THEN\n        v_sold := sell_listing(")


def _settle_intent() -> str:
    """0015's settle_intent() (so nothing is copied to drift)."""
    folder = Path(__file__).parent
    one: ModuleType = load_python_file(folder, "0015_one_settlement.py")
    return str(one._settle_intent(load_python_file(folder, one.RESALE)))


def upgrade() -> None:
    earlier = _settle_intent()
    assert earlier.count(_SALE) == 1, "0015's settle_intent() picks the sale once"
    op.execute(earlier.replace(_SALE, _UNLESS_CANCELLED))


def downgrade() -> None:
    op.execute(_settle_intent())
