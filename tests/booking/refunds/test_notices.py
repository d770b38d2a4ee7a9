"""What the owners of refunded orders and of a cancelled show's orders read (in the app and by mail)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

from boxoffice.notifications.deliver import ShowInfo, compose

SHOW = ShowInfo(event_name="Hamlet", performer="Players", venue_name="Barbican", venue_city="London",
                starts_at=datetime(2030, 5, 1, 19, 30, tzinfo=timezone.utc))
ORDER = SimpleNamespace(id=uuid.uuid4(), ticket_count=2, total_cents=9100, currency="GBP")


def test_order_refunded_says_how_much_and_that_the_tickets_are_void() -> None:
    notice = compose("ORDER_REFUNDED", {"orderId": str(ORDER.id), "refunded": True}, name="Ada", show=SHOW,
                     order=ORDER, hold=None)
    assert notice.subject == "Your order for Hamlet was refunded"
    assert "91.00 GBP" in notice.body and "no longer valid" in notice.body and str(ORDER.id) in notice.body


def test_show_cancelled_gives_the_reason_and_the_refund() -> None:
    notice = compose("SHOW_CANCELLED", {"reason": "Storm warning", "refunded": True}, name="Ada", show=SHOW,
                     order=ORDER, hold=None)
    assert notice.subject == "Hamlet is cancelled: your order is refunded"
    assert "(Storm warning)" in notice.body and "refunded in full" in notice.body
    assert "Barbican, London" in notice.body
