"""Versioned SQL migrations for ClickHouse and PostgreSQL.

Migrations are numbered files under ``warehouse/migrations/<database>/``
(``0001_logs.sql``). Each database keeps a ``schema_migrations`` table with the
version, file name and SHA-256 of every applied file. Applying is idempotent,
and a file whose content changed after it was applied stops the run: an edited
migration would silently diverge from the databases that already ran it, so
the fix is always a new migration.

Planning is pure (:func:`plan`); the two appliers do the I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from lookout.settings import Settings
from warehouse import clickhouse, postgres

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """Migrations cannot be applied as they are; the message says which file and why."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load(database: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations of one database, in version order; misnamed or duplicate files are errors."""
    migrations: list[Migration] = []
    seen: dict[str, Path] = {}
    for path in sorted((directory / database).glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files must be named NNNN_snake_case.sql")
        version = match.group(1)
        if version in seen:
            raise MigrationError(f"{path}: version {version} is also used by {seen[version].name}")
        seen[version] = path
        migrations.append(Migration(version, path.name, path, path.read_text()))
    return migrations


def plan(migrations: Iterable[Migration], applied: dict[str, tuple[str, str]]) -> list[Migration]:
    """The migrations still to apply, given ``applied`` = {version: (name, checksum)}.

    Raises :class:`MigrationError` naming the file when an applied migration
    changed or disappeared.
    """
    pending: list[Migration] = []
    known = {m.version: m for m in migrations}
    for version, (name, _checksum) in sorted(applied.items()):
        if version not in known:
            raise MigrationError(f"migration {name} was applied but its file is missing")
    for migration in known.values():
        if migration.version in applied:
            applied_name, applied_checksum = applied[migration.version]
            if applied_checksum != migration.checksum:
                raise MigrationError(
                    f"{migration.path}: this migration was already applied (as {applied_name}) and its "
                    "file has changed since; restore it and add a new migration instead"
                )
        else:
            pending.append(migration)
    return pending


def split_statements(sql: str) -> list[str]:
    """Split a ClickHouse script on statement-ending semicolons (the engine runs one at a time)."""
    without_comments = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [statement.strip() for statement in re.split(r";\s*(?:\n|$)", without_comments) if statement.strip()]


Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


def migrate_clickhouse(dsn: str, progress: Progress = _quiet, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    client = clickhouse.connect(dsn)
    try:
        client.command(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version String, name String, checksum String, "
            "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version"
        )
        rows = client.query("SELECT version, name, checksum FROM schema_migrations").result_rows
        pending = plan(load("clickhouse", directory), {v: (n, c) for v, n, c in rows})
        for migration in pending:
            progress(f"clickhouse: applying {migration.name}")
            for statement in split_statements(migration.sql):
                client.command(statement)
            client.insert(
                "schema_migrations",
                [[migration.version, migration.name, migration.checksum]],
                column_names=["version", "name", "checksum"],
            )
        return pending
    finally:
        client.close()


def migrate_postgres(dsn: str, progress: Progress = _quiet, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    with postgres.connect(dsn) as conn:
        # One migrator at a time: two `lookout up` racing would apply a file twice.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('lookout.schema_migrations'))")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, name TEXT NOT NULL, "
            "checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        rows = conn.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
        pending = plan(load("postgres", directory), {r["version"]: (r["name"], r["checksum"]) for r in rows})
        for migration in pending:
            progress(f"postgres: applying {migration.name}")
            conn.execute(migration.sql.encode())  # type: ignore[arg-type]
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
        conn.commit()
        return pending


def migrate(settings: Settings, progress: Progress = _quiet) -> list[Migration]:
    """Apply pending migrations to both databases; returns what was applied."""
    return migrate_postgres(settings.postgres_dsn, progress) + migrate_clickhouse(settings.clickhouse_dsn, progress)
