"""`lookout keys`: the secret is printed once, stored hashed, listed without it, revoked with an audit trail."""

from __future__ import annotations

import uuid

import pytest

from access.credentials import hash_api_key
from tests.integration.conftest import run_cli
from warehouse import postgres

pytestmark = pytest.mark.integration


def test_create_list_revoke(settings):
    name = f"cli-{uuid.uuid4().hex[:6]}"
    created = run_cli(settings, "keys", "create", "--name", name, "--scopes", "log,api_metric", "--rate-limit", "500/s")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("lk_") and len(secret) > 40
    assert "only time the key is shown" in created.stderr

    with postgres.connect(settings.postgres_dsn) as conn:
        row = conn.execute(
            "SELECT id, key_hash, scopes, rate_limit_per_s FROM api_keys WHERE name = %s", (name,)
        ).fetchone()
    assert row["key_hash"] == hash_api_key(secret) and secret not in str(row)
    assert row["scopes"] == ["log", "api_metric"] and row["rate_limit_per_s"] == 500

    listing = run_cli(settings, "keys", "list")
    assert name in listing.stdout and secret not in listing.stdout and secret[:10] in listing.stdout

    revoked = run_cli(settings, "keys", "revoke", str(row["id"]))
    assert revoked.returncode == 0 and f"revoked API key {row['id']}" in revoked.stdout
    assert name not in run_cli(settings, "keys", "list").stdout
    assert name in run_cli(settings, "keys", "list", "--all").stdout

    with postgres.connect(settings.postgres_dsn) as conn:
        actions = conn.execute(
            "SELECT action, admin_id FROM admin_audit_logs WHERE resource_type = 'api_key' AND resource_id = %s "
            "ORDER BY timestamp",
            (str(row["id"]),),
        ).fetchall()
    assert [a["action"] for a in actions] == ["api_key.create", "api_key.revoke"]
    assert all(a["admin_id"].startswith("cli") for a in actions)


@pytest.mark.parametrize(
    "args, message",
    [
        (["keys", "create", "--name", "x", "--scopes", "logs"], "unknown scope 'logs'"),
        (["keys", "create", "--name", "x", "--rate-limit", "fast"], "rate limit 'fast'"),
        (["keys", "revoke", "999999"], "no active API key with id 999999"),
    ],
)
def test_bad_input_is_a_one_line_error(settings, args, message):
    result = run_cli(settings, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
