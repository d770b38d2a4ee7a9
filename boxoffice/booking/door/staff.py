"""Who may scan tickets at a show's doors: its organizer (and admins), and the door staff they add."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ..accounts.sign_in import normalise_email
from ..catalog.browse import get_show
from ..catalog.organize import require_organizer
from ..errors import Forbidden, NotFound
from ..records import ShowRecord, Viewer


def organizes(viewer: Viewer, show: ShowRecord) -> bool:
    """The show's own organizer (while an organizer: one demoted to fan keeps none of it), or an
    admin: they may do anything door staff may."""
    return viewer.role == "admin" or (viewer.is_organizer and viewer.user_id == show.organizer_id)


async def organized_show(engine: AsyncEngine, viewer: Viewer | None, show_id: uuid.UUID) -> ShowRecord:
    """The show, if the caller organizes it; NOT_FOUND / FORBIDDEN otherwise."""
    viewer = require_organizer(viewer)
    show = await get_show(engine, show_id)
    if show is None:
        raise NotFound("No such show.", field="showId")
    if not organizes(viewer, show):
        raise Forbidden("That show belongs to another organizer.", field="showId")
    return show


async def add_door_staff(engine: AsyncEngine, viewer: Viewer | None, show_id: uuid.UUID, email: str) -> ShowRecord:
    """Lets the account with that e-mail check in this show's tickets. Adding someone twice is
    harmless. An e-mail with no account is NOT_FOUND: door staff sign up first (we never create
    accounts for people, nor mail strangers), and the organizer is told so."""
    show = await organized_show(engine, viewer, show_id)
    assert viewer is not None
    address = normalise_email(email)
    async with engine.begin() as conn:
        found = (await conn.execute(text(
            "WITH person AS (SELECT id FROM users WHERE lower(email) = lower(:e) ORDER BY id LIMIT 1), "
            "added AS (INSERT INTO door_staff (show_id, user_id, added_by) SELECT :s, id, :by FROM person "
            "  ON CONFLICT (show_id, user_id) DO NOTHING) "
            "SELECT id FROM person"), {"e": address, "s": show.id, "by": viewer.user_id})).first()
    if found is None:
        raise NotFound("No account has that e-mail address; ask them to sign up first.", field="email")
    return show
