"""Events accepted per API key over the last 24 hours, counted in Redis.

The collector adds each request's accepted events to the key's current 10-minute bucket once Kafka
has acknowledged them; the keys page sums the buckets of the last 24 hours. Buckets expire by
themselves a day after they close, so nothing needs cleaning up. The count is best effort: while
Redis is unavailable, events are still accepted but not counted (the count is an operator's aid,
not billing, and must never fail an ingest request).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis

log = logging.getLogger(__name__)

BUCKET_S = 600
WINDOW_S = 24 * 3600
_BUCKETS = WINDOW_S // BUCKET_S


def bucket_key(key_id: int, bucket: int) -> str:
    return f"lookout:key-usage:{key_id}:{bucket}"


def window_buckets(now_s: float) -> range:
    """The buckets summed for "the last 24 h": the current one and the 143 before it."""
    current = int(now_s) // BUCKET_S
    return range(current - _BUCKETS + 1, current + 1)


def record(client: redis.Redis, key_id: int, events: int, now_s: float) -> None:
    """Count ``events`` accepted for a key now (one round trip; errors are logged, never raised)."""
    bucket = int(now_s) // BUCKET_S
    name = bucket_key(key_id, bucket)
    try:
        pipe = client.pipeline(transaction=False)
        pipe.incrby(name, events)
        pipe.expireat(name, (bucket + 1) * BUCKET_S + WINDOW_S)
        pipe.execute()
    except redis.RedisError as exc:
        log.debug("key usage not counted", extra={"key_id": key_id, "error": str(exc)})


def last_24h(client: redis.Redis, key_ids: Iterable[int], now_s: float) -> dict[int, int | None]:
    """Events accepted per key over the last 24 h; None for every key when Redis cannot say."""
    ids = list(key_ids)
    buckets = window_buckets(now_s)
    try:
        pipe = client.pipeline(transaction=False)
        for key_id in ids:
            pipe.mget([bucket_key(key_id, b) for b in buckets])
        answers = pipe.execute()
    except redis.RedisError as exc:
        log.warning("key usage unavailable", extra={"error": str(exc)})
        return dict.fromkeys(ids)
    return {key_id: sum(int(v) for v in values if v is not None) for key_id, values in zip(ids, answers, strict=True)}
