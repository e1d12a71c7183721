from pathlib import Path

import pytest

from warehouse.migrate import Migration, MigrationError, load, plan, split_statements


def _m(version: str, sql: str) -> Migration:
    return Migration(version, f"{version}_x.sql", Path(f"/m/{version}_x.sql"), sql)


def test_plan_returns_only_unapplied_migrations_in_order():
    migrations = [_m("0001", "a"), _m("0002", "b"), _m("0003", "c")]
    applied = {"0001": ("0001_x.sql", migrations[0].checksum)}
    assert [m.version for m in plan(migrations, applied)] == ["0002", "0003"]


def test_plan_refuses_an_applied_migration_whose_file_changed_and_names_it():
    migrations = [_m("0001", "edited")]
    with pytest.raises(MigrationError, match="0001_x.sql"):
        plan(migrations, {"0001": ("0001_x.sql", _m("0001", "original").checksum)})


def test_plan_refuses_when_an_applied_file_is_missing():
    with pytest.raises(MigrationError, match="0002_gone.sql"):
        plan([_m("0001", "a")], {"0001": ("0001_x.sql", _m("0001", "a").checksum), "0002": ("0002_gone.sql", "x")})


def test_load_rejects_misnamed_and_duplicate_versions(tmp_path):
    (tmp_path / "clickhouse").mkdir()
    (tmp_path / "clickhouse" / "0001_a.sql").write_text("x")
    (tmp_path / "clickhouse" / "0001_b.sql").write_text("y")
    with pytest.raises(MigrationError, match="version 0001"):
        load("clickhouse", tmp_path)
    (tmp_path / "clickhouse" / "0001_b.sql").unlink()
    (tmp_path / "clickhouse" / "2-bad.sql").write_text("y")
    with pytest.raises(MigrationError, match="2-bad.sql"):
        load("clickhouse", tmp_path)


def test_split_statements_ignores_comments_and_trailing_semicolons():
    sql = (
        "-- a comment; with a semicolon\n"
        "CREATE TABLE a (x UInt8) ENGINE = Log;\n\n"
        "CREATE TABLE b (y UInt8) ENGINE = Log;\n"
    )
    assert split_statements(sql) == ["CREATE TABLE a (x UInt8) ENGINE = Log", "CREATE TABLE b (y UInt8) ENGINE = Log"]


def test_shipped_migrations_load_and_are_numbered_without_gaps():
    for database in ("clickhouse", "postgres"):
        versions = [int(m.version) for m in load(database)]
        assert versions == list(range(1, len(versions) + 1))
