"""Managing API keys: used by the CLI, `lookout up` and the dashboards.

Every change is written to the audit trail in the same transaction (access.audit.audited).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

import psycopg
import redis

from access import db
from access.audit import Actor, Change, audited
from access.auth import cache_key
from access.credentials import display_prefix, generate_api_key, hash_api_key
from access.errors import AccessError, Conflict, NotFound
from lookout.contract import KINDS
from lookout.settings import Settings
from warehouse.queries import api_keys

QUERY_SCOPE = "query"
ALL_SCOPES = (*KINDS, QUERY_SCOPE)
MAX_RATE_PER_S = 1_000_000


@dataclass(frozen=True)
class CreatedKey:
    key: api_keys.ApiKey
    secret: str  # shown once, never stored


def cli_actor() -> Actor:
    try:
        return Actor(f"cli:{getpass.getuser()}")
    except (KeyError, OSError):
        return Actor("cli")


def _as_actor(actor: Actor | str | None) -> Actor:
    if actor is None:
        return cli_actor()
    return Actor(actor) if isinstance(actor, str) else actor


def parse_scopes(raw: list[str] | None) -> list[str]:
    """Scopes from the CLI or a form: kinds and/or 'query'; 'ingest' means every kind; default is every kind."""
    if not raw:
        return list(KINDS)
    scopes: list[str] = []
    for item in (part.strip() for chunk in raw for part in chunk.split(",")):
        if not item:
            continue
        expanded = list(KINDS) if item == "ingest" else [item]
        for scope in expanded:
            if scope not in ALL_SCOPES:
                raise AccessError(f"unknown scope {scope!r}: choose from ingest, {', '.join(ALL_SCOPES)}")
            if scope not in scopes:
                scopes.append(scope)
    return scopes


def parse_rate(raw: str | None) -> int | None:
    """'500/s' or '500' events per second."""
    if raw is None or not raw.strip():
        return None
    number = raw.strip().removesuffix("/s").strip()
    if not number.isdigit() or not 0 < int(number) <= MAX_RATE_PER_S:
        raise AccessError(f"rate limit {raw!r} must look like 500/s (events per second, 1 to {MAX_RATE_PER_S})")
    return int(number)


def check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise AccessError("the key name must have 1 to 100 characters")
    return name


def check_default_kind(default_kind: str, scopes: list[str]) -> str:
    """The kind given to events that name none: one the key may send."""
    if default_kind not in KINDS:
        raise AccessError(f"unknown default kind {default_kind!r}: choose from {', '.join(KINDS)}")
    if default_kind not in scopes:
        raise AccessError(f"default kind {default_kind!r} is not among the key's scopes ({', '.join(scopes)})")
    return default_kind


def create_key(
    settings: Settings,
    name: str,
    scopes: list[str],
    rate_limit_per_s: int | None,
    actor: Actor | str | None = None,
    default_kind: str | None = None,
) -> CreatedKey:
    """``default_kind`` None means log (whatever the scopes: a key that may not send logs then has every
    event without a kind refused, naming the kind)."""
    name, who = check_name(name), _as_actor(actor)
    default_kind = "log" if default_kind is None else check_default_kind(default_kind, scopes)
    secret = generate_api_key()

    def mutate(conn: psycopg.Connection) -> Change[CreatedKey]:
        try:
            key = api_keys.insert(
                conn,
                name=name,
                key_hash=hash_api_key(secret),
                prefix=display_prefix(secret),
                scopes=scopes,
                rate_limit_per_s=rate_limit_per_s,
                created_by=who.account_id,
                default_kind=default_kind,
            )
        except psycopg.errors.UniqueViolation:
            raise Conflict(f"an active key named {name!r} already exists") from None
        new = {
            "name": name,
            "scopes": scopes,
            "rate_limit_per_s": rate_limit_per_s,
            "default_kind": default_kind,
            "prefix": key.prefix,
        }
        return Change(CreatedKey(key, secret), str(key.id), new=new)

    return audited(settings, who, "api_key.create", "api_key", mutate, resource_id=name)


def list_keys(settings: Settings, include_revoked: bool = False) -> list[api_keys.ApiKey]:
    with db.transaction(settings) as conn:
        return api_keys.list_all(conn, include_revoked=include_revoked)


def revoke_key(settings: Settings, key_id: int, actor: Actor | str | None = None) -> api_keys.ApiKey:
    def mutate(conn: psycopg.Connection) -> Change[tuple[api_keys.ApiKey, str]]:
        revoked = api_keys.revoke(conn, key_id)
        if revoked is None:
            raise NotFound(f"no active API key with id {key_id}")
        key = revoked[0]
        old = {"name": key.name, "scopes": list(key.scopes), "revoked": False}
        return Change(revoked, str(key.id), old=old, new={"revoked": True})

    key, key_hash = audited(settings, _as_actor(actor), "api_key.revoke", "api_key", mutate, resource_id=str(key_id))
    # Evict the cached key so the revocation bites now, not at the end of the cache TTL.
    try:
        redis.Redis.from_url(settings.redis_url, socket_timeout=2).delete(cache_key(key_hash))
    except redis.RedisError:
        pass  # the cache entry expires within api_key_cache_ttl_s anyway
    return key
