"""What the collector's views work with: its settings and its connections, attached to the app once."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import Flask, current_app

from access.auth import ApiKeyAuthenticator
from collector.inflight import BodyBudget
from collector.producer import EventProducer
from collector.ratelimit import RateLimiter
from lookout.settings import Settings

EXTENSION = "lookout.collector"
_BODY_BUDGET = "lookout.collector.body_budget"
_SETTINGS = "LOOKOUT_SETTINGS"


@dataclass
class CollectorServices:
    """The collector's connections to the outside world, built once per process."""

    authenticator: ApiKeyAuthenticator
    limiter: RateLimiter
    producer: EventProducer
    redis: redis.Redis

    @classmethod
    def from_settings(cls, settings: Settings) -> CollectorServices:
        redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
        return cls(
            authenticator=ApiKeyAuthenticator(settings.postgres_dsn, redis_client, settings.api_key_cache_ttl_s),
            limiter=RateLimiter(redis_client),
            producer=EventProducer(settings),
            redis=redis_client,
        )


def attach(app: Flask, settings: Settings, services: CollectorServices) -> None:
    app.extensions[EXTENSION] = services
    # One per process: gunicorn loads the app in each worker, after the fork.
    app.extensions[_BODY_BUDGET] = BodyBudget(settings.collector_body_bytes_in_flight)
    app.config[_SETTINGS] = settings


def services() -> CollectorServices:
    return current_app.extensions[EXTENSION]


def settings() -> Settings:
    return current_app.config[_SETTINGS]


def body_budget() -> BodyBudget:
    return current_app.extensions[_BODY_BUDGET]
