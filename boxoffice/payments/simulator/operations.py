"""PaymentIntent and Refund behaviour: Stripe's state machine with its test cards.

Every method runs inside the caller's transaction. Raising ApiError means nothing
changed (and nothing is stored for idempotent replay); returning an ApiResult,
even a 402 decline, means the state change and its events are committed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .objects import (
    CANCELABLE,
    CONFIRMABLE,
    ApiResult,
    DisputeRecord,
    IntentRecord,
    Json,
    RefundRecord,
    invalid_request,
    intent_json,
    charge_json,
    dispute_json,
    new_id,
    now_unix,
    payment_method_json,
    refund_json,
    resource_missing,
    unexpected_state,
)
from .store import Db, SimulatorStore


@dataclass(frozen=True)
class TestCard:
    outcome: str  # "succeed" | "decline" | "authenticate"
    brand: str = "visa"
    last4: str = "4242"
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None


_DECLINED = "Your card was declined."
# Stripe's test PaymentMethod ids (https://docs.stripe.com/testing).
TEST_CARDS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("succeed"),
    "pm_card_mastercard": TestCard("succeed", "mastercard", "4444"),
    "pm_card_amex": TestCard("succeed", "amex", "8431"),
    "pm_card_visa_chargeDeclined": TestCard(
        "decline", last4="0002", code="card_declined", decline_code="generic_decline",
        message=_DECLINED),
    "pm_card_visa_chargeDeclinedInsufficientFunds": TestCard(
        "decline", last4="9995", code="card_declined", decline_code="insufficient_funds",
        message="Your card has insufficient funds."),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard(
        "decline", last4="9995", code="card_declined", decline_code="insufficient_funds",
        message="Your card has insufficient funds."),
    "pm_card_visa_chargeDeclinedExpiredCard": TestCard(
        "decline", last4="0069", code="expired_card", decline_code="expired_card",
        message="Your card has expired."),
    "pm_card_authenticationRequired": TestCard("authenticate", last4="3184"),
    "pm_card_threeDSecure2Required": TestCard("authenticate", last4="3220"),
}


def _int_param(params: Json, name: str, *, required: bool) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise invalid_request(f"Missing required param: {name}.", code="parameter_missing",
                                  param=name)
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise invalid_request(f"Invalid integer: {raw}", code="parameter_invalid_integer",
                              param=name) from None
    if value < 1:
        raise invalid_request("This value must be greater than or equal to 1.",
                              code="parameter_invalid_integer", param=name)
    if value > 99_999_999:
        raise invalid_request("Amount must be no more than $999,999.99", code="amount_too_large",
                              param=name)
    return value


def _str_param(params: Json, name: str) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise invalid_request(f"Invalid string: {name}", code="parameter_invalid_string",
                              param=name)
    return raw


def _metadata(params: Json, current: dict[str, str]) -> dict[str, str]:
    """Stripe merges metadata keys; an empty value (or `metadata=""`) unsets."""
    raw = params.get("metadata")
    if raw is None:
        return current
    if raw == "":
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise invalid_request("Invalid metadata: must be a hash of strings.",
                              code="parameter_invalid_empty", param="metadata")
    if len(raw) > 50 or any(len(k) > 40 or len(v) > 500 for k, v in raw.items()):
        raise invalid_request("Invalid metadata: at most 50 keys, keys up to 40 characters, "
                              "values up to 500.", code="parameter_invalid_empty",
                              param="metadata")
    merged = {**current, **raw}
    return {k: v for k, v in merged.items() if v != ""}


def _confirm_flag(params: Json) -> bool:
    return str(params.get("confirm", "false")).lower() == "true"


Persist = Callable[[Db, IntentRecord], Awaitable[None]]


class PaymentOperations:
    def __init__(self, store: SimulatorStore, *,
                 authentication_url: Callable[[IntentRecord], str]) -> None:
        self._store = store
        self._authentication_url = authentication_url  # intent -> its 3-D Secure page

    async def _intent(self, conn: Db, intent_id: str, *, lock: bool) -> IntentRecord:
        intent = await self._store.load_intent(conn, intent_id, for_update=lock)
        if intent is None:
            raise resource_missing("payment_intent", intent_id, param="intent")
        return intent

    # -- PaymentIntents ---------------------------------------------------------

    async def create_intent(self, conn: Db, params: Json) -> ApiResult:
        amount = _int_param(params, "amount", required=True)
        currency = _str_param(params, "currency")
        if currency is None:
            raise invalid_request("Missing required param: currency.", code="parameter_missing",
                                  param="currency")
        if len(currency) != 3 or not currency.isalpha():
            raise invalid_request(f"Invalid currency: {currency}.", code="parameter_invalid_string",
                                  param="currency")
        intent_id = new_id("pi")
        payment_method = _str_param(params, "payment_method")
        if payment_method is not None:
            self._card(payment_method)  # unknown ids are rejected up front, as on Stripe
        assert amount is not None
        intent = IntentRecord(
            id=intent_id, amount=amount, currency=currency.lower(),
            status="requires_confirmation" if payment_method else "requires_payment_method",
            client_secret=f"{intent_id}_secret_{new_id('s')[2:]}", created=now_unix(),
            metadata=_metadata(params, {}), description=_str_param(params, "description"),
            payment_method=payment_method)
        confirm = _confirm_flag(params)
        if confirm and payment_method is None:
            raise invalid_request("You must provide a payment_method when confirm is true.",
                                  code="parameter_missing", param="payment_method")
        if confirm:  # charged in its creation: stored once, as the charge leaves it
            return await self._charge(conn, intent, payment_method or "", _str_param(params, "return_url"),
                                      persist=self._store.insert_intent)
        await self._store.insert_intent(conn, intent)
        return ApiResult(200, intent_json(intent))

    async def retrieve_intent(self, conn: Db, intent_id: str) -> ApiResult:
        return ApiResult(200, intent_json(await self._intent(conn, intent_id, lock=False)))

    async def update_intent(self, conn: Db, intent_id: str, params: Json) -> ApiResult:
        intent = await self._intent(conn, intent_id, lock=True)
        amount = _int_param(params, "amount", required=False)
        if amount is not None and amount != intent.amount:
            if intent.status not in CONFIRMABLE:
                raise unexpected_state(intent, "You cannot update this PaymentIntent's amount "
                                               f"because it has a status of {intent.status}.")
            intent.amount = amount
        intent.metadata = _metadata(params, intent.metadata)
        description = params.get("description")
        if isinstance(description, str):
            intent.description = description or None
        await self._store.save_intent(conn, intent)
        return ApiResult(200, intent_json(intent))

    async def confirm_intent(self, conn: Db, intent_id: str, params: Json) -> ApiResult:
        intent = await self._intent(conn, intent_id, lock=True)
        if intent.status not in CONFIRMABLE:
            if intent.status == "succeeded":
                message = ("You cannot confirm this PaymentIntent because it has already "
                           "succeeded after being previously confirmed.")
            else:
                message = (f"You cannot confirm this PaymentIntent because it has a status of "
                           f"{intent.status}.")
            raise unexpected_state(intent, message)
        payment_method = _str_param(params, "payment_method") or intent.payment_method
        if payment_method is None:
            raise unexpected_state(intent, "You cannot confirm this PaymentIntent because it's "
                                           "missing a payment method. Update the PaymentIntent "
                                           "with a payment method and then confirm it again.")
        return await self._charge(conn, intent, payment_method,
                                  _str_param(params, "return_url") or intent.return_url)

    async def cancel_intent(self, conn: Db, intent_id: str, params: Json) -> ApiResult:
        intent = await self._intent(conn, intent_id, lock=True)
        if intent.status not in CANCELABLE:
            raise unexpected_state(intent, "You cannot cancel this PaymentIntent because it has "
                                           f"a status of {intent.status}.")
        intent.status = "canceled"
        intent.canceled_at = now_unix()
        intent.cancellation_reason = _str_param(params, "cancellation_reason")
        intent.next_action = None
        await self._store.save_intent(conn, intent)
        await self._event(conn, "payment_intent.canceled", intent)
        return ApiResult(200, intent_json(intent))

    async def finish_authentication(self, conn: Db, intent_id: str, *,
                                    approved: bool) -> IntentRecord:
        """The customer's answer on the 3-D Secure page."""
        intent = await self._intent(conn, intent_id, lock=True)
        if intent.status != "requires_action":
            raise unexpected_state(intent, "This PaymentIntent does not require authentication; "
                                           f"its status is {intent.status}.")
        intent.next_action = None
        if approved:
            await self._succeed(conn, intent)
            return intent
        pm = intent.payment_method or ""
        card = TEST_CARDS.get(pm, TestCard("authenticate"))
        intent.status = "requires_payment_method"
        intent.payment_method = None
        intent.last_payment_error = {
            "code": "payment_intent_authentication_failure",
            "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
            "message": ("The provided PaymentMethod has failed authentication. You can provide "
                        "payment_method_data or a new PaymentMethod to attempt to fulfill this "
                        "PaymentIntent again."),
            "payment_method": payment_method_json(pm, card.brand, card.last4),
            "type": "invalid_request_error",
        }
        await self._store.save_intent(conn, intent)
        await self._event(conn, "payment_intent.payment_failed", intent)
        return intent

    # -- Refunds ---------------------------------------------------------------

    async def create_refund(self, conn: Db, params: Json) -> ApiResult:
        intent_id = _str_param(params, "payment_intent")
        if intent_id is None:
            raise invalid_request("One of the following params should be provided for this "
                                  "request: payment_intent or charge.", code="parameter_missing",
                                  param="payment_intent")
        intent = await self._store.load_intent(conn, intent_id, for_update=True)
        if intent is None:
            raise resource_missing("payment_intent", intent_id, param="payment_intent", status=400)
        if intent.status != "succeeded" or intent.latest_charge is None:
            raise invalid_request(f"This PaymentIntent ({intent.id}) does not have a successful "
                                  "charge to refund.", code="charge_not_refundable",
                                  param="payment_intent")
        if await self._store.charge_disputed(conn, intent.latest_charge, unless_won=True):
            raise invalid_request(f"Charge {intent.latest_charge} has been charged back; cannot "
                                  "issue a refund.", code="charge_disputed")
        remaining = intent.amount - intent.amount_refunded
        if remaining <= 0:
            raise invalid_request(f"Charge {intent.latest_charge} has already been refunded.",
                                  code="charge_already_refunded")
        amount = _int_param(params, "amount", required=False) or remaining
        if amount > remaining:
            raise invalid_request(f"Refund amount ({amount}) is greater than unrefunded amount on "
                                  f"charge ({remaining})", code="amount_too_large", param="amount")
        refund = RefundRecord(id=new_id("re"), payment_intent=intent.id,
                              charge=intent.latest_charge, amount=amount,
                              currency=intent.currency, status="succeeded", created=now_unix(),
                              reason=_str_param(params, "reason"),
                              metadata=_metadata(params, {}))
        intent.amount_refunded += amount
        await self._store.save_intent(conn, intent)
        await self._store.insert_refund(conn, refund)
        await self._store.outbox.record_event(conn, "charge.refunded", charge_json(intent),
                                              group_key=intent.id)
        return ApiResult(200, refund_json(refund))

    async def retrieve_refund(self, conn: Db, refund_id: str) -> ApiResult:
        refund = await self._store.load_refund(conn, refund_id)
        if refund is None:
            raise resource_missing("refund", refund_id, param="id")
        return ApiResult(200, refund_json(refund))

    # -- Charges and disputes -------------------------------------------------

    async def retrieve_charge(self, conn: Db, charge_id: str) -> ApiResult:
        intent = await self._store.load_intent_by_charge(conn, charge_id)
        if intent is None:
            raise resource_missing("charge", charge_id, param="id")
        disputed = await self._store.charge_disputed(conn, charge_id)
        return ApiResult(200, charge_json(intent, disputed=disputed))

    async def retrieve_dispute(self, conn: Db, dispute_id: str) -> ApiResult:
        dispute = await self._store.load_dispute(conn, dispute_id)
        if dispute is None:
            raise resource_missing("dispute", dispute_id, param="dispute")
        return ApiResult(200, dispute_json(dispute))

    async def open_dispute(self, conn: Db, intent_id: str, reason: str) -> DisputeRecord:
        """The card holder charges back (test mode only: the bank's side of a dispute)."""
        intent = await self._intent(conn, intent_id, lock=True)
        if intent.status != "succeeded" or intent.latest_charge is None:
            raise invalid_request(f"PaymentIntent {intent.id} has no successful charge to dispute.",
                                  code="charge_not_disputable", param="payment_intent")
        if await self._store.charge_disputed(conn, intent.latest_charge):
            raise invalid_request(f"Charge {intent.latest_charge} is already disputed.",
                                  code="charge_already_disputed", param="payment_intent")
        dispute = DisputeRecord(id=new_id("dp"), payment_intent=intent.id, charge=intent.latest_charge,
                                amount=intent.amount - intent.amount_refunded, currency=intent.currency,
                                status="needs_response", reason=reason, created=now_unix())
        await self._store.insert_dispute(conn, dispute)
        await self._store.outbox.record_event(conn, "charge.dispute.created", dispute_json(dispute),
                                              group_key=intent.id)
        return dispute

    async def close_dispute(self, conn: Db, dispute_id: str, outcome: str) -> DisputeRecord:
        dispute = await self._store.load_dispute(conn, dispute_id, for_update=True)
        if dispute is None:
            raise resource_missing("dispute", dispute_id, param="dispute")
        if outcome not in ("won", "lost"):
            raise invalid_request("status must be won or lost.", param="status")
        if dispute.status in ("won", "lost"):
            raise invalid_request(f"Dispute {dispute.id} is already closed ({dispute.status}).",
                                  code="dispute_already_closed")
        dispute.status = outcome
        await self._store.save_dispute_status(conn, dispute)
        await self._store.outbox.record_event(conn, "charge.dispute.closed", dispute_json(dispute),
                                              group_key=dispute.payment_intent)
        return dispute

    # -- the card network ------------------------------------------------------

    def _card(self, payment_method: str) -> TestCard:
        card = TEST_CARDS.get(payment_method)
        if card is None:
            raise resource_missing("PaymentMethod", payment_method, param="payment_method",
                                   status=400)
        return card

    async def _charge(self, conn: Db, intent: IntentRecord, payment_method: str, return_url: str | None,
                      *, persist: Persist | None = None) -> ApiResult:
        """`persist`: how the charged intent is stored (an intent created by this call is inserted)."""
        persist = persist or self._store.save_intent
        card = self._card(payment_method)
        intent.payment_method = payment_method
        intent.return_url = return_url
        intent.last_payment_error = None
        intent.next_action = None
        if card.outcome == "succeed":
            await self._succeed(conn, intent, persist)
            return ApiResult(200, intent_json(intent))
        if card.outcome == "authenticate":
            intent.status = "requires_action"
            intent.next_action = {"type": "redirect_to_url", "redirect_to_url": {
                "url": self._authentication_url(intent), "return_url": return_url}}
            await persist(conn, intent)
            return ApiResult(200, intent_json(intent))
        return await self._decline(conn, intent, card, payment_method, persist)

    async def _succeed(self, conn: Db, intent: IntentRecord, persist: Persist | None = None) -> None:
        intent.status = "succeeded"
        intent.amount_received = intent.amount
        intent.latest_charge = new_id("ch")
        intent.last_payment_error = None
        intent.succeeded_at = now_unix()
        await (persist or self._store.save_intent)(conn, intent)
        await self._event(conn, "payment_intent.succeeded", intent)

    async def _decline(self, conn: Db, intent: IntentRecord, card: TestCard, payment_method: str,
                       persist: Persist) -> ApiResult:
        charge_id = new_id("ch")
        error: dict[str, Any] = {
            "charge": charge_id,
            "code": card.code,
            "decline_code": card.decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{(card.code or '').replace('_', '-')}",
            "message": card.message,
            "payment_method": payment_method_json(payment_method, card.brand, card.last4),
            "type": "card_error",
        }
        intent.status = "requires_payment_method"
        intent.payment_method = None
        intent.latest_charge = charge_id
        intent.last_payment_error = error
        await persist(conn, intent)
        await self._event(conn, "payment_intent.payment_failed", intent)
        return ApiResult(402, {"error": {**error, "payment_intent": intent_json(intent)}})

    async def _event(self, conn: Db, event_type: str, intent: IntentRecord) -> None:
        await self._store.outbox.record_event(conn, event_type, intent_json(intent),
                                              group_key=intent.id)
