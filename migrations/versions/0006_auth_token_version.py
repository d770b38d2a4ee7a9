"""A token version per user: bearer tokens carry it, and bumping it ends every session

Revision ID: 0006_auth_token_version
Revises: 0005
Create Date: 2026-12-02

Log-out, a password change and a role change add one to users.token_version; a token whose `ver`
claim is older is refused from then on (booking/accounts/sessions.py). Existing users start at 0, which is
what tokens issued before this migration (no `ver` claim) count as, so nobody is signed out by it.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_auth_token_version"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("users", "token_version")
