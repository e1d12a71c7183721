"""The contract, the table map and the live tables after migrations agree, column for column.

The table map is derived from the contract (warehouse/tables.py), the tables are
created by hand-written migrations: a field added to the contract but to no
migration, a column dropped or retyped by a migration alone, fails here by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from lookout.contract import ENVELOPE, KINDS, field_spec, schema_for
from lookout.settings import Settings
from warehouse import clickhouse, postgres
from warehouse.tables import DATABASE_FILLED, PLATFORM_ONLY, TABLES, Column, ColumnType, Database, Table

pytestmark = pytest.mark.integration

# Columns of the map the contract has no field for.
STORAGE_ONLY = {Database.CLICKHOUSE: {"retention_days"}, Database.POSTGRES: set()}

# A column as compared: (type family, nullable, largest value); None where a database does not say or we do not care.
Shape = tuple[str, bool | None, int | None]

_FAMILIES = {
    Database.CLICKHOUSE: {
        ColumnType.UUID: "uuid",
        ColumnType.TIMESTAMP: "timestamp",
        ColumnType.NULLABLE_TIMESTAMP: "timestamp",
        ColumnType.STRING: "string",
        ColumnType.INT: "uint",
        ColumnType.NULLABLE_INT: "uint",
        ColumnType.FLOAT: "float",
        ColumnType.NULLABLE_FLOAT: "float",
        ColumnType.BOOL: "bool",
        ColumnType.JSON: "string",  # ClickHouse keeps JSON values as their compact text
    },
    Database.POSTGRES: {
        ColumnType.UUID: "uuid",
        ColumnType.TIMESTAMP: "timestamp",
        ColumnType.NULLABLE_TIMESTAMP: "timestamp",
        ColumnType.STRING: "string",
        ColumnType.INT: "int",
        ColumnType.NULLABLE_INT: "int",
        ColumnType.FLOAT: "float",
        ColumnType.NULLABLE_FLOAT: "float",
        ColumnType.BOOL: "bool",
        ColumnType.JSON: "json",
        ColumnType.IP: "ip",
    },
}
_NULLABLE = {ColumnType.NULLABLE_TIMESTAMP, ColumnType.NULLABLE_INT, ColumnType.NULLABLE_FLOAT}


def expected_shape(table: Table, column: Column) -> Shape:
    family = _FAMILIES[table.database][column.type]
    nullable: bool | None = column.type in _NULLABLE
    if column.type is ColumnType.JSON and table.database is Database.POSTGRES:
        nullable = field_spec(table.kind, column.name).nullable  # metadata defaults to {}, other JSON to NULL
    elif column.type is ColumnType.IP:
        nullable = True  # "" is stored as NULL: INET has no empty address
    largest = column.max_value if table.database is Database.CLICKHOUSE else None
    return family, nullable, largest


def clickhouse_shape(type_name: str) -> Shape:
    inner = re.sub(r"^LowCardinality\((.*)\)$", r"\1", type_name)
    nullable = inner.startswith("Nullable(")
    inner = re.sub(r"^Nullable\((.*)\)$", r"\1", inner)
    unsigned = re.fullmatch(r"UInt(\d+)", inner)
    if unsigned:
        return "uint", nullable, 2 ** int(unsigned.group(1)) - 1
    families = {"UUID": "uuid", "DateTime64": "timestamp", "String": "string", "Float": "float", "Bool": "bool"}
    family = next((f for prefix, f in families.items() if inner.startswith(prefix)), inner)
    return family, nullable, None


_POSTGRES_FAMILIES = {
    "uuid": "uuid",
    "timestamp with time zone": "timestamp",
    "text": "string",
    "character varying": "string",
    "smallint": "int",
    "integer": "int",
    "bigint": "int",
    "double precision": "float",
    "boolean": "bool",
    "jsonb": "json",
    "inet": "ip",
}


def postgres_shape(data_type: str, is_nullable: str) -> Shape:
    return _POSTGRES_FAMILIES.get(data_type, data_type), is_nullable == "YES", None


@pytest.fixture(scope="module")
def chdb(settings: Settings) -> Iterator[Client]:
    client = clickhouse.connect(settings.clickhouse_dsn)
    yield client
    client.close()


def live_columns(settings: Settings, chdb: Client, table: Table) -> dict[str, Shape]:
    """The table's columns as the migrated database has them."""
    if table.database is Database.CLICKHOUSE:
        rows = chdb.query(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String}",
            parameters={"t": table.name},
        ).result_rows
        return {name: clickhouse_shape(type_name) for name, type_name in rows}
    with postgres.connect(settings.postgres_dsn) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (table.name,),
        ).fetchall()
    return {row["column_name"]: postgres_shape(row["data_type"], row["is_nullable"]) for row in rows}


@pytest.mark.parametrize("kind", KINDS)
def test_contract_table_map_and_live_columns_agree(settings: Settings, chdb: Client, kind: str) -> None:
    table = TABLES[kind]
    contract = {spec.name for spec in ENVELOPE if spec.name != "kind"} | {spec.name for spec in schema_for(kind)}
    mapped = {column.name: column for column in table.columns}
    live = live_columns(settings, chdb, table)
    assert live, f"{table.name} does not exist in {table.database} after the migrations"

    differences = []
    if set(mapped) - STORAGE_ONLY[table.database] != contract:
        differences.append(
            f"contract only: {sorted(contract - set(mapped))}; "
            f"map only: {sorted(set(mapped) - contract - STORAGE_ONLY[table.database])}"
        )
    platform_only = set(PLATFORM_ONLY.get(table.name, ()))
    if platform_only & (contract | set(mapped)):
        differences.append(f"written by the pipeline but reserved to the platform: {sorted(platform_only & contract)}")
    stored = set(mapped) | set(DATABASE_FILLED) | platform_only
    if set(live) != stored:
        differences.append(
            f"in the contract/map but not in the database: {sorted(stored - set(live))}; "
            f"in the database but not in the contract/map: {sorted(set(live) - stored)}"
        )
    for name, column in mapped.items():
        if name not in live:
            continue
        want, have = expected_shape(table, column), live[name]
        compared = tuple(w == h or w is None for w, h in zip(want, have, strict=True))
        if not all(compared):
            differences.append(f"{name}: the map says {column.type} {want}, the database has {have}")
    for name in DATABASE_FILLED:
        if name in live and live[name][0] != "timestamp":
            differences.append(f"{name}: the database fills it with the time, but it is {live[name]}")
    assert not differences, f"{kind} ({table.database} table {table.name}):\n" + "\n".join(differences)
