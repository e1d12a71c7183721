"""Delivering queued notifications: one attempt per channel call, retried with backoff, each attempt recorded.

The outbox (alert_notifications) is filled by evaluations in the same
transaction as their state. Every tick, a scheduler claims due notifications
(FOR UPDATE SKIP LOCKED, with a claim that expires, so two schedulers never
send the same one and a dead one's claims come back) and hands each to its
own worker thread: a channel that hangs holds only its own workers, at most
LOOKOUT_ALERT_CHANNEL_CONCURRENCY of them, never another channel's delivery.
Whether a failure is retried depends on what failed (Alertmanager's notifiers
do the same): timeouts, connection errors, 408, 429 and 5xx are; other 4xx
answers and bad configuration are not.
"""

from __future__ import annotations

import json
import logging
import random
import smtplib
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import requests
from psycopg_pool import PoolTimeout

from alerts import messages
from lookout.settings import Settings
from warehouse import postgres
from warehouse.queries import alert_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str = ""
    retryable: bool = True

    def __str__(self) -> str:
        if self.ok:
            return f"delivered ({self.status_code})" if self.status_code else "delivered"
        return f"failed: {self.error}" + ("" if self.retryable else " (not retried)")


def backoff_s(attempt: int, base_s: float, max_s: float, rand: Callable[[float, float], float]) -> float:
    """Capped exponential backoff with full jitter before attempt ``attempt + 1``."""
    return rand(0.0, min(max_s, base_s * 2 ** (attempt - 1)))


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Outcome:
    try:
        response = requests.post(
            url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=timeout_s
        )
    except requests.Timeout:
        return Outcome(False, None, f"no answer within {timeout_s:g}s")
    except requests.RequestException as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}")
    if 200 <= response.status_code < 300:
        return Outcome(True, response.status_code)
    retryable = response.status_code in (408, 429) or response.status_code >= 500
    return Outcome(False, response.status_code, f"HTTP {response.status_code}: {response.text[:200]}", retryable)


def _send_email(settings: Settings, payload: Mapping[str, Any], to: list[str]) -> Outcome:
    message = messages.email_message(payload, settings.smtp_from, to)
    timeout = settings.alert_send_timeout_s
    try:
        if settings.smtp_security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        # 4yz replies are transient by definition (RFC 5321); 5yz are permanent.
        return Outcome(False, exc.smtp_code, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", exc.smtp_code < 500)
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}")
    return Outcome(True)


def send(settings: Settings, channel: Mapping[str, Any], payload: Mapping[str, Any], now: float) -> Outcome:
    """One attempt to deliver ``payload`` through ``channel`` (a row of alert_channels)."""
    config, timeout = channel["config"], settings.alert_send_timeout_s
    kind = channel["type"]
    if kind == "webhook":
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        stamp = int(now)
        headers = {messages.TIMESTAMP_HEADER: str(stamp)}
        if channel["secret"]:
            headers[messages.SIGNATURE_HEADER] = messages.sign(channel["secret"], stamp, body)
        return _post(config["url"], body, headers, timeout)
    if kind == "slack":
        return _post(config["url"], json.dumps(messages.slack_body(payload)).encode(), {}, timeout)
    if kind == "pagerduty":
        outcome = Outcome(False, None, "no alert to send", False)
        for event in messages.pagerduty_events(payload, channel["secret"] or ""):
            outcome = _post(config.get("url", messages.PAGERDUTY_URL), json.dumps(event).encode(), {}, timeout)
            if not outcome.ok:
                return outcome  # the retry re-sends them all: PagerDuty deduplicates on dedup_key
        return outcome
    if kind == "email":
        return _send_email(settings, payload, list(config["to"]))
    return Outcome(False, None, f"unknown channel type {kind!r}", retryable=False)


class Deliverer:
    """The delivery job: claims due notifications and sends each on a worker thread."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        rand: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._rand = rand
        self._workers = ThreadPoolExecutor(settings.alert_delivery_workers, thread_name_prefix="alert-delivery")
        self._lock = threading.Lock()
        self._in_flight: Counter[int] = Counter()
        # Pooled: this job runs every tick on every scheduler; a new PostgreSQL backend each time adds up.
        self._pool = postgres.pool(
            settings.postgres_dsn, max_size=settings.alert_delivery_workers + 1, name="alert-delivery"
        )

    def tick(self) -> int:
        """Claim what is due and start sending it; how many were claimed."""
        settings = self._settings
        with self._lock:
            free = settings.alert_delivery_workers - sum(self._in_flight.values())
            busy = [channel for channel, n in self._in_flight.items() if n > 0]
        if free <= 0:
            return 0
        now = datetime.fromtimestamp(self._clock(), UTC)
        # A claim outlives the attempt (timeout) with room to record it; after that another scheduler may retry.
        claim_s = settings.alert_send_timeout_s * 2 + 10
        try:
            with self._pool.connection() as conn:
                rows = alert_store.claim_due_notifications(
                    conn, now, free, claim_s, busy, settings.alert_channel_concurrency
                )
                conn.commit()
        except (PoolTimeout, psycopg.OperationalError) as exc:
            log.warning("notifications not delivered this tick: %s", exc)
            return 0
        for row in rows:
            with self._lock:
                self._in_flight[row["channel_id"]] += 1
            self._workers.submit(self._deliver, row)
        return len(rows)

    def _deliver(self, row: Mapping[str, Any]) -> None:
        started = time.monotonic()
        try:
            outcome = send(self._settings, row, row["payload"], self._clock())
        except Exception as exc:  # noqa: BLE001 - whatever went wrong is recorded and retried, never lost
            log.exception("notification %s: unexpected error", row["id"])
            outcome = Outcome(False, None, f"{type(exc).__name__}: {exc}")
        duration_ms = (time.monotonic() - started) * 1000
        attempt = row["attempts"]
        retry_at = None
        at = datetime.fromtimestamp(self._clock(), UTC)
        if not outcome.ok and outcome.retryable and attempt < self._settings.alert_max_attempts:
            delay = backoff_s(attempt, self._settings.alert_retry_base_s, self._settings.alert_retry_max_s, self._rand)
            retry_at = at + timedelta(seconds=delay)
        try:
            with self._pool.connection() as conn:
                alert_store.record_attempt(
                    conn,
                    row["id"],
                    attempt,
                    ok=outcome.ok,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=duration_ms,
                    at=at,
                    retry_at=retry_at,
                    channel=row["channel"],
                    incident_ids=row["incident_ids"],
                )
                conn.commit()
        except (PoolTimeout, psycopg.Error, OSError) as exc:
            # The claim expires and the notification is tried again: at least once, never lost.
            log.warning("notification %s: attempt not recorded: %s", row["id"], exc)
        finally:
            with self._lock:
                self._in_flight[row["channel_id"]] -= 1
        level = logging.INFO if outcome.ok else logging.WARNING
        log.log(level, "notification %s via %s attempt %s: %s", row["id"], row["channel"], attempt, outcome)

    def close(self) -> None:
        self._workers.shutdown(wait=True)
        self._pool.close()


def send_test(settings: Settings, channel_name: str) -> Outcome:
    """Send a test notification through one channel now (not queued, not retried)."""
    with postgres.connect(settings.postgres_dsn) as conn:
        channel = next((c for c in alert_store.list_channels(conn) if c["name"] == channel_name), None)
    if channel is None:
        return Outcome(False, None, f"no channel named {channel_name!r}", retryable=False)
    now = time.time()
    payload = messages.test_payload(channel_name, now, settings.public_url)
    return send(settings, channel, payload, now)
