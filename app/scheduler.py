"""The background scheduler (APScheduler) and its Redis leader lock.

Several nodes may run a scheduler; each periodic job runs on one of them at a
time: a job first takes a Redis lock named after it (SET NX with an expiry),
and a node that cannot take it skips that run. The expiry frees the lock if
its holder dies mid-job. The warehouse's retention and rollup jobs run that
way; the alerting jobs (alerts/jobs.py) run on every node and share the work
rule by rule and notification by notification.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import redis
from apscheduler.schedulers.background import BackgroundScheduler

from alerts import jobs as alert_jobs
from lookout.settings import Settings
from warehouse import clickhouse, retention, rollup_refresh

log = logging.getLogger(__name__)

_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"


class LeaderLock:
    def __init__(self, client: redis.Redis, owner: str | None = None) -> None:
        self._redis = client
        self.owner = owner or uuid.uuid4().hex
        self._release = client.register_script(_RELEASE)

    def run_if_leader(self, name: str, ttl_s: int, job: Callable[[], object]) -> bool:
        """Run ``job`` if this node takes the lock ``name``; False when another node holds it."""
        key = f"lookout:leader:{name}"
        try:
            if not self._redis.set(key, self.owner, nx=True, ex=ttl_s):
                return False
        except redis.RedisError as exc:
            log.warning("leader lock unavailable, skipping this run", extra={"job": name, "error": str(exc)})
            return False
        try:
            job()
        finally:
            try:
                self._release(keys=[key], args=[self.owner])
            except redis.RedisError:
                pass  # the lock expires by itself
        return True


def create_scheduler(settings: Settings) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    lock = LeaderLock(client)
    # Partitions for the months ahead and retention for the months behind, once an hour.
    scheduler.add_job(
        lock.run_if_leader,
        "interval",
        hours=1,
        args=["retention", 600, lambda: retention.run(settings)],
        id="retention",
        name="retention",
        next_run_time=datetime.now(UTC),
        # The first run is due when the job is added, before the scheduler starts: with the default one
        # second of grace a slow start skipped it (and logged a warning) until an hour later.
        misfire_grace_time=None,
        coalesce=True,
    )
    # Rollups recomputed from the deduplicated raw rows for the minutes recent inserts touched.
    scheduler.add_job(
        lock.run_if_leader,
        "interval",
        seconds=settings.rollup_interval_s,
        args=["rollups", max(60, int(settings.rollup_interval_s * 4)), lambda: _refresh_rollups(settings)],
        id="rollups",
        name="rollups",
        max_instances=1,
        coalesce=True,
    )
    alert_jobs.register(scheduler, settings, client)
    return scheduler


def _refresh_rollups(settings: Settings) -> None:
    client = clickhouse.connect(settings.clickhouse_dsn)
    try:
        rollup_refresh.refresh(client)
    finally:
        client.close()
