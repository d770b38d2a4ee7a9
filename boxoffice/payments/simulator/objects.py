"""Simulator records and their Stripe-shaped JSON, plus Stripe-shaped API errors.

Field names and error shapes follow Stripe's REST API so the real SDK parses them:
the gateway must not be able to tell the simulator from Stripe test mode.
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

import stripe

# Pin the version we claim to speak to the SDK's own, so event.api_version matches.
API_VERSION: str = stripe.api_version

_ID_ALPHABET = string.ascii_letters + string.digits

# PaymentIntent statuses from which a confirm/cancel is allowed (as in Stripe).
CONFIRMABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})
CANCELABLE = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "processing"}
)

Json = dict[str, Any]


def new_id(prefix: str, length: int = 24) -> str:
    """Random letters and digits (a client secret is one): unbiased, bytes >= 248 skipped, from one
    read of the system's randomness rather than one per character."""
    chars: list[str] = []
    while len(chars) < length:
        chars += [_ID_ALPHABET[b % 62] for b in secrets.token_bytes(length + 8) if b < 248]
    return prefix + "_" + "".join(chars[:length])


def now_unix() -> int:
    return int(time.time())


@dataclass
class IntentRecord:
    id: str
    amount: int
    currency: str
    status: str
    client_secret: str
    created: int
    metadata: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    payment_method: str | None = None
    latest_charge: str | None = None
    amount_received: int = 0
    amount_refunded: int = 0
    last_payment_error: Json | None = None
    next_action: Json | None = None
    return_url: str | None = None
    cancellation_reason: str | None = None
    canceled_at: int | None = None
    succeeded_at: int | None = None


@dataclass
class RefundRecord:
    id: str
    payment_intent: str
    charge: str
    amount: int
    currency: str
    status: str
    created: int
    reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class DisputeRecord:
    id: str
    payment_intent: str
    charge: str
    amount: int
    currency: str
    status: str  # needs_response -> won | lost (Stripe's statuses)
    reason: str
    created: int


@dataclass(frozen=True)
class ApiResult:
    """What an endpoint produced. Stored verbatim for idempotent replay."""

    status: int
    body: Json


class ApiError(Exception):
    """An error raised before the endpoint changed anything: never stored for replay.

    Stripe saves idempotent results only once an endpoint begins executing; a
    request that fails validation can be retried with the same key.
    """

    def __init__(self, status: int, error: Json) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error

    @property
    def body(self) -> Json:
        return {"error": self.error}


def invalid_request(message: str, *, code: str | None = None, param: str | None = None,
                    status: int = 400, **extra: Any) -> ApiError:
    error: Json = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        error["param"] = param
    error.update(extra)
    return ApiError(status, error)


def resource_missing(kind: str, object_id: str, *, param: str, status: int = 404) -> ApiError:
    return invalid_request(f"No such {kind}: '{object_id}'", code="resource_missing",
                           param=param, status=status)


def api_error_body(message: str) -> Json:
    return {"error": {"type": "api_error",
                      "message": f"An unknown error occurred while processing the request. "
                                 f"({message})"}}


def unexpected_state(intent: IntentRecord, message: str) -> ApiError:
    return invalid_request(message, code="payment_intent_unexpected_state",
                           payment_intent=intent_json(intent))


def payment_method_json(pm_id: str, brand: str, last4: str) -> Json:
    return {"id": pm_id, "object": "payment_method", "type": "card",
            "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034,
                     "country": "US", "funding": "credit"},
            "livemode": False}


def intent_json(intent: IntentRecord) -> Json:
    return {
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_capturable": 0,
        "amount_received": intent.amount_received,
        "canceled_at": intent.canceled_at,
        "cancellation_reason": intent.cancellation_reason,
        "capture_method": "automatic",
        "client_secret": intent.client_secret,
        "confirmation_method": "automatic",
        "created": intent.created,
        "currency": intent.currency,
        "description": intent.description,
        "last_payment_error": intent.last_payment_error,
        "latest_charge": intent.latest_charge,
        "livemode": False,
        "metadata": dict(intent.metadata),
        "next_action": intent.next_action,
        "payment_method": intent.payment_method,
        "payment_method_types": ["card"],
        "status": intent.status,
    }


def charge_json(intent: IntentRecord, *, disputed: bool = False) -> Json:
    """The successful charge behind a succeeded intent (only what webhooks need)."""
    return {
        "id": intent.latest_charge,
        "object": "charge",
        "amount": intent.amount,
        "amount_captured": intent.amount,
        "amount_refunded": intent.amount_refunded,
        "captured": True,
        "created": intent.succeeded_at or intent.created,
        "currency": intent.currency,
        "disputed": disputed,
        "livemode": False,
        "metadata": dict(intent.metadata),
        "paid": True,
        "payment_intent": intent.id,
        "payment_method": intent.payment_method,
        "refunded": intent.amount_refunded >= intent.amount,
        "status": "succeeded",
    }


def refund_json(refund: RefundRecord) -> Json:
    return {
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "charge": refund.charge,
        "created": refund.created,
        "currency": refund.currency,
        "metadata": dict(refund.metadata),
        "payment_intent": refund.payment_intent,
        "reason": refund.reason,
        "status": refund.status,
    }


def dispute_json(dispute: DisputeRecord) -> Json:
    return {
        "id": dispute.id,
        "object": "dispute",
        "amount": dispute.amount,
        "charge": dispute.charge,
        "created": dispute.created,
        "currency": dispute.currency,
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": dispute.payment_intent,
        "reason": dispute.reason,
        "status": dispute.status,
    }


def event_json(event_id: str, event_type: str, obj: Json, created: int) -> Json:
    return {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
