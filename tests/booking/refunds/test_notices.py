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


CANCELLED = ShowInfo(event_name="Hamlet", performer="Players", venue_name="Barbican", venue_city="London",
                     starts_at=datetime(2030, 5, 1, 19, 30, tzinfo=timezone.utc), cancelled=True,
                     cancel_reason="Venue flooded")


def test_a_hold_or_unpaid_order_ended_by_the_cancellation_says_so() -> None:
    """They were told their hold expired and the seats went back on sale, to pick seats again."""
    hold = SimpleNamespace(ticket_count=2, waitlist_offer=False)
    for kind, payload, held in (("HOLD_EXPIRED", {}, hold), ("HOLD_EXPIRED", {}, SimpleNamespace(
            ticket_count=1, waitlist_offer=True)), ("ORDER_CANCELLED", {}, None)):
        notice = compose(kind, payload, name="Ada", show=CANCELLED, order=None, hold=held)
        assert notice.subject == "Hamlet is cancelled", notice
        assert "cancelled (Venue flooded)" in notice.body and "not been charged" in notice.body, notice.body
        assert "back on sale" not in notice.body and "again" not in notice.body
    late = compose("ORDER_CANCELLED", {"refunded": True}, name="Ada", show=CANCELLED, order=ORDER, hold=None)
    assert "payment refunded" in late.body
    waiting = compose("SHOW_CANCELLED", {"waitlist": True}, name="Ada", show=CANCELLED, order=None, hold=None)
    assert waiting.subject == "Hamlet is cancelled" and "waitlist" in waiting.body
    # Not cancelled: as before.
    expired = compose("HOLD_EXPIRED", {}, name="Ada", show=SHOW, order=None, hold=hold)
    assert expired.subject == "Your hold on Hamlet expired"


def test_a_one_ticket_waitlist_offer_reads_in_the_singular() -> None:
    one = SimpleNamespace(ticket_count=1, waitlist_offer=True)
    offer = compose("WAITLIST_OFFER", {"offerMinutes": 10}, name="Ada", show=SHOW, order=None, hold=one)
    assert "1 ticket came back and is held for you for 10 minutes." in offer.body, offer.body
    missed = compose("HOLD_EXPIRED", {}, name="Ada", show=SHOW, order=None, hold=one)
    assert "was not bought in time: it passed" in missed.body, missed.body


def test_a_refund_after_a_resale_says_what_comes_back() -> None:
    """It said the order's whole total was refunded: its resold ticket's part had been paid back already."""
    refunded = compose("ORDER_REFUNDED", {"orderId": str(ORDER.id), "refunded": True, "amountCents": 4100},
                       name="Ada", show=SHOW, order=ORDER, hold=None)
    assert "41.00 GBP comes back to you" in refunded.body, refunded.body
    cancelled = compose("SHOW_CANCELLED", {"reason": "Storm", "refunded": True, "amountCents": 4100}, name="Ada",
                        show=SHOW, order=ORDER, hold=None)
    assert "41.00 GBP is refunded" in cancelled.body and "in full" not in cancelled.body
    whole = compose("SHOW_CANCELLED", {"reason": "Storm", "refunded": True, "amountCents": 9100}, name="Ada",
                    show=SHOW, order=ORDER, hold=None)
    assert "refunded in full" in whole.body
