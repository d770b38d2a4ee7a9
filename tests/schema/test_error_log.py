"""A client's bad query is one line at INFO; an unexpected exception keeps its traceback at ERROR."""

from __future__ import annotations

import logging

import pytest
from graphql import GraphQLError

from boxoffice.schema.build import build_schema
from boxoffice.schema.error_log import log


async def test_a_bad_query_is_one_info_line(caplog: pytest.LogCaptureFixture) -> None:
    schema = build_schema()
    with caplog.at_level(logging.INFO, logger=log.name):
        result = await schema.execute("{ nope }")
        await schema.execute("{ serverTime")
    assert result.errors and "nope" in result.errors[0].message
    records = [r for r in caplog.records if r.name == log.name]
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]
    assert all("\n" not in r.getMessage() and r.exc_info is None for r in records)
    assert "Cannot query field 'nope' on type 'Query'. at 1:3" in records[0].getMessage()


def test_an_unexpected_exception_is_an_error_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise RuntimeError("the database went away")
    except RuntimeError as fault:
        error = GraphQLError("the database went away", original_error=fault)
    with caplog.at_level(logging.INFO, logger=log.name):
        build_schema().process_errors([error])
    [record] = [r for r in caplog.records if r.name == log.name]
    assert record.levelno == logging.ERROR and record.exc_info and record.exc_info[1] is error.original_error
