"""Building the ClickHouse statements (pure); their behaviour runs in tests/integration/test_clickhouse_ingest.py."""

from __future__ import annotations

import pytest

from warehouse.queries.inserts import file_source, input_source, insert_wire_events, retention_expression, structure
from warehouse.queries.rollups import MINUTE_TABLES, refresh_sql, rolled_up_or_raw
from warehouse.tables import TABLES, Database, kinds_in


def test_retention_is_a_constant_without_overrides_and_escaped_with_them():
    assert retention_expression(30, {}) == "toUInt16(30)"
    expression = retention_expression(30, {"pay'ments": 400, "a\\b": 7})
    assert expression == r"toUInt16(transform(`service`, ['pay\'ments', 'a\\b'], [400, 7], 30))"


@pytest.mark.parametrize("kind", kinds_in(Database.CLICKHOUSE))
def test_every_column_is_filled_and_read_under_its_wire_name(kind):
    table = TABLES[kind]
    statement = insert_wire_events(table, input_source(table), "toUInt16(30)")
    fields = structure(table)
    assert fields.startswith("`kind` String, `event_id` String, `ts` Nullable(Int64), `service` String")
    assert "`timestamp`" not in fields  # the wire form calls it ts
    columns = statement[statement.index("(") + 1 : statement.index(")")]
    assert columns.split(", ") == [f"`{name}`" for name in table.column_names]
    assert f"`kind` != '{kind}'" in statement


def test_file_source_quotes_the_path():
    source = file_source("/tmp/it's.jsonl", TABLES["log"])
    assert source.startswith(r"file('/tmp/it\'s.jsonl', 'JSONEachRow', '`kind` String")


@pytest.mark.parametrize("rollup", [r for tables in MINUTE_TABLES.values() for r in tables], ids=lambda r: r.target)
def test_rollups_refresh_and_read_the_same_aggregates(rollup):
    refresh = refresh_sql(rollup)
    assert refresh.startswith(f"INSERT INTO {rollup.target} ({', '.join(rollup.columns)}, refreshed_at)")
    assert f"FROM {rollup.source} FINAL" in refresh
    read = rolled_up_or_raw(rollup, "service = 'a'", "service = 'a'")
    assert f"FROM {rollup.target} FINAL" in read and f"FROM {rollup.source} FINAL" in read
    for _name, aggregate in rollup.measures:
        assert aggregate in refresh and aggregate in read
