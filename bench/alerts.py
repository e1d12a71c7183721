"""Alerting benchmarks: detection latency and the cost of evaluating 200 rules.

    .venv/bin/python -m bench.alerts [--trials 20] [--rows 10000000] [--security-rows 2000000]

1. **Evaluation cost.** Loads ``--rows`` rows into each ClickHouse kind (logs, api_metrics,
   system_metrics) spread over the last 24 h, rolls them up, and ``--security-rows`` security events
   into PostgreSQL; creates 200 rules of every query type (interval 10 s, window 5 m) and evaluates
   every rule once per round, 5 rounds, through the scheduler's own code (lease, query, fenced write).
   Reports the wall time of a round (sequential, and on the scheduler's 4 worker threads) and the
   CPU seconds it costs: this process (the evaluator and chDB) plus the PostgreSQL server.
2. **Detection latency.** Runs the collector (gunicorn) and the single-node process (pipeline,
   scheduler with the alert jobs) on a private stack; for each trial a 10 s-interval rule watches one
   service, one error log is sent, and the time from the collector's 202 to the webhook arriving at a
   local receiver is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import redis
import requests

from alerts import ruleset
from alerts.evaluation import Evaluator
from alerts.rules import parse_document
from app.node import Node
from app.stack.base import find_free_port
from bench.common import BenchEnv, Collector, bench_env, machine_info, percentile, print_machine, progress
from warehouse import clickhouse, postgres
from warehouse.queries import alert_store
from warehouse.rollup_refresh import refresh

SERVICES = 20


def load_clickhouse(env: BenchEnv, rows: int) -> None:
    step_us = 86_400_000_000 // rows
    client = clickhouse.connect(env.settings.clickhouse_dsn)
    ts = f"now64(3) - toIntervalMicrosecond(number * {step_us})"
    service = f"concat('svc-', toString(number % {SERVICES}))"
    statements = {
        "logs": "INSERT INTO logs (event_id, timestamp, service, instance, level, message, retention_days) "
        f"SELECT generateUUIDv4(), {ts}, {service}, concat('i-', toString(number % 50)), "
        "['info', 'info', 'info', 'warn', 'error'][number % 5 + 1], concat('request ', toString(number)), 30 "
        f"FROM numbers({rows})",
        "api_metrics": "INSERT INTO api_metrics (event_id, timestamp, service, instance, endpoint, method, "
        "status_code, response_time_ms, cache_hit, retention_days) "
        f"SELECT generateUUIDv4(), {ts}, {service}, concat('i-', toString(number % 50)), "
        "concat('/e', toString(number % 10)), 'GET', if(number % 50 = 0, 500, 200), number % 400, false, 30 "
        f"FROM numbers({rows})",
        "system_metrics": "INSERT INTO system_metrics (event_id, timestamp, service, instance, metric_name, value, "
        f"retention_days) SELECT generateUUIDv4(), {ts}, {service}, concat('i-', toString(number % 50)), "
        f"['cpu_percent', 'memory_mb'][number % 2 + 1], number % 100, 30 FROM numbers({rows})",
    }
    for table, sql in statements.items():
        started = time.monotonic()
        client.command(sql, settings={"max_insert_threads": 2})
        progress(f"  {rows:,} rows into {table} in {time.monotonic() - started:.0f}s")
    time.sleep(11)  # the refresh takes minutes marked at least 10 s ago
    started = time.monotonic()
    result = refresh(client)
    progress(f"  rollups refreshed in {time.monotonic() - started:.0f}s ({result})")
    client.close()


def load_postgres(env: BenchEnv, rows: int) -> None:
    started = time.monotonic()
    with postgres.connect(env.settings.postgres_dsn) as conn:
        conn.execute(
            "INSERT INTO security_events (event_id, timestamp, service, event_type, severity, ip_address) "
            "SELECT gen_random_uuid(), now() - n * (interval '86400 seconds' / %(rows)s), 'svc-' || (n %% 20), "
            "(ARRAY['failed_login', 'suspicious_activity', 'rate_limit_exceeded'])[n %% 3 + 1], "
            "(ARRAY['low', 'medium', 'high', 'critical'])[n %% 4 + 1], "
            "('10.0.' || (n %% 250) || '.' || (n %% 200))::inet FROM generate_series(1, %(rows)s) AS n",
            {"rows": rows},
        )
        conn.commit()
        conn.execute("ANALYZE security_events")
    progress(f"  {rows:,} security events into PostgreSQL in {time.monotonic() - started:.0f}s")


def rules_document(count: int) -> dict:
    templates = [
        lambda k: {"query": {"type": "log_count", "service": f"svc-{k % SERVICES}", "level": ["error"]}},
        lambda k: {"query": {"type": "log_count", "level": ["error", "warn"]}, "group_by": ["service"]},
        lambda k: {"query": {"type": "api_error_rate", "min_requests": 10}, "group_by": ["service"]},
        lambda k: {
            "query": {"type": "api_latency", "quantile": 0.95, "service": f"svc-{k % SERVICES}"},
            "group_by": ["endpoint"],
        },  # fmt: skip
        lambda k: {
            "query": {"type": "system_metric", "metric_name": "cpu_percent", "aggregate": "max"},
            "group_by": ["instance"],
        },  # fmt: skip
        lambda k: {"query": {"type": "heartbeat", "kind": "log"}, "group_by": ["service"], "threshold": 300},
        lambda k: {"query": {"type": "security_events", "severity": ["critical"]}, "group_by": ["service"]},
        lambda k: {"query": {"type": "security_events", "event_type": ["failed_login"]}, "group_by": ["ip_address"]},
        lambda k: {"query": {"type": "log_count", "text": f"request {k}"}},
        lambda k: {"query": {"type": "api_error_rate", "service": f"svc-{k % SERVICES}"}},
    ]
    rules = []
    for k in range(count):
        rule = {"name": f"bench-{k:03d}", "threshold": 1e12, "window": "5m", "interval": "10s"}
        rules.append({**rule, **templates[k % len(templates)](k)})
    return {"rules": rules}


class PostgresCpu:
    """CPU seconds of the PostgreSQL server: the postmaster, its live backends, and (cutime/cstime) the
    backends that have exited, which the postmaster has waited for."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    @staticmethod
    def _fields(pid: int) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    def seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = sum(int(x) for x in self._fields(self.pid)[11:15])
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    fields = self._fields(int(proc.name))
                except (OSError, IndexError):
                    continue
                if int(fields[1]) == self.pid:
                    total += int(fields[11]) + int(fields[12])
        return total / ticks


def evaluation_cost(env: BenchEnv, args: argparse.Namespace) -> dict:
    progress(f"loading {args.rows:,} rows per ClickHouse kind and {args.security_rows:,} security events ...")
    load_clickhouse(env, args.rows)
    load_postgres(env, args.security_rows)
    document = rules_document(200)
    ruleset.apply(env.settings, parse_document(document, "bench"), "bench", "bench")
    with postgres.connect(env.settings.postgres_dsn) as conn:
        conn.execute("UPDATE alert_rules SET enabled = false WHERE name NOT LIKE 'bench-%%'")
        conn.commit()
    pg_pid = next(s.pid for s in env.stack.status() if s.name == "postgres")
    pg = PostgresCpu(pg_pid)
    fake_now = [time.time()]
    evaluator = Evaluator(env.settings, redis.Redis.from_url(env.settings.redis_url), clock=lambda: fake_now[0])
    results: dict[str, list[tuple[float, float, float]]] = {"sequential": [], "4 threads": []}
    for mode in ("sequential", "4 threads", "sequential", "4 threads", "sequential", "4 threads"):
        fake_now[0] += 10
        with postgres.connect(env.settings.postgres_dsn, autocommit=True) as conn:
            due = alert_store.due_rules(conn, datetime.fromtimestamp(fake_now[0], UTC))
        cpu0, pg0, wall0 = time.process_time(), pg.seconds(), time.monotonic()
        if mode == "sequential":
            done = sum(1 for row in due if evaluator.evaluate_rule(row))
        else:
            with ThreadPoolExecutor(4) as pool:
                done = sum(1 for ok in pool.map(evaluator.evaluate_rule, due) if ok)
        wall, cpu, pg_cpu = time.monotonic() - wall0, time.process_time() - cpu0, pg.seconds() - pg0
        progress(f"  round ({mode}): {done} rules in {wall:.2f}s wall, {cpu:.2f} CPU-s here + {pg_cpu:.2f} PostgreSQL")
        assert done == 200, f"only {done} of 200 rules evaluated"
        results[mode].append((wall, cpu, pg_cpu))
    return results


class Hooks:
    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.port = find_free_port()
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hooks.received.setdefault(body["rule"]["name"], time.time())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def detection_latency(env: BenchEnv, args: argparse.Namespace) -> list[float]:
    hooks = Hooks()
    document = {
        "channels": [{"name": "bench-hook", "type": "webhook", "url": f"http://127.0.0.1:{hooks.port}/",
                      "secret": "bench-secret-000000"}],
        "rules": [{"name": f"detect-{t:02d}", "query": {"type": "log_count", "service": f"detect-{t:02d}",
                   "level": ["error"]}, "threshold": 1, "comparator": ">=", "window": "1m", "interval": "10s",
                   "renotify": "0s", "channels": ["bench-hook"]} for t in range(args.trials)],
    }  # fmt: skip
    ruleset.apply(env.settings, parse_document(document, "bench"), "bench", "bench")
    with postgres.connect(env.settings.postgres_dsn) as conn:  # only these rules run while latency is measured
        conn.execute("UPDATE alert_rules SET enabled = (name LIKE 'detect-%%')")
        conn.commit()
    collector = Collector(env).start()
    env.collectors.append(collector)
    node = Node(env.settings)
    node.start()
    latencies = []
    rng = random.Random(12)
    try:
        time.sleep(12)  # every rule evaluated once with no data, as in steady state
        for t in range(args.trials):
            name = f"detect-{t:02d}"
            event = {"kind": "log", "timestamp": int(time.time() * 1000), "service": name, "level": "error",
                     "message": "boom"}  # fmt: skip
            r = requests.post(
                f"{collector.url}/v1/events",
                data=orjson.dumps([event]),
                headers={"Authorization": f"Bearer {env.ingest_key}", "Content-Type": "application/json"},
                timeout=30,
            )
            assert r.status_code == 202, r.text
            accepted = time.time()
            deadline = accepted + 60
            while name not in hooks.received and time.time() < deadline:
                time.sleep(0.02)
            assert name in hooks.received, f"{name}: no webhook within 60 s"
            latencies.append(hooks.received[name] - accepted)
            progress(f"  trial {t + 1}: {latencies[-1]:.2f}s from 202 to webhook")
            # The rules share one phase: a uniform pause lands the next event anywhere in the 10 s interval.
            time.sleep(rng.uniform(0, 10))
    finally:
        node.stop()
        hooks.server.shutdown()
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows per ClickHouse kind")
    parser.add_argument("--security-rows", type=int, default=2_000_000)
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args(argv)
    info = machine_info()
    print_machine(info)
    with bench_env({"LOOKOUT_ROLLUP_INTERVAL_S": "15", "LOOKOUT_LOG_LEVEL": "WARNING"}) as env:
        if not args.skip_cost:
            cost = evaluation_cost(env, args)
            for mode, runs in cost.items():
                walls = [w for w, _, _ in runs]
                cpus = [c + p for _, c, p in runs]
                detail = [(round(w, 2), round(c, 2), round(p, 2)) for w, c, p in runs]
                print(
                    f"200 rules, one round ({mode}): wall {min(walls):.2f}-{max(walls):.2f}s, CPU "
                    f"{min(cpus):.2f}-{max(cpus):.2f} s per round (= {max(cpus) / 10:.2f} of a core at a 10 s "
                    f"interval); (wall, CPU here, CPU PostgreSQL) per run: {detail}"
                )
        if not args.skip_latency:
            progress("detection latency ...")
            latencies = detection_latency(env, args)
            print(f"detection latency (202 -> webhook, 10 s interval, {len(latencies)} trials): "
                  f"p50 {percentile(latencies, 50):.2f}s, p95 {percentile(latencies, 95):.2f}s, "
                  f"max {max(latencies):.2f}s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
