"""Which payment provider a deployment uses, and what the operator is told about it at start-up."""

from __future__ import annotations

from ..config import Settings

NO_STRIPE_IN_PRODUCTION = ("boxoffice: BOXOFFICE_ENV=production needs STRIPE_API_KEY: without it payments would "
                           "go to the built-in Stripe simulator, where every card pays and no money moves")
UNSIGNED_WEBHOOKS = ("STRIPE_API_KEY is set without STRIPE_WEBHOOK_SECRET: every Stripe webhook would be refused "
                     "as unsigned (3-D Secure payments, disputes and refunds made from Stripe's side would wait "
                     "for `boxoffice reconcile`); set it to the endpoint's signing secret (whsec_…)")
NO_WEBHOOK_SECRET = f"boxoffice: {UNSIGNED_WEBHOOKS}"
SIMULATED = ("boxoffice: warning: STRIPE_API_KEY is not set: payments are SIMULATED by the built-in Stripe "
             "simulator at /stripe-sim (no money moves; never use this for a real sale)")


STRIPE_API = "https://api.stripe.com"


def stripe_endpoint(settings: Settings, simulator_key: str) -> tuple[str, str]:
    """(API key, API base) the gateway uses: the operator's STRIPE_API_KEY and STRIPE_API_BASE
    (Stripe itself, or e.g. `boxoffice stripe-sim`, when the base is unset: api.stripe.com), else the
    simulator mounted at /stripe-sim under its own key."""
    if settings.simulated_stripe:
        return simulator_key, settings.stripe_api_base or f"{settings.public_url}/stripe-sim"
    return settings.stripe_api_key or "", settings.stripe_api_base or STRIPE_API


def refusal(settings: Settings) -> str | None:
    """Why this deployment must not start, as far as payments go; None if it may."""
    if settings.production and settings.simulated_stripe:
        return NO_STRIPE_IN_PRODUCTION
    if settings.production and not settings.stripe_webhook_secret:
        return NO_WEBHOOK_SECRET
    return None


def warning(settings: Settings) -> str | None:
    if settings.simulated_stripe:
        return SIMULATED
    return None if settings.stripe_webhook_secret else f"boxoffice: warning: {UNSIGNED_WEBHOOKS}"
