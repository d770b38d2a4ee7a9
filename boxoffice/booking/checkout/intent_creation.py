"""An order's PaymentIntent: created and confirmed in one call when the fan pays, found again by
its creation key when an answer was lost.

One creation key per order (`intent_key`) stands for one of two requests, whichever Stripe saw first:
- the fan's first payment: the card and confirm=true in the creation (one call to Stripe, not two);
- a plain creation, no card: what reconciliation sends to find an intent whose id never reached us,
  and what a fan paying with another card sends first. It charges nothing.
Stripe binds a key to the parameters first sent with it and refuses any others (`idempotency_error`),
so a refusal says the other request ran first, and repeating *its* parameters answers the intent it
made. The card request's card is stored on the payment before the call (`first_payment_method`,
migration 0016) so any process can repeat it exactly. Hence: an order has at most one intent; a card
is charged only by a request carrying that card; a lost answer, repeated, charges nothing again.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

from ...payments.gateway import IntentView, PaymentDeclined, PaymentRequestRejected, StripeGateway


def intent_key(order_id: uuid.UUID) -> str:
    """One PaymentIntent per order, however many times creation is retried."""
    return f"boxoffice-intent-{order_id}"


def _binding(secret: str, order_id: str) -> str:
    key = hmac.new(secret.encode(), b"payment-intent-binding-v1", hashlib.sha256).digest()
    return hmac.new(key, order_id.encode(), hashlib.sha256).hexdigest()[:40]


def intent_metadata(secret: str, order_id: uuid.UUID) -> dict[str, str]:
    """The metadata of the intent boxoffice creates for an order, signed: should the intent's id
    never reach us (its creation answer lost), only a signature we made binds it to the order."""
    return {"order_id": str(order_id), "order_binding": _binding(secret, str(order_id))}


def signed_order(secret: str, intent: IntentView) -> uuid.UUID | None:
    """The order an intent's metadata names, if boxoffice signed that metadata."""
    claimed, binding = intent.metadata.get("order_id", ""), intent.metadata.get("order_binding", "")
    if not binding or not hmac.compare_digest(binding.encode(), _binding(secret, claimed).encode()):
        return None
    try:
        return uuid.UUID(claimed)
    except ValueError:
        return None


@dataclass(frozen=True)
class OrderIntent:
    intent: IntentView
    charged_card: bool  # this call's answer is the outcome of charging the card it was asked for


@dataclass(frozen=True)
class IntentRequest:
    """What an order's intent is created with: the same every time, so Stripe can replay it."""
    order_id: uuid.UUID
    amount_cents: int
    currency: str
    secret: str
    return_url: str | None


async def open_order_intent(gateway: StripeGateway, request: IntentRequest, *, card: str | None,
                            stored_card: str | None) -> OrderIntent:
    """The order's intent, created if need be. `card`: charge it in the creation (the fan's first
    payment, stored as `stored_card` already), or None for a plain creation. `stored_card`: the
    card of the order's card request, if one may have been sent, repeated if Stripe says it came
    first. A decline of the charge asked for is raised (PaymentDeclined); a decline replayed from an
    earlier request is only that request's outcome, answered with charged_card False."""
    try:
        return OrderIntent(await _create(gateway, request, card), charged_card=card is not None)
    except PaymentRequestRejected as err:
        if err.code != "idempotency_error":
            raise
    # The key went with the other request first: repeat that one, whose answer Stripe stored.
    other = None if card is not None else stored_card
    if card is None and other is None:
        raise PaymentRequestRejected("The order's payment key was used for another request.",
                                     http_status=400, code="idempotency_error")
    try:
        return OrderIntent(await _create(gateway, request, other), charged_card=False)
    except PaymentDeclined as err:
        return OrderIntent(err.intent, charged_card=False)


async def _create(gateway: StripeGateway, request: IntentRequest, card: str | None) -> IntentView:
    metadata = intent_metadata(request.secret, request.order_id)
    key = intent_key(request.order_id)
    if card is None:
        return await gateway.create_intent(request.amount_cents, request.currency.lower(), metadata, key)
    return await gateway.create_intent(request.amount_cents, request.currency.lower(), metadata, key,
                                       payment_method=card, confirm=True, return_url=request.return_url)
