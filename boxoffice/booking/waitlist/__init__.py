"""Waitlist offers: fans waiting for a sold-out show get returning seats first (issue 20)."""
