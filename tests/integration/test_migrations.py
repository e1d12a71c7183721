"""`lookout migrate` against the real databases: idempotent, and strict about edited files."""

from __future__ import annotations

import shutil

import pytest

from tests.integration.conftest import run_cli
from warehouse.migrate import MIGRATIONS_DIR, MigrationError, migrate_postgres

pytestmark = pytest.mark.integration


def _lookout(settings, *args, clickhouse_dsn):
    # A chDB path of its own: the test process already holds the session's one.
    return run_cli(settings, *args, env={"LOOKOUT_CLICKHOUSE_DSN": clickhouse_dsn})


def test_migrate_twice_changes_nothing_the_second_time(settings, tmp_path):
    # A chDB path of its own: the test process already holds the session's one.
    dsn = f"chdb:///{tmp_path / 'chdb'}"
    first = _lookout(settings, "migrate", clickhouse_dsn=dsn)
    assert first.returncode == 0, first.stderr
    assert "clickhouse: applying 0001_logs.sql" in first.stdout
    second = _lookout(settings, "migrate", clickhouse_dsn=dsn)
    assert second.returncode == 0, second.stderr
    assert "applying" not in second.stdout
    assert "up to date" in second.stdout


def test_an_edited_applied_migration_is_refused_with_its_file_name(settings, tmp_path):
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    edited = copy / "postgres" / "0001_accounts_and_api_keys.sql"
    edited.write_text(edited.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(MigrationError, match="0001_accounts_and_api_keys.sql"):
        migrate_postgres(settings.postgres_dsn, directory=copy)


def test_cli_reports_an_unreachable_database_as_a_one_line_error(settings, tmp_path):
    result = _lookout(
        settings.with_(postgres_dsn=settings.postgres_dsn.replace("lookout:lookout", "lookout:wrong")),
        "migrate",
        clickhouse_dsn=f"chdb:///{tmp_path / 'chdb'}",
    )
    assert result.returncode == 1
    assert result.stderr.startswith("lookout migrate: cannot connect to PostgreSQL")
    assert "Traceback" not in result.stderr
