"""`lookout accounts`: passwords never on argv, every change audited in its transaction, and PostgreSQL
itself refuses a change that skipped its audit row."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from access.credentials import hash_api_key
from tests.integration.conftest import run_cli
from warehouse import postgres

pytestmark = pytest.mark.integration

PASSWORD = "a long enough password"


def _email() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}@example.com"


def test_create_list_set_role_disable_enable_reset(settings):
    email = _email()
    created = run_cli(settings, "accounts", "create", "--email", email, "--role", "viewer", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert PASSWORD not in created.stdout + created.stderr
    for args in (
        ["set-role", email, "--role", "operator"],
        ["disable", email],
        ["enable", email],
    ):
        result = run_cli(settings, "accounts", *args)
        assert result.returncode == 0, result.stderr
    reset = run_cli(settings, "accounts", "reset-password", email, stdin="another long password\n")
    assert reset.returncode == 0, reset.stderr
    listing = run_cli(settings, "accounts", "list").stdout
    assert email in listing and "operator" in listing

    with postgres.connect(settings.postgres_dsn) as conn:
        account = conn.execute("SELECT id, password_hash FROM accounts WHERE email = %s", (email,)).fetchone()
        rows = conn.execute(
            "SELECT action, admin_id, old_values, new_values, outcome FROM admin_audit_logs "
            "WHERE platform AND resource_type = 'account' AND resource_id = %s ORDER BY timestamp",
            (str(account["id"]),),
        ).fetchall()
    assert account["password_hash"].startswith("$argon2id$")
    assert [r["action"] for r in rows] == [
        "account.create",
        "account.set_role",
        "account.disable",
        "account.enable",
        "account.reset_password",
    ]
    assert rows[1]["old_values"] == {"role": "viewer"} and rows[1]["new_values"] == {"role": "operator"}
    assert all(r["admin_id"].startswith("cli") and r["outcome"] == "success" for r in rows)
    assert "long" not in str(rows)  # neither password reached the audit trail


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["create", "--email", "not-an-email", "--role", "viewer"], PASSWORD, "is not an email address"),
        (["create", "--email", "x@example.com", "--role", "viewer"], "short", "at least 12 characters"),
        (["create", "--email", "x@example.com", "--role", "viewer"], "", "no password on standard input"),
        (["set-role", "nobody@example.com", "--role", "admin"], "", "no account with email"),
    ],
)
def test_bad_input_is_a_one_line_error(settings, args, stdin, message):
    result = run_cli(settings, "accounts", *args, stdin=stdin)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_duplicate_email_is_refused_and_audited_as_a_failure(settings):
    email = _email()
    assert run_cli(settings, "accounts", "create", "--email", email, "--role", "viewer", stdin=PASSWORD).returncode == 0
    again = run_cli(settings, "accounts", "create", "--email", email.upper(), "--role", "admin", stdin=PASSWORD)
    assert again.returncode == 1 and "already exists" in again.stderr
    with postgres.connect(settings.postgres_dsn) as conn:
        row = conn.execute(
            "SELECT outcome, metadata FROM admin_audit_logs WHERE platform AND action = 'account.create' "
            "AND resource_id = %s",
            (email.upper(),),
        ).fetchone()
    assert row["outcome"] == "failure" and "already exists" in row["metadata"]["reason"]


def test_a_change_without_its_audit_row_cannot_commit(settings, query_key):
    email = _email()
    assert run_cli(settings, "accounts", "create", "--email", email, "--role", "viewer", stdin=PASSWORD).returncode == 0
    with postgres.connect(settings.postgres_dsn) as conn:
        changed = conn.execute("UPDATE accounts SET role = 'admin' WHERE email = %s", (email,))
        assert changed.rowcount == 1
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="account .* has no audit row"):
            conn.commit()
    with postgres.connect(settings.postgres_dsn) as conn:
        changed = conn.execute("UPDATE api_keys SET revoked_at = now() WHERE key_hash = %s", (hash_api_key(query_key),))
        assert changed.rowcount == 1
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="api_key .* has no audit row"):
            conn.commit()
    # Recording use is not an admin change and needs no audit row.
    with postgres.connect(settings.postgres_dsn) as conn:
        conn.execute("UPDATE accounts SET last_login_at = now() WHERE email = %s", (email,))
    with postgres.connect(settings.postgres_dsn) as conn:
        row = conn.execute("SELECT role, last_login_at FROM accounts WHERE email = %s", (email,)).fetchone()
    assert row["role"] == "viewer" and row["last_login_at"] is not None


def test_help_lists_the_accounts_commands(settings):
    result = run_cli(settings, "--help")
    assert "accounts" in result.stdout
