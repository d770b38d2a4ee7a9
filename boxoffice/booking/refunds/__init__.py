"""Refund policy, refunds of confirmed orders and show cancellation (issue 19)."""
