"""Managing API keys and accounts: used by the CLI, `lookout up` and (later) the dashboards.

Every change is written to the audit trail in the same transaction.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

import psycopg
import redis

from access.auth import cache_key
from lookout.contract import KINDS
from access.credentials import display_prefix, generate_api_key, hash_api_key, hash_password
from lookout.settings import Settings
from warehouse import postgres
from warehouse.queries import accounts, api_keys, audit

QUERY_SCOPE = "query"
ALL_SCOPES = (*KINDS, QUERY_SCOPE)


class KeyManagementError(ValueError):
    """A key operation cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class CreatedKey:
    key: api_keys.ApiKey
    secret: str  # shown once, never stored


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def parse_scopes(raw: list[str] | None) -> list[str]:
    """Scopes from the CLI: kinds and/or 'query'; 'ingest' means every kind; default is every kind."""
    if not raw:
        return list(KINDS)
    scopes: list[str] = []
    for item in (part.strip() for chunk in raw for part in chunk.split(",")):
        if not item:
            continue
        expanded = list(KINDS) if item == "ingest" else [item]
        for scope in expanded:
            if scope not in ALL_SCOPES:
                raise KeyManagementError(f"unknown scope {scope!r}: choose from ingest, {', '.join(ALL_SCOPES)}")
            if scope not in scopes:
                scopes.append(scope)
    return scopes


def parse_rate(raw: str | None) -> int | None:
    """'500/s' or '500' events per second."""
    if raw is None:
        return None
    number = raw.removesuffix("/s").strip()
    if not number.isdigit() or int(number) <= 0:
        raise KeyManagementError(f"rate limit {raw!r} must look like 500/s (events per second, > 0)")
    return int(number)


def check_default_kind(default_kind: str, scopes: list[str]) -> str:
    """The kind given to events that name none: one the key may send."""
    if default_kind not in KINDS:
        raise KeyManagementError(f"unknown default kind {default_kind!r}: choose from {', '.join(KINDS)}")
    if default_kind not in scopes:
        raise KeyManagementError(f"default kind {default_kind!r} is not among the key's scopes ({', '.join(scopes)})")
    return default_kind


def create_key(
    settings: Settings,
    name: str,
    scopes: list[str],
    rate_limit_per_s: int | None,
    actor: str | None = None,
    default_kind: str | None = None,
) -> CreatedKey:
    """``default_kind`` None means log (whatever the scopes: a key that may not send logs then has every
    event without a kind refused, naming the kind)."""
    default_kind = "log" if default_kind is None else check_default_kind(default_kind, scopes)
    secret = generate_api_key()
    with postgres.connect(settings.postgres_dsn) as conn:
        try:
            key = api_keys.insert(
                conn,
                name=name,
                key_hash=hash_api_key(secret),
                prefix=display_prefix(secret),
                scopes=scopes,
                rate_limit_per_s=rate_limit_per_s,
                default_kind=default_kind,
            )
        except psycopg.errors.UniqueViolation:
            raise KeyManagementError(f"an active key named {name!r} already exists") from None
        audit.record(
            conn,
            action="api_key.create",
            resource_type="api_key",
            resource_id=str(key.id),
            actor=actor or _actor(),
            new_values={
                "name": name,
                "scopes": scopes,
                "rate_limit_per_s": rate_limit_per_s,
                "default_kind": default_kind,
                "prefix": key.prefix,
            },
        )
    return CreatedKey(key, secret)


def list_keys(settings: Settings, include_revoked: bool = False) -> list[api_keys.ApiKey]:
    with postgres.connect(settings.postgres_dsn) as conn:
        return api_keys.list_all(conn, include_revoked=include_revoked)


def revoke_key(settings: Settings, key_id: int, actor: str | None = None) -> api_keys.ApiKey:
    with postgres.connect(settings.postgres_dsn) as conn:
        revoked = api_keys.revoke(conn, key_id)
        if revoked is None:
            raise KeyManagementError(f"no active API key with id {key_id}")
        key, key_hash = revoked
        audit.record(
            conn,
            action="api_key.revoke",
            resource_type="api_key",
            resource_id=str(key.id),
            actor=actor or _actor(),
            old_values={"name": key.name, "scopes": list(key.scopes)},
        )
    # Evict the cached key so the revocation bites now, not at the end of the cache TTL.
    try:
        redis.Redis.from_url(settings.redis_url, socket_timeout=2).delete(cache_key(key_hash))
    except redis.RedisError:
        pass  # the cache entry expires within api_key_cache_ttl_s anyway
    return key


def create_admin(settings: Settings, email: str, password: str, actor: str | None = None) -> int:
    with postgres.connect(settings.postgres_dsn) as conn:
        account_id = accounts.create(conn, email=email, password_hash=hash_password(password), role="admin")
        audit.record(
            conn,
            action="account.create",
            resource_type="account",
            resource_id=str(account_id),
            actor=actor or _actor(),
            new_values={"email": email, "role": "admin"},
        )
    return account_id


def account_count(settings: Settings) -> int:
    with postgres.connect(settings.postgres_dsn) as conn:
        return accounts.count(conn)
