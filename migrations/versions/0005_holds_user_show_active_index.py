"""A fan's active holds of a show, indexed: the per-fan ticket limit reads only those

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

Every hold sums the tickets its fan already holds for the show. Through ix_holds_user_show that sum
read every hold the fan ever had (after 5 minutes of a sale with 30-s holds, about 150 rows per
hold), and a generic plan of the single-hold sum went through ix_holds_expiry as well, over every
active hold of every fan (then 12,000 index entries per hold). ix_holds_user_show_active holds only active
holds, with the two columns the sum needs, so the sum is an index-only scan of the fan's own active
holds. The sums keep the expiry test out of WHERE so that no plan can use ix_holds_expiry.

The two functions are those of 0003 and 0004 with only the user's sum changed (the text is taken from
those migrations, so the rest cannot drift).
"""
from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = ("CREATE INDEX ix_holds_user_show_active ON holds (user_id, show_id) INCLUDE (expires_at, ticket_count) "
         "WHERE status = 'active'")

# (old text, new text) in hold_reserved_seats() of 0003 and hold_reserved_seats_batch() of 0004.
SINGLE_SUM = (
    """SELECT COALESCE((SELECT sum(ticket_count) FROM holds WHERE user_id = p_user AND show_id = p_show
                   AND status = 'active' AND expires_at > now()), 0)""",
    """SELECT COALESCE((SELECT sum(CASE WHEN expires_at > now() THEN ticket_count END) FROM holds
                   WHERE user_id = p_user AND show_id = p_show AND status = 'active'), 0)""")
BATCH_SUM = (
    """(COALESCE((SELECT sum(CASE WHEN status = 'active' AND expires_at > now() THEN ticket_count END)
                   FROM holds WHERE user_id = r.u AND show_id = p_show), 0)""",
    """(COALESCE((SELECT sum(CASE WHEN expires_at > now() THEN ticket_count END)
                   FROM holds WHERE user_id = r.u AND show_id = p_show AND status = 'active'), 0)""")


SINGLE = "0003_hold_reserved_seats_function.py"
BATCH = "0004_hold_reserved_seats_batch.py"


def _function(filename: str, change: tuple[str, str] | None = None) -> str:
    """That migration's CREATE FUNCTION text, with the user's sum changed if `change` is given."""
    spec = importlib.util.spec_from_file_location(f"_boxoffice_migration_{filename[:4]}",
                                                  Path(__file__).with_name(filename))
    assert spec is not None and spec.loader is not None
    module = ModuleType(spec.name)
    spec.loader.exec_module(module)
    text = str(module.FUNCTION)
    if change is None:
        return text
    old, new = change
    assert text.count(old) == 1, f"{filename}: the user's sum is not where 0005 expects it"
    return text.replace(old, new)


def upgrade() -> None:
    op.execute(INDEX)
    op.execute(_function(SINGLE, SINGLE_SUM))
    op.execute(_function(BATCH, BATCH_SUM))


def downgrade() -> None:
    op.execute(_function(SINGLE))
    op.execute(_function(BATCH))
    op.execute("DROP INDEX ix_holds_user_show_active")
