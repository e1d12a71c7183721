"""Explorer query benchmark: the explorer's query functions against generated logs, beside the same SQL run bare.

    .venv/bin/python -m bench.explorer                    # 1,000,000 rows: a smoke run, ~1-2 minutes
    .venv/bin/python -m bench.explorer --rows 10000000    # the issue's size: 10M rows, ~3 minutes
    .venv/bin/python -m bench.explorer --rows 10000000 --merged   # after merging the parts

Data: ``--rows`` log rows over the 7 days before now, 50 services x 4 instances (200), levels
info/debug/warn/error at 70/15/10/5 %, messages from a small vocabulary with ids, a rare word
("zebrafish", about one row in a million), a unique request id per row, small metadata JSON, and
``ingested_at`` a few seconds after ``timestamp`` (as from a live pipeline). The rows are generated
inside ClickHouse from ``numbers()`` (one INSERT ... SELECT per day) into a fresh embedded engine
(chDB) in a temporary directory, migrated like production; the rollups are then refreshed once.

Queries (each through warehouse/queries/explorer.py, and beside it the very SQL that function built
run with clickhouse-connect's ``raw_query``, which returns the engine's bytes undecoded: the floor
the explorer adds to):
  - search 1 h, two filters: ``service:svc-7 level:error``, first page of 100 rows
  - search 24 h, free text for a rare word: ``zebrafish``
  - facets 24 h: service, level, category, instance (top 10 each), blank query
  - histogram 7 d, blank query (whole minutes from the rollups)
  - request-id lookup 7 d: the pivot's ClickHouse side (logs by request/correlation id, API metrics)
  - tail, first page: the newest 100 arrivals

Cold: ClickHouse's caches (marks, uncompressed blocks, query condition cache, ...) are dropped before
each run; the operating system's page cache is not (the machine is shared), so cold here means
"ClickHouse starts from nothing it remembers", not "from disk". Warm: the same query repeated.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask

from bench.common import machine_info, percentile, print_machine, progress
from dashboards.app import create_app
from lookout.settings import Settings
from warehouse import clickhouse
from warehouse.migrate import migrate_clickhouse
from warehouse.queries import explorer
from warehouse.queries.explorer import Search
from warehouse.rollup_refresh import refresh

DAY_MS = 86_400_000
_GENERATE = """
INSERT INTO logs (event_id, timestamp, service, instance, level, message, category, request_id, user_id,
                  endpoint, method, status_code, response_time_ms, metadata, retention_days, ingested_at)
SELECT
    generateUUIDv4(number) AS event_id,
    fromUnixTimestamp64Milli(toInt64({start:Int64} + intDiv(number * {span:UInt64}, {n:UInt64})), 'UTC') AS ts,
    concat('svc-', toString(h % 50)) AS service,
    concat('svc-', toString(h % 50), '-', toString(intDiv(h, 50) % 4)) AS instance,
    multiIf(h2 % 100 < 5, 'error', h2 % 100 < 15, 'warn', h2 % 100 < 30, 'debug', 'info') AS level,
    concat(
        ['user logged in', 'payment accepted', 'card declined by issuer', 'cache miss for key',
         'request completed', 'retrying upstream call', 'token refreshed', 'order shipped'][h3 % 8 + 1],
        ' id=', toString(h3 % 100000), if(h3 % 1000000 = 7, ' zebrafish', '')) AS message,
    ['auth', 'payments', 'orders', 'cache', 'http'][h2 % 5 + 1] AS category,
    lower(hex(cityHash64(number, {day:UInt32}, 'request'))) AS request_id,
    concat('u', toString(h3 % 5000)) AS user_id,
    ['/pay', '/login', '/orders', '/cart'][h % 4 + 1] AS endpoint,
    ['GET', 'POST'][h2 % 2 + 1] AS method,
    toUInt16([200, 200, 200, 201, 404, 500][h3 % 6 + 1]) AS status_code,
    (h2 % 5000) / 10 AS response_time_ms,
    concat('{"tenant":"t', toString(h % 30), '","amount":', toString(h3 % 1000), '}') AS metadata,
    30 AS retention_days,
    ts + toIntervalMillisecond(h % 3000) AS ingested_at
FROM (
    SELECT number, cityHash64(number, {day:UInt32}) AS h, cityHash64(h) AS h2, cityHash64(h2) AS h3
    FROM numbers({n:UInt64})
)
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


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[], Any]  # through the explorer
    statements: list[tuple[str, dict[str, Any]]]  # the SQL that function runs, for the bare runs
    api: tuple[str, dict[str, str]] | None = None  # the JSON API operation answering the same question


def generate(client: Any, rows: int, now_ms: int) -> None:
    per_day = rows // 7
    for day in range(7):
        start = now_ms - (7 - day) * DAY_MS
        count = per_day if day < 6 else rows - per_day * 6
        client.command(_GENERATE, parameters={"start": start, "span": DAY_MS, "n": count, "day": day})
        progress(f"day {day + 1}/7: {count:,} rows")


def cases(client: Any, now: datetime) -> list[Case]:
    hour = Search.parse("service:svc-7 level:error", now - timedelta(hours=1), now)
    rare = Search.parse("zebrafish", now - timedelta(days=1), now)
    day = Search.parse("", now - timedelta(days=1), now)
    week = Search.parse("", now - timedelta(days=7), now)
    some_row = explorer.search_page(client, Search.parse("service:svc-3", now - timedelta(days=4), now), ["request_id"])
    request_id = some_row.rows[-1]["request_id"]
    sql, params = explorer.build_search(hour)
    rare_sql, rare_params = explorer.build_search(rare)
    facet_sql, facet_params, _ = explorer.build_facets(day)
    histogram_sql, histogram_params, from_rollups = explorer.build_histogram(week)
    assert from_rollups
    pivot = [(s, p) for _kind, s, p in explorer.build_pivot_clickhouse(request_id, now - timedelta(days=7), now, 1000)]
    tail_sql, tail_params = explorer.build_tail(None, None, explorer.DEFAULT_COLUMNS, 100)

    def span(search: Search, q: str) -> dict[str, str]:
        return {"q": q, "from": search.start.isoformat(), "to": search.end.isoformat()}

    return [
        Case("search 1 h, service + level", lambda: explorer.search_page(client, hour), [(sql, params)],
             ("/api/v1/explore/search", span(hour, hour.text))),
        Case("search 24 h, rare word", lambda: explorer.search_page(client, rare), [(rare_sql, rare_params)],
             ("/api/v1/explore/search", span(rare, rare.text))),
        Case("facets 24 h (4 facets)", lambda: explorer.facets(client, day), [(facet_sql, facet_params)],
             ("/api/v1/explore/facets", span(day, ""))),
        Case("histogram 7 d", lambda: explorer.histogram(client, week), [(histogram_sql, histogram_params)],
             ("/api/v1/explore/histogram", span(week, ""))),
        # The API's pivot also reads PostgreSQL, which this benchmark does not run.
        Case(
            "request-id lookup 7 d",
            lambda: explorer.pivot_clickhouse(client, request_id, now - timedelta(days=7), now),
            pivot,
        ),
        # The first read also looks up what it passed over; the bare figure is the main read only.
        Case("tail, first page", lambda: explorer.tail(client, None, limit=100), [(tail_sql, tail_params)],
             ("/api/v1/explore/tail", {"q": ""})),
    ]  # fmt: skip


def through_api(app: Flask, path: str, params: dict[str, str]) -> Callable[[], None]:
    """The API operation's view as a request reaches it: query validated, the explorer called, the answer
    serialised to JSON bytes. Not included: the HTTP server and the authentication hook (a Redis session and
    a PostgreSQL account lookup, or an API key's cached hash)."""
    url = f"{path}?{urlencode(params)}"
    endpoint, _ = app.url_map.bind("localhost").match(path)
    view = app.view_functions[endpoint]

    def run() -> None:
        with app.test_request_context(url):
            response = view()
            assert response.status_code == 200, response.get_data(as_text=True)
            response.get_data()

    return run


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def bare(client: Any, statements: list[tuple[str, dict[str, Any]]]) -> Callable[[], None]:
    def run() -> None:
        for sql, params in statements:
            client.raw_query(sql, parameters=params, settings=explorer.SETTINGS, fmt="Native")

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cold", type=int, default=7, help="cold runs per query (caches dropped before each)")
    parser.add_argument("--warm", type=int, default=30, help="warm runs per query")
    parser.add_argument("--keep", action="store_true", help="keep the generated data directory")
    parser.add_argument(
        "--merged",
        action="store_true",
        help="OPTIMIZE ... FINAL the tables first: the state background merges reach for older data",
    )
    args = parser.parse_args()

    info = machine_info()
    home = Path(tempfile.mkdtemp(prefix="lookout-bench-explorer-"))
    try:
        dsn = f"chdb:///{home / 'chdb'}"
        migrate_clickhouse(dsn)
        client = clickhouse.connect(dsn)
        now = datetime.now(UTC)
        started = time.perf_counter()
        generate(client, args.rows, int(now.timestamp() * 1000))
        progress(f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        refresh(client, settle_s=0)
        progress(f"rollups refreshed in {time.perf_counter() - started:.1f} s")
        if args.merged:
            started = time.perf_counter()
            for table in ("logs", "logs_1m"):
                client.command(f"OPTIMIZE TABLE {table} FINAL")
            progress(f"parts merged in {time.perf_counter() - started:.1f} s")
        drops = []
        for statement in _DROP_CACHES:
            try:
                client.command(statement)
                drops.append(statement)
            except Exception:  # not every cache exists in every version
                progress(f"not available here: {statement}")

        def cold(action: Callable[[], Any]) -> float:
            for statement in drops:
                client.command(statement)
            return timed(action)

        app = create_app(Settings.from_env({"LOOKOUT_CLICKHOUSE_DSN": dsn, "LOOKOUT_SECRET_KEY": "bench"}))
        results = []
        for case in cases(client, now):
            direct = bare(client, case.statements)
            cold_api = [cold(case.run) for _ in range(args.cold)]
            cold_sql = [cold(direct) for _ in range(args.cold)]
            case.run()
            warm_api, warm_sql, warm_http = [], [], []
            http = through_api(app, *case.api) if case.api else None
            for _ in range(args.warm):
                warm_api.append(timed(case.run))
                warm_sql.append(timed(direct))
                if http is not None:
                    warm_http.append(timed(http))
            cold_http = [cold(http) for _ in range(args.cold)] if http is not None else []
            results.append((case.name, cold_api, cold_sql, warm_api, warm_sql, cold_http, warm_http))
            progress(f"{case.name}: warm p50 {percentile(warm_api, 50):.1f} ms")

        print_machine(info)
        parts = "merged (OPTIMIZE FINAL)" if args.merged else "as inserted (7 inserts, unmerged)"
        print(f"\nrows: {args.rows:,}; parts: {parts}; cold runs: {args.cold}; warm runs: {args.warm}\n")
        print(
            "| query | explorer cold p50 / p95 ms | bare SQL cold p50 / p95 ms "
            "| explorer warm p50 / p95 ms | bare SQL warm p50 / p95 ms | explorer overhead warm p50 ms "
            "| API cold p50 / p95 ms | API warm p50 / p95 ms | API overhead over bare SQL, warm p50 ms |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, cold_api, cold_sql, warm_api, warm_sql, cold_http, warm_http in results:

            def pair(values: list[float]) -> str:
                return f"{percentile(values, 50):.1f} / {percentile(values, 95):.1f}" if values else "n/a"

            overhead = percentile(warm_api, 50) - percentile(warm_sql, 50)
            over_http = f"{percentile(warm_http, 50) - percentile(warm_sql, 50):.1f}" if warm_http else "n/a"
            cells = [name, pair(cold_api), pair(cold_sql), pair(warm_api), pair(warm_sql), f"{overhead:.1f}",
                     pair(cold_http), pair(warm_http), over_http]  # fmt: skip
            print("| " + " | ".join(cells) + " |")
        client.close()
    finally:
        if args.keep:
            print(f"data kept in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
