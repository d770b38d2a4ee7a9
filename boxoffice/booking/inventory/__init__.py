"""Seat inventory: holds (reserved and general admission), their release and expiry, group commit, seat maps and the per-process seat boards."""
