"""warehouse.clickhouse's translation of driver errors: the error's code decides its fate."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from warehouse import clickhouse

BAD_PARAMETER = (
    "Code: 457. DB::Exception: Value 1-01-01 00:00:00.000000 cannot be parsed as DateTime64(3, 'UTC') for query "
    "parameter 'start' because it isn't parsed completely: only 10 of 23 bytes was parsed: 1-01-01 00. "
    "(BAD_QUERY_PARAMETER)"
)


def test_a_bad_query_parameter_is_the_callers_error_naming_the_parameter():
    translated = clickhouse.translate(DatabaseError(BAD_PARAMETER))
    assert isinstance(translated, clickhouse.ClickHouseBadParameter)
    assert isinstance(translated, clickhouse.ClickHouseRejected)  # callers that handle refusals still do
    assert str(translated).startswith("Value 1-01-01") and "'start'" in str(translated)


@pytest.mark.parametrize(
    "exc, expected",
    [
        (
            DatabaseError("Code: 27. DB::Exception: Cannot parse input (CANNOT_PARSE_INPUT_ASSERTION_FAILED)"),
            clickhouse.ClickHouseRejected,
        ),
        (DatabaseError("Code: 252. DB::Exception: Too many parts (TOO_MANY_PARTS)"), clickhouse.ClickHouseUnavailable),
        (OperationalError("connection refused"), clickhouse.ClickHouseUnavailable),
    ],
)
def test_other_errors_keep_their_translation(exc, expected):
    translated = clickhouse.translate(exc)
    assert type(translated) is expected


def test_translated_raises_the_translation():
    with pytest.raises(clickhouse.ClickHouseBadParameter), clickhouse.translated():
        raise DatabaseError(BAD_PARAMETER)
