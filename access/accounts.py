"""Managing accounts: create, list, set a role, disable, enable, reset a password.

Every change is audited with :func:`access.audit.audited`. A change of role or
password, and disabling, end the account's sessions: the account is read on
every request anyway, so this is about not leaving live sessions behind.
"""

from __future__ import annotations

import logging
import re

import psycopg
import redis

from access import db, passwords
from access.audit import Actor, Change, audited
from access.errors import AccessError, Conflict, NotFound
from access.sessions import SessionStore
from lookout.settings import Settings
from warehouse.queries import accounts
from warehouse.queries.accounts import ROLES, Account

# Public so the dashboards API declares the same rule in its OpenAPI document (dashboards/models.py).
EMAIL_PATTERN = r"^\s*[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\s*$"  # check_email trims surrounding spaces
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
log = logging.getLogger(__name__)

RANK = {role: rank for rank, role in enumerate(ROLES)}


def check_email(email: str) -> str:
    email = email.strip()
    # Not printable (NUL, control characters, lone surrogates): PostgreSQL refuses NUL, and none is in an
    # address. Found by tests/integration/web/test_api_fuzz.py: it was a 500.
    if len(email) > 254 or not email.isprintable() or not _EMAIL.match(email):
        raise AccessError(f"{email!r} is not an email address")
    return email


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccessError(f"unknown role {role!r}: choose from {', '.join(ROLES)}")
    return role


def role_allows(role: str, required: str) -> bool:
    return RANK[role] >= RANK[required]


def check_admin_remains(active_admins: list[int], account_id: int) -> None:
    """Refuse to demote or disable the last enabled admin: nobody could manage accounts afterwards."""
    if active_admins == [account_id]:
        raise Conflict("this is the last enabled admin: make another account admin first")


def _public(account: Account) -> dict:
    return {"email": account.email, "role": account.role, "disabled": account.disabled_at is not None}


def password_hasher(settings: Settings) -> passwords.PasswordHasher:
    return passwords.hasher(settings.password_hash_time_cost, settings.password_hash_memory_kib)


def create(settings: Settings, email: str, password: str, role: str, actor: Actor) -> Account:
    email, role = check_email(email), check_role(role)
    password_hash = passwords.hash_password(passwords.check_policy(password), password_hasher(settings))

    def mutate(conn: psycopg.Connection) -> Change[Account]:
        try:
            account = accounts.create(conn, email=email, password_hash=password_hash, role=role)
        except psycopg.errors.UniqueViolation:
            raise Conflict(f"an account with email {email!r} already exists") from None
        return Change(account, str(account.id), new=_public(account))

    return audited(settings, actor, "account.create", "account", mutate, resource_id=email)


def list_all(settings: Settings) -> list[Account]:
    with db.transaction(settings) as conn:
        return accounts.list_all(conn)


def get_active(settings: Settings, account_id: int) -> Account | None:
    """The account if it exists and is enabled (what every signed-in request checks)."""
    with db.transaction(settings) as conn:
        account = accounts.get(conn, account_id)
    return account if account is not None and account.active else None


def resolve(settings: Settings, ref: str) -> int:
    """An account id from an id or an email (the CLI accepts both)."""
    if ref.isdigit():
        return int(ref)
    with db.transaction(settings) as conn:
        found = accounts.find_by_email(conn, ref)
    if found is None:
        raise NotFound(f"no account with email {ref!r}")
    return found[0].id


def _locked(conn: psycopg.Connection, account_id: int) -> Account:
    account = accounts.get(conn, account_id, for_update=True)
    if account is None:
        raise NotFound(f"no account with id {account_id}")
    return account


def set_role(settings: Settings, account_id: int, role: str, actor: Actor) -> Account:
    check_role(role)

    def mutate(conn: psycopg.Connection) -> Change[Account]:
        before = _locked(conn, account_id)
        if before.role == "admin" and role != "admin":
            check_admin_remains(accounts.active_admins(conn), account_id)
        after = accounts.set_role(conn, account_id, role)
        return Change(after, str(account_id), old={"role": before.role}, new={"role": after.role})

    account = audited(settings, actor, "account.set_role", "account", mutate, resource_id=str(account_id))
    _end_sessions(settings, account_id, actor)
    return account


def set_disabled(settings: Settings, account_id: int, disabled: bool, actor: Actor) -> Account:
    def mutate(conn: psycopg.Connection) -> Change[Account]:
        before = _locked(conn, account_id)
        if disabled and before.role == "admin" and before.active:
            check_admin_remains(accounts.active_admins(conn), account_id)
        after = accounts.set_disabled(conn, account_id, disabled)
        return Change(after, str(account_id), old={"disabled": not before.active}, new={"disabled": disabled})

    action = "account.disable" if disabled else "account.enable"
    account = audited(settings, actor, action, "account", mutate, resource_id=str(account_id))
    if disabled:
        _end_sessions(settings, account_id, actor)
    return account


def reset_password(settings: Settings, account_id: int, password: str, actor: Actor) -> Account:
    password_hash = passwords.hash_password(passwords.check_policy(password), password_hasher(settings))

    def mutate(conn: psycopg.Connection) -> Change[Account]:
        _locked(conn, account_id)
        after = accounts.set_password_hash(conn, account_id, password_hash)
        return Change(after, str(account_id), new={"password": "changed"})

    account = audited(settings, actor, "account.reset_password", "account", mutate, resource_id=str(account_id))
    _end_sessions(settings, account_id, actor)
    return account


def _end_sessions(settings: Settings, account_id: int, actor: Actor) -> None:
    """End the account's sessions, except the one making the change when it changes itself."""
    keep = actor.session_ref if actor.account_id == account_id else None
    try:
        SessionStore.from_settings(settings).delete_for_account(account_id, keep_ref=keep)
    except redis.RedisError as exc:
        # Without Redis no session can be used either; the account row is checked on every request.
        log.warning("cannot end the account's sessions", extra={"account_id": account_id, "error": str(exc)})
