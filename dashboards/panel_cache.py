"""Panel answers kept in Redis for a few seconds, so a team opening the same dashboard, or a page refreshing,
costs one query per panel per TTL instead of one per viewer.

The key is the panel, its normalised query (parameters sorted; a relative range such as ``now-24h`` kept as
written and the clock floored to the TTL, so two viewers within one TTL share an answer) and the viewer's
role: an answer computed for one role is never served to another, which may be allowed to see less.
The cache is an optimisation: Redis failing makes panels slower, never broken.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import redis

log = logging.getLogger("lookout.dashboards.panel_cache")
PREFIX = "lookout:panel:v1:"


def cache_key(panel: str, params: Mapping[str, str], role: str, now_s: float, ttl_s: int) -> str:
    """Pure: the Redis key for ``panel`` asked with ``params`` by ``role`` at ``now_s``."""
    normalised = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if v != "")
    bucket = int(now_s // ttl_s) if ttl_s > 0 else 0
    digest = hashlib.sha256(f"{panel}?{normalised}@{bucket}".encode()).hexdigest()[:32]
    return f"{PREFIX}{role}:{digest}"


@dataclass
class PanelCache:
    client: redis.Redis
    ttl_s: int

    def get_or_compute(
        self, panel: str, params: Mapping[str, str], role: str, now_s: float, compute: Callable[[], bytes]
    ) -> tuple[bytes, bool]:
        """The answer and whether it came from the cache; ``compute`` runs only on a miss."""
        if self.ttl_s <= 0:
            return compute(), False
        key = cache_key(panel, params, role, now_s, self.ttl_s)
        try:
            found = self.client.get(key)
        except redis.RedisError as exc:
            log.warning("panel cache unavailable, computing", extra={"error": str(exc)})
            return compute(), False
        if found is not None:
            return found, True
        answer = compute()
        try:
            self.client.set(key, answer, ex=self.ttl_s)
        except redis.RedisError as exc:
            log.warning("panel cache unavailable, not storing", extra={"error": str(exc)})
        return answer, False
