"""Refund policy types of the contract (issue 19)."""

from __future__ import annotations

import strawberry


@strawberry.type
class RefundPolicy:
    fan_refunds_until_hours_before: int | None = strawberry.field(description=(
        "Fans may refund their own orders until this many hours before the show; null: never."))


@strawberry.input
class RefundPolicyInput:
    # Left out: the setting stays as it is; null hours: fans never refund.
    fan_refunds_until_hours_before: int | None = strawberry.UNSET
    resale_cap_percent: int | None = strawberry.UNSET
