"""The pure rules of access: lockout, session lifetimes, password hashing and policy, redaction, roles."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from access import passwords
from access.accounts import check_admin_remains, check_email, check_role, role_allows
from access.audit import REDACTED, redact
from access.errors import AccessError, Conflict
from access.keys import parse_rate, parse_scopes
from access.lockout import LockState, after_failure
from access.security_events import login_event
from access.sessions import remaining_ttl
from lookout.contract import validate_event

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
FAST = passwords.hasher(time_cost=1, memory_kib=1024)


def test_five_failures_lock_for_the_lock_time_and_restart_the_count():
    state, locked = LockState(0, None), False
    for _ in range(4):
        state, locked = after_failure(state, NOW, max_failures=5, lock_s=900)
        assert not locked
    state, locked = after_failure(state, NOW, max_failures=5, lock_s=900)
    assert locked and state.locked(NOW) and state.locked_until == NOW + timedelta(minutes=15)
    assert state.locked(NOW + timedelta(minutes=14, seconds=59))
    assert not state.locked(NOW + timedelta(minutes=15))


def test_a_failure_after_an_expired_lock_counts_from_one():
    expired = LockState(0, NOW - timedelta(seconds=1))
    state, locked = after_failure(expired, NOW, max_failures=5, lock_s=900)
    assert (state.failures, state.locked_until, locked) == (1, None, False)


def test_session_ttl_is_the_idle_timeout_cut_by_the_absolute_lifetime():
    assert remaining_ttl(created_at=1000, now=1000, idle_s=1800, absolute_s=43200) == 1800
    assert remaining_ttl(created_at=1000, now=1000 + 43200 - 60, idle_s=1800, absolute_s=43200) == 60
    assert remaining_ttl(created_at=1000, now=1000 + 43200, idle_s=1800, absolute_s=43200) == 0


def test_argon2id_hash_carries_its_parameters_and_verifies():
    stored = passwords.hash_password("correct horse battery", FAST)
    assert stored.startswith("$argon2id$") and "m=1024,t=1,p=4" in stored
    assert passwords.verify(stored, "correct horse battery", FAST) == passwords.Verified(True, None)
    assert passwords.verify(stored, "wrong horse battery", FAST) == passwords.Verified(False)
    assert passwords.algorithm(stored) == "argon2id m=1024,t=1,p=4"


def test_raised_cost_rehashes_on_a_right_password_only():
    stored = passwords.hash_password("correct horse battery", FAST)
    stronger = passwords.hasher(time_cost=2, memory_kib=2048)
    verified = passwords.verify(stored, "correct horse battery", stronger)
    assert verified.ok and verified.new_hash is not None and "m=2048,t=2,p=4" in verified.new_hash
    assert passwords.verify(stored, "nope nope nope", stronger).new_hash is None


def _old_scrypt(password: str) -> str:
    """The format access/credentials.py wrote before argon2id."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${2**14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def test_scrypt_hashes_verify_and_are_upgraded_to_argon2id():
    stored = _old_scrypt("legacy password 1")
    verified = passwords.verify(stored, "legacy password 1", FAST)
    assert verified.ok and verified.new_hash and verified.new_hash.startswith("$argon2id$")
    assert not passwords.verify(stored, "legacy password 2", FAST).ok
    assert passwords.algorithm(stored) == "scrypt n=16384,r=8,p=1"
    assert not passwords.verify("scrypt$garbage", "x", FAST).ok


@pytest.mark.parametrize("bad", ["short", " " * 20, "x" * 1025])
def test_password_policy_names_the_rule(bad):
    with pytest.raises(passwords.WeakPassword, match="password"):
        passwords.check_policy(bad)


def test_redaction_hides_secrets_at_any_depth():
    values = {"name": "ci", "password": "p", "nested": {"key_hash": "h", "scopes": ["log"]}, "secret": "s"}
    assert redact(values) == {
        "name": "ci",
        "password": REDACTED,
        "nested": {"key_hash": REDACTED, "scopes": ["log"]},
        "secret": REDACTED,
    }


def test_roles_rank_and_the_last_admin_is_kept():
    assert role_allows("admin", "operator") and role_allows("operator", "viewer")
    assert not role_allows("viewer", "operator")
    with pytest.raises(Conflict, match="last enabled admin"):
        check_admin_remains([7], 7)
    check_admin_remains([7, 8], 7)
    with pytest.raises(AccessError, match="unknown role 'root'"):
        check_role("root")
    with pytest.raises(AccessError, match="not an email"):
        check_email("no-at-sign")


def test_key_form_parsing():
    assert parse_scopes(["query"]) == ["query"]
    assert parse_rate("500/s") == 500 and parse_rate("") is None
    with pytest.raises(AccessError, match="rate limit"):
        parse_rate("0/s")


def test_login_events_pass_the_event_contract():
    event = login_event(
        "account_locked",
        ip="203.0.113.9",
        user_agent="curl/8",
        endpoint="/login",
        account_id=3,
        email="a@b.c",
        action_taken="locked",
        indicators={"lock_s": 900},
        now_ms=int(NOW.timestamp() * 1000),
    )
    validated = validate_event(event, int(NOW.timestamp() * 1000))
    assert validated.fields["event_type"] == "account_locked" and validated.fields["severity"] == "medium"
    assert validated.fields["ip_address"] == "203.0.113.9" and validated.fields["user_id"] == "3"
