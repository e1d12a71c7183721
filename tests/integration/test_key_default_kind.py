"""`lookout keys create --default-kind`: stored, audited, checked against the key's scopes."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.conftest import run_cli
from warehouse import postgres

pytestmark = pytest.mark.integration


def test_default_kind_is_stored_and_audited(settings):
    name = f"kind-{uuid.uuid4().hex[:6]}"
    created = run_cli(settings, "keys", "create", "--name", name, "--scopes", "ingest", "--default-kind", "api_metric")
    assert created.returncode == 0, created.stderr
    plain = f"plain-{uuid.uuid4().hex[:6]}"
    assert run_cli(settings, "keys", "create", "--name", plain).returncode == 0
    with postgres.connect(settings.postgres_dsn) as conn:
        rows = conn.execute(
            "SELECT name, default_kind FROM api_keys WHERE name IN (%s, %s)", (name, plain)
        ).fetchall()
        kinds = {row["name"]: row["default_kind"] for row in rows}
        audit = conn.execute(
            "SELECT new_values FROM admin_audit_logs WHERE action = 'api_key.create' AND new_values->>'name' = %s",
            (name,),
        ).fetchone()
    assert kinds == {name: "api_metric", plain: "log"}
    assert audit["new_values"]["default_kind"] == "api_metric"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--default-kind", "logs"], "unknown default kind 'logs'"),
        (["--scopes", "log", "--default-kind", "api_metric"], "not among the key's scopes"),
    ],
)
def test_bad_default_kind_is_a_one_line_error(settings, args, message):
    result = run_cli(settings, "keys", "create", "--name", f"bad-{uuid.uuid4().hex[:6]}", *args)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
