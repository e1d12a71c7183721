"""The table map as derived from the contract (warehouse/tables.py): pure, no database.

tests/integration/test_columns.py compares the same map with the migrated databases.
"""

from __future__ import annotations

import pytest

from lookout.contract import ENVELOPE, KINDS, FieldType, columns_for
from lookout.contract.fields import INT64_MAX, UINT32_MAX, FieldSpec, boolean, integer, ip, number, timestamp
from warehouse.tables import TABLES, ColumnType, Database, column_for, kinds_in


@pytest.mark.parametrize("kind", KINDS)
def test_every_field_of_the_contract_is_a_column(kind: str) -> None:
    table = TABLES[kind]
    envelope = ["event_id", "timestamp", "service", "instance"]
    assert sorted(envelope) == sorted(spec.name for spec in ENVELOPE if spec.name != "kind")
    storage_only = ["retention_days"] if table.database is Database.CLICKHOUSE else []
    assert table.column_names == envelope + columns_for(kind) + storage_only


def test_each_database_holds_its_kinds() -> None:
    assert kinds_in(Database.CLICKHOUSE) == ["log", "api_metric", "system_metric", "blockchain_event"]
    assert kinds_in(Database.POSTGRES) == ["admin_audit", "security_event"]


@pytest.mark.parametrize(
    ("maximum", "column_max"),
    [(200, 2**8 - 1), (599, 2**16 - 1), (2**16, 2**32 - 1), (UINT32_MAX, 2**32 - 1), (INT64_MAX, 2**64 - 1)],
)
def test_an_integer_column_is_the_narrowest_unsigned_type_holding_the_fields_range(
    maximum: int, column_max: int
) -> None:
    column = column_for(integer("n", max_value=maximum), Database.CLICKHOUSE)
    assert (column.type, column.max_value) == (ColumnType.NULLABLE_INT, column_max)


@pytest.mark.parametrize(
    "spec",
    [integer("n", min_value=-1), integer("n", max_value=2**64), FieldSpec("n", FieldType.INT)],
    ids=["negative", "beyond-64-bits", "unbounded"],
)
def test_an_integer_field_no_unsigned_column_can_hold_is_refused(spec: FieldSpec) -> None:
    with pytest.raises(ValueError, match="^n: "):
        column_for(spec, Database.CLICKHOUSE)


def test_nullable_columns_are_the_optional_fields_without_a_default() -> None:
    cases = [
        (timestamp("t", required=True), ColumnType.TIMESTAMP),
        (timestamp("t"), ColumnType.NULLABLE_TIMESTAMP),
        (number("x", required=True), ColumnType.FLOAT),
        (number("x"), ColumnType.NULLABLE_FLOAT),
        (integer("n", required=True, max_value=9), ColumnType.INT),
        (integer("n", max_value=9, default=0), ColumnType.INT),
        (integer("n", max_value=9), ColumnType.NULLABLE_INT),
        (boolean("b"), ColumnType.BOOL),
    ]
    for spec, column_type in cases:
        assert column_for(spec, Database.POSTGRES).type is column_type, spec


def test_ip_addresses_are_inet_in_postgres_and_text_in_clickhouse() -> None:
    assert column_for(ip("ip_address"), Database.POSTGRES).type is ColumnType.IP
    assert column_for(ip("ip_address"), Database.CLICKHOUSE).type is ColumnType.STRING
    assert TABLES["log"].columns[TABLES["log"].column_names.index("ip_address")].type is ColumnType.STRING
