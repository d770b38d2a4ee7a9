"""From hold to ticket: orders, Stripe payments and their settlement, webhooks and reconciliation, disputes, tickets and their PDFs, a fan's history."""
