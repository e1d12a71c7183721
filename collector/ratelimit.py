"""Per-key rate limiting in Redis: an atomic token bucket measured in events per second.

A request costs one token per event. The bucket may go into debt: a batch
bigger than the bucket is let through when the bucket is full and then holds
the key back until the debt is repaid, so the long-run rate is exact and no
batch size is rejected forever.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import redis

from access.auth import Principal

log = logging.getLogger(__name__)

# KEYS[1] bucket; ARGV: rate/s, capacity, cost, now (s, float). Returns
# {allowed (0/1), tokens left (float as string), seconds until allowed}.
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local wait = 0
if tokens > 0 then
  tokens = tokens - cost
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate + 1 + math.max(0, -tokens) / rate))
return {allowed, tostring(tokens), tostring(wait)}
"""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # seconds until the bucket is full again
    retry_after_s: int  # seconds to wait before retrying (0 when allowed)

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class RateLimiter:
    def __init__(self, redis_client: redis.Redis, burst_seconds: float = 1.0) -> None:
        self._redis = redis_client
        self._script = redis_client.register_script(_TOKEN_BUCKET)
        self._burst_seconds = burst_seconds

    def check(self, key_id: int, rate_per_s: int, cost: int, now: float | None = None) -> RateDecision | None:
        """Charge ``cost`` events to a key; None when Redis is down (the caller fails open)."""
        capacity = max(1.0, rate_per_s * self._burst_seconds)
        try:
            allowed, tokens_raw, wait_raw = self._script(
                keys=[f"lookout:ratelimit:{key_id}"],
                args=[rate_per_s, capacity, cost, time.time() if now is None else now],
            )
        except redis.RedisError as exc:
            log.warning("rate limiter unavailable, letting the request through", extra={"error": str(exc)})
            return None
        tokens = float(tokens_raw)
        return RateDecision(
            allowed=bool(allowed),
            limit=rate_per_s,
            remaining=max(0, math.floor(tokens)),
            reset_s=math.ceil(max(0.0, capacity - tokens) / rate_per_s),
            retry_after_s=max(1, math.ceil(float(wait_raw))),
        )


def rate_limit_event(principal: Principal, limit: int, ip_address: str, endpoint: str, now_ms: int) -> dict[str, Any]:
    """The security_event recorded when a key is throttled (the seed's rate_limit_exceeded)."""
    return {
        "kind": "security_event",
        "timestamp": now_ms,
        "service": "lookout-collector",
        "event_type": "rate_limit_exceeded",
        "severity": "medium",
        "ip_address": ip_address,
        "endpoint": endpoint,
        "automatic_action_taken": "rate_limited",
        "threat_indicators": {"api_key_id": principal.key_id, "api_key_name": principal.name, "limit_per_s": limit},
    }
