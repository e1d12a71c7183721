"""Account lockout after repeated wrong passwords, and the per-address login throttle.

The lockout is pure (a state and a clock in, a new state out), so its rules are
tested without a database; the throttle is one fixed-window counter in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import redis


@dataclass(frozen=True)
class LockState:
    failures: int
    locked_until: datetime | None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


def after_failure(state: LockState, now: datetime, max_failures: int, lock_s: int) -> tuple[LockState, bool]:
    """The state after one more wrong password, and whether this failure locked the account.

    A lock that has run out starts a fresh count, so an account is never locked again by one failure.
    """
    failures = 1 if state.locked_until is not None and not state.locked(now) else state.failures + 1
    if failures >= max_failures:
        return LockState(0, now + timedelta(seconds=lock_s)), True
    return LockState(failures, None), False


@dataclass(frozen=True)
class ThrottleResult:
    allowed: bool
    attempts: int
    retry_after_s: int
    first_refusal: bool  # the attempt that crossed the limit: the one worth a security event


class LoginThrottle:
    """At most ``max_attempts`` login attempts per address per ``window_s`` (a fixed window in Redis)."""

    def __init__(self, client: redis.Redis, max_attempts: int, window_s: int) -> None:
        self._redis = client
        self.max_attempts = max_attempts
        self.window_s = window_s

    def hit(self, address: str) -> ThrottleResult:
        key = f"lookout:login-throttle:{address}"
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, self.window_s, nx=True)
        pipe.ttl(key)
        attempts, _, ttl = pipe.execute()
        allowed = attempts <= self.max_attempts
        return ThrottleResult(allowed, attempts, max(int(ttl), 1), attempts == self.max_attempts + 1)
