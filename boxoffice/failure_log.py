"""Logging for loops that retry (background jobs, the outbox relay, notification consumers):
one traceback per outage, not one per attempt.

A sweeper retrying every 200 ms while PostgreSQL restarts would otherwise write a traceback five
times a second: it buries the first (useful) one, fills disks, and a stderr nobody reads (a full
pipe) blocks the whole event loop on its next write.
"""

from __future__ import annotations

import logging


class FailureStreak:
    """Failures of one retrying job: the first of a streak with its traceback, then every
    `every`-th as one line, and the recovery."""

    def __init__(self, log: logging.Logger, name: str, *, every: int = 100) -> None:
        self._log, self._name, self._every = log, name, every
        self.failures = 0

    def failed(self, error: BaseException) -> None:
        self.failures += 1
        if self.failures == 1:
            self._log.error("%s failed; retrying", self._name, exc_info=error)
        elif self.failures % self._every == 0:
            self._log.warning("%s still failing (%d in a row): %r", self._name, self.failures, error)

    def succeeded(self) -> None:
        if self.failures:
            self._log.warning("%s recovered after %d failures", self._name, self.failures)
            self.failures = 0
