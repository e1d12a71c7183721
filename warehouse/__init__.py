"""The warehouse: schemas, migrations and the query layer for ClickHouse and PostgreSQL."""
