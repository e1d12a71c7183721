"""Server-side sessions in Redis: the browser holds only a random id.

Redis stores a session under the SHA-256 of its id, so a copy of Redis's data
does not hand out live sessions. A session ends after ``idle_s`` without use
(its TTL, renewed on each save) and at the latest ``absolute_s`` after it
began, whatever its use. Each account's session keys are indexed, so a change
of password or role, disabling, or "sign out everywhere" ends them all.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis

from lookout.settings import Settings

_PREFIX = "lookout:session:"
_ACCOUNT_PREFIX = "lookout:account-sessions:"


def new_id() -> str:
    return secrets.token_urlsafe(32)


def ref(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass
class StoredSession:
    created_at: float
    account_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


def remaining_ttl(created_at: float, now: float, idle_s: int, absolute_s: int) -> int:
    """Seconds the session may live from now: the idle timeout, cut short by the absolute lifetime."""
    return max(0, min(idle_s, int(created_at + absolute_s - now)))


class SessionStore:
    def __init__(self, client: redis.Redis, idle_s: int, absolute_s: int) -> None:
        self._redis = client
        self.idle_s = idle_s
        self.absolute_s = absolute_s

    @classmethod
    def from_settings(cls, settings: Settings, client: redis.Redis | None = None) -> SessionStore:
        client = client or redis.Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        return cls(client, settings.session_idle_timeout_s, settings.session_lifetime_s)

    def load(self, session_id: str, now: float | None = None) -> StoredSession | None:
        raw = self._redis.get(_PREFIX + ref(session_id))
        if raw is None:
            return None
        stored = orjson.loads(raw)
        session = StoredSession(stored["c"], stored.get("a"), stored.get("d") or {})
        if remaining_ttl(session.created_at, now or time.time(), self.idle_s, self.absolute_s) <= 0:
            self.delete(session_id)
            return None
        return session

    def save(self, session_id: str, session: StoredSession, now: float | None = None) -> int:
        """Store and renew the idle timeout; returns the seconds left (0: expired, nothing stored)."""
        ttl = remaining_ttl(session.created_at, now or time.time(), self.idle_s, self.absolute_s)
        key = _PREFIX + ref(session_id)
        if ttl <= 0:
            self._redis.delete(key)
            return 0
        value = orjson.dumps({"c": session.created_at, "a": session.account_id, "d": session.data})
        pipe = self._redis.pipeline()
        pipe.set(key, value, ex=ttl)
        if session.account_id is not None:
            index = f"{_ACCOUNT_PREFIX}{session.account_id}"
            pipe.sadd(index, ref(session_id))
            pipe.expire(index, self.absolute_s)
        pipe.execute()
        return ttl

    def delete(self, session_id: str) -> None:
        self._redis.delete(_PREFIX + ref(session_id))

    def delete_for_account(self, account_id: int, keep_ref: str | None = None) -> int:
        """End every session of an account (but the one whose ref starts with ``keep_ref``); returns how many."""
        index = f"{_ACCOUNT_PREFIX}{account_id}"
        refs = [r.decode() for r in self._redis.smembers(index)]
        doomed = [r for r in refs if not (keep_ref and r.startswith(keep_ref))]
        if doomed:
            pipe = self._redis.pipeline()
            pipe.delete(*(_PREFIX + r for r in doomed))
            pipe.srem(index, *doomed)
            pipe.execute()
        return len(doomed)
