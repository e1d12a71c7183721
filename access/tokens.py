"""Personal API tokens: an account's own bearer tokens for the JSON API, acting with the account's role.

Shown once, stored as SHA-256 (256 random bits need no slow hash), named,
optionally expiring, revocable. A disabled account's tokens stop working at
once because every use joins the account.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from access import db
from access.audit import Actor, Change, audited
from access.errors import AccessError, Conflict, NotFound
from lookout.settings import Settings
from warehouse.queries import accounts, personal_tokens
from warehouse.queries.accounts import Account
from warehouse.queries.personal_tokens import PersonalToken

TOKEN_PREFIX = "lkp_"
_DISPLAY_LENGTH = 12


@dataclass(frozen=True)
class CreatedToken:
    token: PersonalToken
    secret: str  # shown once, never stored


def is_personal_token(presented: str) -> bool:
    return presented.startswith(TOKEN_PREFIX)


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise AccessError("the token name must have 1 to 100 characters")
    return name


def check_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is not None and expires_at <= now:
        raise AccessError("the expiry must be in the future")
    return expires_at


def create(settings: Settings, account_id: int, name: str, expires_at: datetime | None, actor: Actor) -> CreatedToken:
    name = check_name(name)
    check_expiry(expires_at, datetime.now(UTC))
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)

    def mutate(conn: psycopg.Connection) -> Change[CreatedToken]:
        try:
            token = personal_tokens.insert(
                conn,
                account_id=account_id,
                name=name,
                token_hash=token_hash(secret),
                prefix=secret[:_DISPLAY_LENGTH],
                expires_at=expires_at,
            )
        except psycopg.errors.UniqueViolation:
            raise Conflict(f"you already have an active token named {name!r}") from None
        new = {"name": name, "prefix": token.prefix, "account_id": account_id, "expires_at": _iso(expires_at)}
        return Change(CreatedToken(token, secret), str(token.id), new=new)

    return audited(settings, actor, "token.create", "personal_token", mutate)


def list_for(settings: Settings, account_id: int) -> list[PersonalToken]:
    with db.transaction(settings) as conn:
        return personal_tokens.list_for(conn, account_id)


def revoke(settings: Settings, account_id: int, token_id: int, actor: Actor) -> PersonalToken:
    def mutate(conn: psycopg.Connection) -> Change[PersonalToken]:
        token = personal_tokens.revoke(conn, account_id, token_id)
        if token is None:
            raise NotFound(f"you have no active token with id {token_id}")
        return Change(token, str(token.id), old={"name": token.name, "revoked": False}, new={"revoked": True})

    return audited(settings, actor, "token.revoke", "personal_token", mutate, resource_id=str(token_id))


def authenticate(settings: Settings, presented: str) -> tuple[Account, PersonalToken] | None:
    """The account and token for a presented secret, or None when unknown, revoked, expired or disabled."""
    with db.transaction(settings) as conn:
        token = personal_tokens.find_usable(conn, token_hash(presented))
        if token is None:
            return None
        account = accounts.get(conn, token.account_id)
        personal_tokens.touch(conn, token.id)
    return (account, token) if account is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
