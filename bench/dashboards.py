"""Dashboard panels benchmark: every overview and API-metrics panel through the HTTP API, beside the same SQL.

    .venv/bin/python -m bench.dashboards                       # the issue's size: 10M API + 2M system rows
    .venv/bin/python -m bench.dashboards --api-rows 1000000 --system-rows 200000 --cold 3 --cached 10   # smoke

Data: ``--api-rows`` api_metric rows and ``--system-rows`` system_metric rows spread evenly over the 7 days
before now, generated inside ClickHouse (``INSERT ... SELECT ... FROM numbers()``, one insert per day and
table) into a fresh embedded engine (chDB) in a temporary directory, migrated like production. API rows: 8
services x 6 endpoints, statuses 200/201/304/404/500 at 80/8/4/5/3 %, latencies log-normal-ish around 40 ms
with a long tail, sizes, a request id in the metadata. System rows: 8 services x 4 instances x 6 gauges.
The insert marks the minutes it touched (as the pipeline's inserts do) and the rollup job
(warehouse/rollup_refresh.py) then rolls all of them up once, as the scheduler would: every minute, and every
hour that has ended (the current hour is read from the minute rollups, as in production).

The dashboards app runs as in the node (waitress, 8 threads, over the same chDB) with a private PostgreSQL
and Redis (the panel cache, TTL 60 s here so a cached run cannot expire mid-measure); requests carry a
personal token. For every panel and range (1 h, 24 h, 7 d):
  - cold: a query no cache has seen (a parameter no panel reads makes a new cache key) after ClickHouse's
    own caches are dropped (marks, uncompressed blocks, query condition cache, ...; not the OS page cache:
    the machine is shared), so "cold" is "nothing remembered by Lookout or ClickHouse", not "from disk";
  - cached: the same request again (answered from Redis: the X-Lookout-Cache header is checked);
  - bare SQL: the statements the panel runs, straight through clickhouse-connect (``raw_query``, bytes not
    decoded), caches dropped the same way, independent ones at once as the panel runs them: the floor the panel
    adds to.
Then the whole overview page over 24 h: its panels requested at once (as the browser does), cold.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import repeat
from pathlib import Path
from typing import Any

import requests

from access import accounts, tokens
from access.audit import Actor
from app.node import waitress_server
from app.stack import Stack
from app.stack.base import find_free_port
from bench.common import machine_info, percentile, print_machine, progress
from dashboards.app import create_app
from lookout.settings import Settings
from warehouse import clickhouse
from warehouse.migrate import migrate
from warehouse.queries import overview as queries
from warehouse.queries.overview import Scope
from warehouse.rollup_refresh import refresh

DAY_MS = 86_400_000
_API = """
INSERT INTO api_metrics (event_id, timestamp, service, instance, endpoint, method, status_code, response_time_ms,
                         request_size_bytes, response_size_bytes, cache_hit, user_id, error_type, metadata,
                         retention_days)
SELECT
    generateUUIDv4(number) AS event_id,
    fromUnixTimestamp64Milli(toInt64({start:Int64} + intDiv(number * {span:UInt64}, {n:UInt64})), 'UTC') AS ts,
    concat('svc-', toString(h % 8)) AS service,
    concat('svc-', toString(h % 8), '-', toString(intDiv(h, 8) % 4)) AS instance,
    ['/pay', '/login', '/orders', '/orders/:id', '/cart', '/search'][h2 % 6 + 1] AS endpoint,
    ['POST', 'POST', 'GET', 'GET', 'PUT', 'GET'][h2 % 6 + 1] AS method,
    toUInt16(multiIf(h3 % 100 < 80, 200, h3 % 100 < 88, 201, h3 % 100 < 92, 304, h3 % 100 < 97, 404, 500)) AS status,
    round(exp(3.2 + (h2 % 1000) / 1000 * 1.6) + if(h3 % 1000 = 0, (h % 5000), 0), 1) AS response_time_ms,
    100 + h % 900 AS request_size_bytes,
    1000 + h3 % 20000 AS response_size_bytes,
    h % 3 = 0 AS cache_hit,
    concat('u', toString(h3 % 5000)) AS user_id,
    if(status >= 500, 'upstream', '') AS error_type,
    concat('{"request_id":"', lower(hex(cityHash64(number, {day:UInt32}, 'request'))), '"}') AS metadata,
    30 AS retention_days
FROM (
    SELECT number, cityHash64(number, {day:UInt32}) AS h, cityHash64(h) AS h2, cityHash64(h2) AS h3
    FROM numbers({n:UInt64})
)
"""
_SYSTEM = """
INSERT INTO system_metrics (event_id, timestamp, service, instance, metric_type, metric_name, value, unit,
                            metadata, retention_days)
SELECT
    generateUUIDv4(number) AS event_id,
    fromUnixTimestamp64Milli(toInt64({start:Int64} + intDiv(number * {span:UInt64}, {n:UInt64})), 'UTC') AS ts,
    concat('svc-', toString(h % 8)) AS service,
    concat('svc-', toString(h % 8), '-', toString(intDiv(h, 8) % 4)) AS instance,
    ['cpu', 'memory', 'disk', 'load', 'network', 'process'][number % 6 + 1] AS metric_type,
    ['cpu.utilization', 'memory.used_percent', 'disk.used_percent', 'load.1m', 'net.rx_bytes',
     'process.threads'][number % 6 + 1] AS metric_name,
    (h % 10000) / 100 AS value,
    ['%', '%', '%', '', 'B', ''][number % 6 + 1] AS unit,
    '{}' AS metadata,
    30 AS retention_days
FROM (SELECT number, cityHash64(number, {day:UInt32}) AS h FROM numbers({n:UInt64}))
"""
_DROP_CACHES = (
    "SYSTEM DROP MARK CACHE",
    "SYSTEM DROP UNCOMPRESSED CACHE",
    "SYSTEM DROP QUERY CONDITION CACHE",
    "SYSTEM DROP QUERY CACHE",
    "SYSTEM DROP SKIPPING INDEX CACHE",
    "SYSTEM DROP PRIMARY INDEX CACHE",
    "SYSTEM DROP MMAP CACHE",
)
RANGES = {"1 h": timedelta(hours=1), "24 h": timedelta(hours=24), "7 d": timedelta(days=7)}
COMPARE = timedelta(days=1)  # the API-metrics page's default comparison


@dataclass(frozen=True)
class Panel:
    name: str
    path: str  # under /api/v1
    # The ClickHouse SQL it runs: groups run at once (as the panel runs them, dashboards/views/overview_panels.py:
    # ALONGSIDE), the statements of a group one after the other.
    statements: Callable[[Scope], list[list[tuple[str, dict[str, Any]]]]]
    extra: tuple[tuple[str, str], ...] = ()


PANELS = (
    Panel("overview: ingest per kind", "/overview/ingest", lambda s: [[queries.build_ingest(s)]]),
    Panel("overview: request rate", "/overview/requests", lambda s: [[queries.build_requests(s)]]),
    Panel("overview: error rate", "/overview/errors", lambda s: [[queries.build_requests(s)]]),
    Panel("overview: latency", "/overview/latency", lambda s: [[queries.build_requests(s)]]),
    Panel("overview: status classes", "/overview/status", lambda s: [[queries.build_status_mix(s)]]),
    Panel("overview: top by traffic", "/overview/top/requests", lambda s: [[queries.build_endpoints(s)]]),
    Panel("overview: top by 5xx", "/overview/top/errors", lambda s: [[queries.build_endpoints(s)]]),
    Panel("overview: top by p95", "/overview/top/latency", lambda s: [[queries.build_endpoints(s)]]),
    Panel(
        "overview: services",
        "/overview/services",
        # Every generated service talks every minute, so all are heard in the last hour.
        lambda s: [
            [queries.build_services(s)],
            [queries.build_recent_seen(s), queries.build_older_seen(s, [f"svc-{i}" for i in range(8)])],
        ],
    ),
    Panel("overview: platform health", "/overview/health", lambda s: [[(queries.ROLLUP_AGE, {})]]),
    Panel(
        "api: endpoints",
        "/api-metrics/endpoints",
        lambda s: [[queries.build_endpoints(s)]],
        (("limit", "50"),),
    ),
    Panel(
        "api: latency vs a day earlier",
        "/api-metrics/latency",
        lambda s: [[queries.build_requests(s)], [queries.build_requests(s.shifted(COMPARE))]],
    ),
    Panel(
        "api: errors vs a day earlier",
        "/api-metrics/errors",
        lambda s: [[queries.build_requests(s)], [queries.build_requests(s.shifted(COMPARE))]],
    ),
    Panel("api: sizes", "/api-metrics/sizes", lambda s: [[queries.build_sizes(s)]]),
    Panel("api: slowest requests", "/api-metrics/slowest", lambda s: [[queries.build_slowest(s)]]),
)
OVERVIEW_PAGE = [p for p in PANELS if p.path.startswith("/overview/")]


def generate(client: Any, sql: str, rows: int, now_ms: int, what: str) -> None:
    per_day = rows // 7
    for day in range(7):
        count = per_day if day < 6 else rows - per_day * 6
        start = now_ms - (7 - day) * DAY_MS
        client.command(sql, parameters={"start": start, "span": DAY_MS, "n": count, "day": day})
        progress(f"{what}: day {day + 1}/7, {count:,} rows")


def serve(settings: Settings) -> tuple[str, Callable[[], None]]:
    port, socket_map = find_free_port(), {}
    server = waitress_server(create_app(settings), socket_map, "127.0.0.1", port, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def stop() -> None:
        server.task_dispatcher.shutdown(timeout=5)
        for channel in list(socket_map.values()):
            channel.handle_close()
        thread.join(5)

    return f"http://127.0.0.1:{port}", stop


def pair(values: list[float]) -> str:
    return f"{percentile(values, 50):.0f} / {percentile(values, 95):.0f}"


def main() -> None:  # noqa: PLR0915 - one linear script: set up, measure, print
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-rows", type=int, default=10_000_000)
    parser.add_argument("--system-rows", type=int, default=2_000_000)
    parser.add_argument("--cold", type=int, default=5, help="cold runs per panel and range (caches dropped)")
    parser.add_argument("--cached", type=int, default=20, help="cached runs per panel and range")
    parser.add_argument("--page", type=int, default=5, help="cold runs of the whole overview page")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds one request may take")
    parser.add_argument("--ranges", default=",".join(RANGES), help=f"comma-separated, of: {', '.join(RANGES)}")
    args = parser.parse_args()

    info = machine_info()
    home = Path(tempfile.mkdtemp(prefix="lookout-bench-dashboards-"))
    home.chmod(0o755)  # the postgres OS user must traverse it
    stack = Stack.for_tests(home / "stack")
    stop_app: Callable[[], None] | None = None
    try:
        progress("starting PostgreSQL, Redis and Kafka (private, temporary)")
        stack.up(timeout=120)
        base = Settings.from_env(
            {"LOOKOUT_HOME": str(home), "LOOKOUT_CLICKHOUSE_DSN": f"chdb:///{home / 'chdb'}",
             "LOOKOUT_PANEL_CACHE_TTL_S": "60", "LOOKOUT_LOG_JSON": "false"}
        )  # fmt: skip
        settings = stack.apply_to(base)
        migrate(settings)
        client = clickhouse.connect(settings.clickhouse_dsn)
        now = datetime.now(UTC)
        now_ms = int(now.timestamp() * 1000)
        started = time.perf_counter()
        generate(client, _API, args.api_rows, now_ms, "api_metrics")
        generate(client, _SYSTEM, args.system_rows, now_ms, "system_metrics")
        progress(f"generated in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        refresh(client, settle_s=0)
        rolled, hourly = client.query(
            "SELECT (SELECT count() FROM api_metrics_1m), (SELECT count() FROM api_metrics_1h)"
        ).result_rows[0]
        progress(f"rollups refreshed in {time.perf_counter() - started:.1f} s ({rolled:,} api_metrics_1m rows)")
        drops = []
        for statement in _DROP_CACHES:
            try:
                client.command(statement)
                drops.append(statement)
            except Exception:  # noqa: BLE001 - not every cache exists in every version
                progress(f"not available here: {statement}")

        account = accounts.create(settings, "bench@example.com", uuid.uuid4().hex, "viewer", Actor("bench"))
        secret = tokens.create(settings, account.id, "bench", None, Actor("bench")).secret
        url, stop_app = serve(settings.with_(alert_metrics_urls=()))
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {secret}"

        def ask(panel: Panel, since: str, tag: str) -> tuple[float, str]:
            params = {"from": since, "to": "now", "tag": tag, **dict(panel.extra)}
            began = time.perf_counter()
            answer = http.get(f"{url}/api/v1{panel.path}", params=params, timeout=args.timeout)
            elapsed = (time.perf_counter() - began) * 1000
            if answer.status_code != 200:
                raise SystemExit(f"{panel.path} answered {answer.status_code}: {answer.text[:300]}")
            return elapsed, answer.headers["X-Lookout-Cache"]

        # The bare SQL: a panel's groups of statements at once, each on its own client (as the app's threads).
        clients = [client, clickhouse.connect(settings.clickhouse_dsn)]
        bare = ThreadPoolExecutor(max_workers=len(clients))

        def run_group(on: Any, statements: list[tuple[str, dict[str, Any]]]) -> None:
            for sql, params in statements:
                on.raw_query(sql, parameters=params, fmt="Native")

        def drop() -> None:
            for statement in drops:
                client.command(statement)

        results = []
        for range_name in args.ranges.split(","):
            span = RANGES[range_name.strip()]
            since = f"now-{int(span.total_seconds() // 3600)}h"
            for panel in PANELS:
                cold_api, cold_sql, cached = [], [], []
                for _ in range(args.cold):
                    drop()
                    elapsed, state = ask(panel, since, uuid.uuid4().hex)
                    assert state == "miss"
                    cold_api.append(elapsed)
                tag = uuid.uuid4().hex
                ask(panel, since, tag)
                for _ in range(args.cached):
                    elapsed, state = ask(panel, since, tag)
                    if state == "hit":  # a run that crossed a cache period is not a cached run
                        cached.append(elapsed)
                scope = Scope(datetime.now(UTC) - span, datetime.now(UTC))
                for _ in range(args.cold):
                    drop()
                    began = time.perf_counter()
                    groups = panel.statements(scope)
                    list(bare.map(run_group, clients[: len(groups)], groups))
                    cold_sql.append((time.perf_counter() - began) * 1000)
                results.append((panel.name, range_name, cold_api, cached, cold_sql))
                progress(f"{range_name} {panel.name}: cold p50 {percentile(cold_api, 50):.0f} ms")

        page = []
        with ThreadPoolExecutor(max_workers=len(OVERVIEW_PAGE)) as pool:
            for _ in range(args.page):
                drop()
                tag = uuid.uuid4().hex
                began = time.perf_counter()
                list(pool.map(ask, OVERVIEW_PAGE, repeat("now-24h"), repeat(tag)))
                page.append((time.perf_counter() - began) * 1000)
        progress(f"whole overview 24 h: cold p50 {percentile(page, 50):.0f} ms")

        print_machine(info)
        print(f"\napi_metrics rows: {args.api_rows:,}; system_metrics rows: {args.system_rows:,}; "
              f"api_metrics_1m rows: {rolled:,}; api_metrics_1h rows: {hourly:,}; "
              f"cold runs: {args.cold}; cached runs: {args.cached}\n")  # fmt: skip
        print("| panel | range | HTTP cold p50 / p95 ms | HTTP cached p50 / p95 ms | bare SQL cold p50 / p95 ms |")
        print("|---|---|---:|---:|---:|")
        for name, range_name, cold_api, cached, cold_sql in results:
            print(f"| {name} | {range_name} | {pair(cold_api)} | {pair(cached)} | {pair(cold_sql)} |")
        print(f"\nwhole overview page (all {len(OVERVIEW_PAGE)} panels at once), 24 h, cold: p50 / p95 {pair(page)} ms")
        bare.shutdown()
        for each in clients:
            each.close()
    finally:
        if stop_app:
            stop_app()
        stack.down()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
