"""A Stripe test-mode simulator: Stripe's REST shapes, signed webhooks, state in PostgreSQL.

Used when STRIPE_API_KEY is unset (never in production): the main app mounts
`SimulatorService.app` at /stripe-sim and points the real stripe SDK (through the gateway) at
it, with the API key `simulator_api_key(BOXOFFICE_SECRET)`; no other key is answered.
`boxoffice stripe-sim` serves the same app as its own process (process.py), for a deployment
that treats it exactly as Stripe: STRIPE_API_KEY, STRIPE_API_BASE, STRIPE_WEBHOOK_SECRET.
"""

from .app import create_simulator_app
from .delivery import WebhookDeliveryWorker, sign_payload
from .faults import Faults
from .keys import simulator_api_key
from .operations import TEST_CARDS
from .service import SimulatorService
from .store import SimulatorStore

__all__ = [
    "Faults",
    "SimulatorService",
    "SimulatorStore",
    "TEST_CARDS",
    "WebhookDeliveryWorker",
    "create_simulator_app",
    "sign_payload",
    "simulator_api_key",
]
