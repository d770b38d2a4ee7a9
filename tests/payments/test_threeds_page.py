"""The simulator's 3-D Secure page writes the intent's amount in the currency's own units."""

from __future__ import annotations

import uuid

import httpx
import pytest

from boxoffice.payments.gateway import StripeGateway


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    (5000, "jpy", "5,000 JPY"),  # zero-decimal: the amount is whole yen, not hundredths
    (4000, "eur", "40.00 EUR"),
    (123456, "usd", "1,234.56 USD"),
])
async def test_challenge_page_shows_amount_in_currency_units(
        gateway: StripeGateway, http: httpx.AsyncClient, amount: int, currency: str, shown: str) -> None:
    intent = await gateway.create_intent(amount, currency, {"order_id": "ord_" + uuid.uuid4().hex[:12]},
                                         uuid.uuid4().hex, payment_method="pm_card_authenticationRequired",
                                         confirm=True)
    assert intent.status == "requires_action" and intent.next_action_url
    page = await http.get(intent.next_action_url)
    assert page.status_code == 200
    assert f"<strong>{shown}</strong>" in page.text
