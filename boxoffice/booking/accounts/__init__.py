"""Accounts: sign-up and log-in, passwords, sessions and tokens, roles, rate limits and abuse guards."""
