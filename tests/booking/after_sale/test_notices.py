"""What TICKET_TRANSFERRED and RESALE_SOLD say, in the app and by mail (notifications/deliver.py compose)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

from boxoffice.notifications.deliver import ShowInfo, compose

SHOW = ShowInfo("Flash", "P", "Arena", "Lisbon", datetime(2030, 5, 1, 19, 30, tzinfo=timezone.utc), "Europe/Lisbon")


def test_both_sides_of_a_transfer_are_told_what_happened() -> None:
    offered = compose("TICKET_TRANSFERRED", {"stage": "offered"}, name="Ana", show=SHOW, order=None, hold=None)
    accepted = compose("TICKET_TRANSFERRED", {"stage": "accepted"}, name="Bo", show=SHOW, order=None, hold=None)
    received = compose("TICKET_TRANSFERRED", {"stage": "received"}, name="Ana", show=SHOW, order=None, hold=None)
    assert offered.subject == "A ticket for Flash is offered to you" and "Accept it" in offered.body
    assert accepted.subject == "Your ticket for Flash was accepted" and "no longer yours" in accepted.body
    assert received.subject == "Your ticket for Flash" and "new code" in received.body
    assert "20:30" in received.body  # the show's time in the venue's zone


def test_the_seller_is_told_the_resale_price_and_the_refund() -> None:
    order = SimpleNamespace(id=uuid.uuid4(), total_cents=5000, currency="EUR", ticket_count=1)
    sold = compose("RESALE_SOLD", {"priceCents": 4500}, name="Cy", show=SHOW, order=order, hold=None)
    assert sold.subject == "Your ticket for Flash was resold"
    assert "45.00 EUR" in sold.body and "refunded by the resale price" in sold.body
