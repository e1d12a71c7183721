"""The alerting jobs the scheduler runs (app/scheduler.py registers them)."""

from __future__ import annotations

import redis
from apscheduler.schedulers.base import BaseScheduler

from alerts.delivery import Deliverer
from alerts.evaluation import Evaluator
from lookout.settings import Settings


def register(scheduler: BaseScheduler, settings: Settings, redis_client: redis.Redis) -> tuple[Evaluator, Deliverer]:
    """Evaluation and delivery, every LOOKOUT_ALERT_TICK_S on every scheduler: they need no leader lock,
    rules are leased one by one and notifications claimed one by one."""
    evaluator = Evaluator(settings, redis_client)
    deliverer = Deliverer(settings)
    for job_id, job in (("alerts", evaluator.tick), ("alert-delivery", deliverer.tick)):
        scheduler.add_job(
            job, "interval", seconds=settings.alert_tick_s, id=job_id, name=job_id, max_instances=1, coalesce=True
        )
    return evaluator, deliverer
