"""API-key authentication shared by the collector (ingest scopes) and the dashboards API (query scope).

PostgreSQL is the truth, Redis a short-lived cache. The cache TTL bounds how
long a revoked key keeps working (5 s by default); revoking through Lookout
also evicts the cache entry at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson
import psycopg
import redis

from access.credentials import hash_api_key
from warehouse import postgres
from warehouse.queries import api_keys

log = logging.getLogger(__name__)

CACHE_PREFIX = "lookout:apikey:"
_NEGATIVE = b"-"


class AuthUnavailable(RuntimeError):
    """Neither the cache nor PostgreSQL could answer: the caller should retry later (503)."""


@dataclass(frozen=True)
class Principal:
    """Who sent a request: the key's id and name, what it may do, its rate limit, the kind of its
    events that name none (on the routes that take other tools' formats)."""

    key_id: int
    name: str
    scopes: frozenset[str]
    rate_limit_per_s: int | None
    default_kind: str = "log"

    def may_send(self, kind: str) -> bool:
        return kind in self.scopes


def cache_key(key_hash: str) -> str:
    return CACHE_PREFIX + key_hash


class ApiKeyAuthenticator:
    def __init__(self, postgres_dsn: str, redis_client: redis.Redis, cache_ttl_s: int) -> None:
        self._dsn = postgres_dsn
        self._redis = redis_client
        self._ttl = cache_ttl_s
        self._conn: psycopg.Connection | None = None

    def authenticate(self, presented_key: str) -> Principal | None:
        """The principal for a presented key, or None when the key is unknown or revoked."""
        key_hash = hash_api_key(presented_key)
        cached = self._cache_get(key_hash)
        if cached is not None:
            return None if cached == _NEGATIVE else _principal_from_json(cached)
        found = self._lookup(key_hash)
        principal = (
            Principal(found.id, found.name, frozenset(found.scopes), found.rate_limit_per_s, found.default_kind)
            if found
            else None
        )
        # Unknown keys are cached too, so a client hammering with a bad key costs Redis, not PostgreSQL.
        self._cache_set(key_hash, _principal_to_json(principal) if principal else _NEGATIVE)
        return principal

    def _lookup(self, key_hash: str) -> api_keys.ApiKey | None:
        for attempt in (1, 2):  # a connection dropped by a PostgreSQL restart gets one reconnect
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = postgres.connect(self._dsn, autocommit=True, connect_timeout=2)
                found = api_keys.find_active_by_hash(self._conn, key_hash)
                if found is not None:
                    # On cache misses only, so "last used" is accurate to the cache TTL at no per-request cost.
                    api_keys.touch(self._conn, found.id)
                return found
            except (psycopg.OperationalError, postgres.PostgresUnavailable) as exc:
                self._conn = None
                if attempt == 2:
                    raise AuthUnavailable(f"cannot check API keys: {exc}") from exc
        return None

    def healthy(self) -> bool:
        """PostgreSQL answers a trivial query."""
        try:
            self._lookup("")
            return True
        except AuthUnavailable:
            return False

    def _cache_get(self, key_hash: str) -> bytes | None:
        try:
            return self._redis.get(cache_key(key_hash))
        except redis.RedisError as exc:
            log.warning("api key cache unavailable, asking PostgreSQL", extra={"error": str(exc)})
            return None

    def _cache_set(self, key_hash: str, value: bytes) -> None:
        try:
            self._redis.set(cache_key(key_hash), value, ex=self._ttl)
        except redis.RedisError:
            pass  # the cache is an optimisation; _cache_get already logged that Redis is down


def _principal_to_json(principal: Principal) -> bytes:
    return orjson.dumps(
        {
            "id": principal.key_id,
            "name": principal.name,
            "scopes": sorted(principal.scopes),
            "rate": principal.rate_limit_per_s,
            "default_kind": principal.default_kind,
        }
    )


def _principal_from_json(raw: bytes) -> Principal:
    data = orjson.loads(raw)
    # Entries cached before keys had a default kind expire within the cache TTL; until then they mean "log".
    return Principal(data["id"], data["name"], frozenset(data["scopes"]), data["rate"], data.get("default_kind", "log"))
