"""Venues know their time zone (issue 18)

venues.time_zone is an IANA zone name (e.g. Europe/Lisbon); show times are stored in UTC and shown
in it. Existing venues get UTC, the zone they were implicitly shown in. The name is validated in the
domain (booking/catalog/organize.py, against the zoneinfo database), not by a CHECK: the zone list
changes with tzdata releases, a constraint would not.

Revision ID: 0009_venue_time_zone
Revises: 0008_journey_functions
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_venue_time_zone"
down_revision = "0008_journey_functions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("venues", sa.Column("time_zone", sa.Text(), nullable=False, server_default="UTC"))


def downgrade() -> None:
    op.drop_column("venues", "time_zone")
