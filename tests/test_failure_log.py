"""A retrying job's log: one traceback per outage, a line now and then, and the recovery."""

from __future__ import annotations

import logging

import pytest

from boxoffice.failure_log import FailureStreak


def test_an_outage_logs_one_traceback_then_a_line_every_hundred_failures(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("boxoffice.test.streak")
    streak = FailureStreak(log, "hold sweeper")
    with caplog.at_level(logging.WARNING, logger=log.name):
        for _ in range(250):  # a 50-second database restart at one attempt per 200 ms
            streak.failed(ConnectionRefusedError("connection refused"))
        streak.succeeded()
        streak.succeeded()
    records = caplog.records
    assert [r.levelname for r in records] == ["ERROR", "WARNING", "WARNING", "WARNING"]
    assert records[0].exc_info is not None and "hold sweeper failed" in records[0].getMessage()
    assert all(r.exc_info is None for r in records[1:])
    assert "100 in a row" in records[1].getMessage() and "200 in a row" in records[2].getMessage()
    assert records[3].getMessage() == "hold sweeper recovered after 250 failures"


def test_a_new_outage_after_recovery_logs_its_own_traceback(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("boxoffice.test.streak2")
    streak = FailureStreak(log, "reconcile")
    with caplog.at_level(logging.WARNING, logger=log.name):
        streak.failed(TimeoutError("first"))
        streak.succeeded()
        streak.failed(TimeoutError("second"))
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert [str(r.exc_info[1]) for r in tracebacks if r.exc_info] == ["first", "second"]
