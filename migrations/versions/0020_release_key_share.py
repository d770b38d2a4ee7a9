"""release_fan_hold() key-share locks the hold first, so an order being created for it is cancelled too

Revision ID: 0020_release_key_share
Revises: 0019_outbox_relay_lease
Create Date: 2026-12-05

A release looked for the hold's pending order before touching the hold. A createOrder that had the
hold locked (FOR UPDATE, 0008) and committed its order in between made the release wait on the hold,
then end it and free its seats, leaving the new order PENDING_PAYMENT on a released hold: the fan's
payment was charged, found no seats, and was refunded.

The release's first read of the hold now takes a FOR KEY SHARE lock. It conflicts with createOrder's
FOR UPDATE, so an order being created commits before the release looks for it (and is cancelled with
the hold), and none is created until the release commits (it then finds the hold ended). It does not
conflict with the FOR NO KEY UPDATE a settlement's or a sweep's update of the hold takes, so the lock
order (pending order row, the show's shared lock, the hold, its seats in key order) is unchanged.

Downgrade restores 0008's text.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op
from alembic.util import load_python_file

revision: str = "0020_release_key_share"
down_revision: str | None = "0019_outbox_relay_lease"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_READ = "  SELECT * INTO v_hold FROM holds h WHERE h.id = p_hold;\n"
_READ_LOCKED = ("  -- Waits for an order being created for the hold, and keeps one from being created meanwhile.\n"
                "  SELECT * INTO v_hold FROM holds h WHERE h.id = p_hold FOR KEY SHARE;\n")


def _journey() -> ModuleType:
    """0008, for release_fan_hold()'s text (so nothing is copied to drift)."""
    return load_python_file(Path(__file__).parent, "0008_journey_functions.py")


def upgrade() -> None:
    release: str = _journey().RELEASE
    assert release.count(_READ) == 1, "0008's release_fan_hold() reads its hold once"
    op.execute(release.replace(_READ, _READ_LOCKED))


def downgrade() -> None:
    op.execute(_journey().RELEASE)
