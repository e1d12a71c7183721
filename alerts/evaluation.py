"""Evaluating rules: a Redis lease per rule, the query, the pure engine, one fenced transaction.

Any number of schedulers run :meth:`Evaluator.tick`. For each due rule a
scheduler takes the rule's lease (SET NX PX in Redis, expiring after the
rule's interval, so a dead holder is replaced within one interval); taking it
also hands out the next fencing token (INCR). The query runs without locks;
then, in one PostgreSQL transaction, the rule's state row is locked and the
write is refused if a larger token was stored (this holder's lease expired
and another took over) or if the rule was evaluated meanwhile. State,
incident timeline and queued notifications commit together, so a
notification is queued exactly once whichever scheduler evaluated.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import redis
from clickhouse_connect.driver.client import Client
from psycopg_pool import PoolTimeout

from alerts import messages, platform, shared_scans
from alerts.engine import Ack, Evaluation, QueryResult, Runtime, Sample, evaluate
from alerts.grouping import Silence
from alerts.rules import Rule, RuleError, parse_rule
from lookout.settings import Settings
from warehouse import clickhouse, postgres
from warehouse.queries import alert_queries, alert_store

log = logging.getLogger(__name__)

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"


class RuleLease:
    """One holder per rule at a time; each acquisition comes with a larger fencing token."""

    def __init__(self, client: redis.Redis, owner: str) -> None:
        self.owner = owner
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)

    @staticmethod
    def _keys(rule_id: int) -> list[str]:
        return [f"lookout:alerts:lease:{rule_id}", f"lookout:alerts:fence:{rule_id}"]

    def acquire(self, rule_id: int, ttl_s: float) -> int | None:
        token = self._acquire(keys=self._keys(rule_id), args=[self.owner, max(1, int(ttl_s * 1000))])
        return int(token) if token else None

    def release(self, rule_id: int) -> None:
        self._release(keys=self._keys(rule_id)[:1], args=[self.owner])


class Evaluator:
    def __init__(
        self,
        settings: Settings,
        redis_client: redis.Redis,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        # Names the scheduler in alert_rule_state.evaluated_by: which node and process evaluated a rule last.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._lease = RuleLease(redis_client, self.owner)
        self._workers = ThreadPoolExecutor(settings.alert_evaluation_workers, thread_name_prefix="alert-evaluation")
        # Pooled connections: a new PostgreSQL backend per evaluation cost more CPU than the evaluation itself.
        self._pool = postgres.pool(settings.postgres_dsn, max_size=settings.alert_evaluation_workers + 1, name="alerts")
        self._lock = threading.Lock()
        self._running: set[int] = set()
        self._local = threading.local()  # one ClickHouse client per worker: HTTP sessions are not shared
        self._scans = ScanCache(settings.alert_tick_s)

    def tick(self) -> int:
        """The scheduler's job: hand each due rule not already being evaluated here to a worker; returns at once,
        so a slow rule never makes the scheduler skip a tick for the others."""
        submitted = 0
        for row in self._due():
            with self._lock:
                if row["id"] in self._running:
                    continue
                self._running.add(row["id"])
            self._workers.submit(self._evaluate_then_forget, row)
            submitted += 1
        return submitted

    def evaluate_due(self) -> int:
        """Evaluate every due rule this scheduler can lease, in this thread; how many it evaluated."""
        return sum(1 for row in self._due() if self.evaluate_rule(row))

    def _evaluate_then_forget(self, row: Mapping[str, Any]) -> None:
        try:
            self.evaluate_rule(row)
        except Exception:
            log.exception("rule %s: evaluation failed", row["name"])
        finally:
            with self._lock:
                self._running.discard(row["id"])

    def _due(self) -> list[dict[str, Any]]:
        try:
            with self._pool.connection() as conn:
                return alert_store.due_rules(conn, datetime.fromtimestamp(self._clock(), UTC))
        except (PoolTimeout, psycopg.OperationalError) as exc:
            log.warning("alert rules not evaluated: %s", exc)
            return []

    def close(self) -> None:
        self._workers.shutdown(wait=True)
        self._pool.close()

    def evaluate_rule(self, row: Mapping[str, Any]) -> bool:
        try:
            rule = parse_rule(row["definition"], f"stored rule {row['name']}", 0)
        except RuleError as exc:
            log.error("alert rule %s is invalid and skipped: %s", row["name"], exc)
            return False
        try:
            token = self._lease.acquire(row["id"], rule.interval_s)
        except redis.RedisError as exc:
            log.warning("rule lease unavailable, rule %s skipped this round: %s", rule.name, exc)
            return False
        if token is None:
            return False
        try:
            return self._evaluate(row["id"], rule, token)
        finally:
            try:
                self._lease.release(row["id"])
            except redis.RedisError:
                pass  # it expires by itself

    def _evaluate(self, rule_id: int, rule: Rule, token: int) -> bool:
        with self._pool.connection() as conn:
            memo: Mapping[str, Any] = {}
            if rule.query.type == "platform":  # the only query type with a memo (its counters' last samples)
                memo = alert_store.lock_state(conn, rule_id)["memo"]
                conn.rollback()  # read only: the query below must not run under the row lock
            now = self._clock()
            result, new_memo = self._query(conn, rule, now, memo)
            conn.rollback()
            state = alert_store.lock_state(conn, rule_id)
            if state["fencing_token"] > token:
                log.warning(
                    "rule %s: state write refused, a newer lease holder wrote (token %s > %s)",
                    rule.name,
                    state["fencing_token"],
                    token,
                )
                conn.rollback()
                return False
            if not alert_store.rule_is_live(conn, rule_id):
                conn.rollback()  # disabled or deleted since it was found due: its incidents were closed then
                return False
            last = state["last_evaluated_at"]
            if last is not None and last.timestamp() + rule.interval_s > now + 0.001:
                conn.rollback()  # another scheduler evaluated it since this one found it due
                return False
            stamp = datetime.fromtimestamp(now, UTC)
            silences = tuple(
                Silence(s["id"], s["matchers"], s["starts_at"].timestamp(), s["ends_at"].timestamp(), s["author"])
                for s in alert_store.active_silences(conn, stamp)
            )
            acks = {
                a["fingerprint"]: Ack(a["acknowledged_by"], a["acknowledged_at"].timestamp())
                for a in alert_store.open_acknowledgements(conn, rule_id)
            }
            done = evaluate(rule, Runtime.from_json(state["runtime"]), result, now, silences, acks)
            self._write(conn, rule_id, rule, done, now)
            alert_store.write_state(
                conn, rule_id, token, done.runtime.to_json(), new_memo, stamp, result.error or "", self.owner
            )
            conn.commit()
        return True

    def _write(self, conn: psycopg.Connection, rule_id: int, rule: Rule, done: Evaluation, now: float) -> None:
        for entry in done.timeline:
            if entry.kind == "acknowledged":
                continue  # alert_store.acknowledge wrote it, with its author, when it happened
            alert = done.runtime.alerts.get(entry.fingerprint)
            alert_store.record_timeline(
                conn,
                rule_id,
                entry.fingerprint,
                entry.group_key,
                entry.kind,
                datetime.fromtimestamp(entry.at, UTC),
                entry.value,
                entry.detail,
                alert.severity if alert and alert.severity else rule.severity,
            )
        if done.notice is None or not rule.channels:
            return
        payload = messages.build_payload(rule, done.notice, now, self._settings.public_url)
        fingerprints = [a.fingerprint for a in (*done.notice.firing, *done.notice.resolved)]
        incidents = list(alert_store.open_incident_ids(conn, fingerprints).values())
        for channel in alert_store.channels_named(conn, rule.channels):
            alert_store.queue_notification(conn, rule_id, channel["id"], incidents, done.notice.kind, payload)

    def _query(
        self, conn: psycopg.Connection, rule: Rule, now: float, memo: Mapping[str, Any]
    ) -> tuple[QueryResult, Mapping[str, Any]]:
        """The rule's samples at ``now`` (or the error that prevented them) and the memo to keep."""
        if rule.query.type == "platform":
            return self._platform(rule.query.params["metric"], memo)
        try:
            client = self._clickhouse_client()
        except Exception as exc:  # noqa: BLE001 - the warehouse being unreachable is the rule's on_error case
            return QueryResult(error=f"{type(exc).__name__}: {str(exc)[:300]}"), memo
        key = alert_queries.scan_key(rule.query.type, rule.query.params, rule.window_s)
        if key is None:
            result = run_query(rule, now, client, conn)
        else:
            result = self._scans.answer(rule, key, now, client)
        if result.error is not None:
            self._local.clickhouse = None  # a fresh client next time, in case this one's session broke
            log.warning("rule %s: query failed: %s", rule.name, result.error)
        return result, memo

    def _platform(self, metric: str, memo: Mapping[str, Any]) -> tuple[QueryResult, Mapping[str, Any]]:
        texts, errors = platform.scrape(self._settings.alert_metrics_urls)
        if errors and not texts:
            return QueryResult(error="; ".join(errors)[:500]), memo
        value, new_memo = platform.value_now(metric, platform.total(texts, metric), memo)
        return QueryResult(() if value is None else (Sample({}, value),)), new_memo

    def _clickhouse_client(self) -> Client:
        client: Client | None = getattr(self._local, "clickhouse", None)
        if client is None:
            client = self._local.clickhouse = clickhouse.connect(self._settings.clickhouse_dsn)
        return client


def run_query(rule: Rule, now: float, warehouse: Client, conn: psycopg.Connection) -> QueryResult:
    """A (non-platform) rule's samples for the window ending at ``now``, or the error that prevented them."""
    end = datetime.fromtimestamp(now, UTC)
    built = alert_queries.build(
        rule.query.type, rule.query.params, rule.group_by, end - timedelta(seconds=rule.window_s), end
    )
    try:
        rows = fetch(built, warehouse, conn)
    except Exception as exc:  # noqa: BLE001 - any failure of the query is the rule's on_error case
        return QueryResult(error=f"{type(exc).__name__}: {str(exc)[:300]}")
    return QueryResult(samples(rows, built.group_by))


def fetch(built: alert_queries.BuiltQuery, warehouse: Client, conn: psycopg.Connection) -> list[dict[str, Any]]:
    if built.database == "postgres":
        return conn.execute(built.sql, built.params).fetchall()
    answer = warehouse.query(built.sql, parameters=built.params)
    return [dict(zip(answer.column_names, r, strict=True)) for r in answer.result_rows]


def samples(rows: list[dict[str, Any]], group_by: tuple[str, ...]) -> tuple[Sample, ...]:
    return tuple(
        Sample({g: str(r[g]) for g in group_by}, float(r["value"]))
        for r in rows
        if r["value"] is not None and math.isfinite(float(r["value"]))
    )


class ScanCache:
    """Shared scans (alert_queries.scan) of the current round: the first rule that needs one runs it, the
    rules evaluated within ``max_age_s`` after it (the same scheduler tick) answer from its rows. Concurrent
    workers wanting the same scan wait for the one that runs it. An answer is at most ``max_age_s`` old."""

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}
        self._scans: dict[tuple[Any, ...], tuple[float, list[dict[str, Any]]]] = {}

    def _fresh(self, key: tuple[Any, ...], now: float) -> tuple[float, list[dict[str, Any]]] | None:
        found = self._scans.get(key)
        # A scan newer than ``now`` (run by a worker whose clock read later) is as good.
        return found if found is not None and now - found[0] <= self.max_age_s else None

    def answer(self, rule: Rule, key: tuple[Any, ...], now: float, warehouse: Client) -> QueryResult:
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            found = self._fresh(key, now)
            if found is None:
                built = alert_queries.scan(key, datetime.fromtimestamp(now, UTC))
                try:
                    answer = warehouse.query(built.sql, parameters=built.params)
                except Exception as exc:  # noqa: BLE001 - any failure of the query is the rule's on_error case
                    return QueryResult(error=f"{type(exc).__name__}: {str(exc)[:300]}")
                rows = [dict(zip(answer.column_names, r, strict=True)) for r in answer.result_rows]
                found = self._scans[key] = (now, rows)
        at, rows = found
        return shared_scans.answer(rule, rows, datetime.fromtimestamp(at, UTC))
