"""The simulator's API key: derived from BOXOFFICE_SECRET, so every process of a deployment
(servers, `boxoffice reconcile`) holds the same one and nobody else does."""

from __future__ import annotations

import hashlib
import hmac

_LABEL = b"stripe-simulator-api-key-v1"


def simulator_api_key(secret: str) -> str:
    """A Stripe test-mode secret key for the mounted simulator; good for nothing else."""
    if not secret:
        raise ValueError("the simulator's API key needs a server secret")
    return "sk_test_" + hmac.new(secret.encode(), _LABEL, hashlib.sha256).hexdigest()[:48]


def key_matches(offered: str | None, keys: frozenset[str]) -> bool:
    """Constant-time against each accepted key."""
    if offered is None:
        return False
    found = False
    for key in keys:
        found |= hmac.compare_digest(offered.encode(), key.encode())
    return found
