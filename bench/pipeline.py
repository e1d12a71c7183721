"""Pipeline benchmark: sustained events/s from Kafka into ClickHouse and PostgreSQL, and freshness.

    .venv/bin/python -m bench.pipeline                      # defaults, ~5 minutes
    .venv/bin/python -m bench.pipeline --profile /tmp/ch.prof   # + cProfile of the ClickHouse consumer

Throughput (per sink, ``--repeat`` runs):
  The topics are pre-loaded with records in the collector's exact format (events validated by
  lookout.contract.validate_event, encoded with Event.to_json_dict + orjson, grouped per service and
  packed by lookout.records.encode_events, ``--request-size`` events per simulated request). Then the
  real sink consumer (pipeline.runner.sink_consumer: the same driver, steps, settings, batch size and
  sink the node runs) is started on a thread and the clock runs from its start until ``SELECT count()``
  shows every row. Each run uses fresh topics (a new topic prefix) and truncated tables, so no run is
  deduplicated against another.

Ceilings, measured in the same run on the same rows, into a scratch copy of the table, in chunks of
LOOKOUT_BATCH_MAX_ROWS rows:
  - ClickHouse: ``insert_arrow`` (the fastest insert clickhouse-connect offers) of the rows the run
    stored, read back as Arrow (untimed); and the sink's own JSON insert of the same records without
    Kafka. Both are checked to store the same values as the pipeline did.
  - PostgreSQL: a raw ``COPY ... FROM STDIN`` of the same rows (built by pipeline.rows.RowBuilder,
    untimed; psycopg ``write_row``).

Freshness (``--fresh-rate`` events/s for ``--fresh-duration`` s):
  The collector runs under gunicorn and the pipeline (both consumers) in this process, as in
  ``lookout up``. An open-loop sender posts requests of ``--fresh-batch`` events on a fixed schedule;
  every 10th request is security events (PostgreSQL), the others logs (ClickHouse). All events of
  request n carry the tag ``fresh-n`` (logs: request_id, security events: user_id). The time of the
  202 is taken when the answer arrives. A poller asks each database every ``--poll-ms`` for the tags
  still pending; a request counts as visible when *all* its events are returned, and its freshness
  is (start of that query) - (202 time). The true moment lies within one poll interval before, so
  the figures are an upper bound by at most --poll-ms. For ClickHouse the row's own ingested_at
  (DEFAULT now64(3), the insert time) - 202 time is reported too, as a lower bound.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import queue
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson
from kafka import KafkaProducer

from bench.common import (
    BenchEnv,
    Collector,
    bench_env,
    chunks,
    log_event,
    machine_info,
    percentile,
    print_machine,
    progress,
    security_event,
    wire_records,
)
from lookout.records import RecordValue, decode_events, json_rows
from lookout.settings import Settings
from lookout.topics import ensure_topics
from pipeline.rows import RowBuilder
from pipeline.runner import PipelineThreads, build_consumers, sink_consumer
from pipeline.sinks import ClickHouseSink
from warehouse import clickhouse, postgres
from warehouse.tables import TABLES, Database

# --------------------------------------------------------------------------- data


@dataclass
class Dataset:
    kind: str
    events: int
    records: list[tuple[bytes, RecordValue]]  # (key, value and headers) as the collector produces them

    @property
    def payload_bytes(self) -> int:
        return sum(len(r.value) for _k, r in self.records)


def make_dataset(kind: str, count: int, request_size: int, seed: int) -> Dataset:
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    make = log_event if kind == "log" else security_event
    records: list[tuple[bytes, RecordValue]] = []
    for start in range(0, count, request_size):
        n = min(request_size, count - start)
        records.extend(wire_records([make(rng, now - rng.randint(0, 3_600_000)) for _ in range(n)], now))
    return Dataset(kind, count, records)


def produce(settings: Settings, topic: str, records: Sequence[tuple[bytes, RecordValue]]) -> float:
    """Produce the records (compression as the collector would) and wait for every ack; seconds taken."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        compression_type=None if settings.kafka_compression == "none" else settings.kafka_compression,
        linger_ms=5,
        batch_size=1024 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    try:
        start = time.monotonic()
        futures = [producer.send(topic, key=k, value=r.value, headers=r.headers) for k, r in records]
        producer.flush(120)
        for f in futures:
            f.get(30)
        return time.monotonic() - start
    finally:
        producer.close(10)


def rows_of(dataset: Dataset) -> list[tuple[Any, ...]]:
    builder = RowBuilder(TABLES[dataset.kind])
    return [builder.build(event) for _k, r in dataset.records for event in decode_events(r.value)]


# --------------------------------------------------------------------------- counting rows


class Counter:
    """``count()`` of a table, through its own connection."""

    def __init__(self, settings: Settings, database: Database, table: str) -> None:
        self.database = database
        self.table = table
        if database is Database.CLICKHOUSE:
            self._ch = clickhouse.connect(settings.clickhouse_dsn)
        else:
            self._pg = postgres.connect(settings.postgres_dsn, autocommit=True)

    def count(self) -> int:
        if self.database is Database.CLICKHOUSE:
            return int(self._ch.query(f"SELECT count() FROM {self.table}").result_rows[0][0])
        return int(self._pg.execute(f"SELECT count(*) AS n FROM {self.table}").fetchone()["n"])

    def truncate(self) -> None:
        if self.database is Database.CLICKHOUSE:
            self._ch.command(f"TRUNCATE TABLE {self.table}")
        else:
            self._pg.execute(f"TRUNCATE {self.table}")

    def close(self) -> None:
        if self.database is Database.CLICKHOUSE:
            self._ch.close()
        else:
            self._pg.close()


# --------------------------------------------------------------------------- throughput


@dataclass
class SinkRun:
    sink: str
    run: int
    events: int
    seconds: float  # consumer start -> last row visible
    seconds_after_first_row: float  # first rows visible -> last row visible (no group join, no first batch)
    rows_after_first: int  # rows that became visible in that time
    batches: int
    cpu_s: float  # process CPU while it ran (this process: consumer thread, chDB's threads, count polling)
    loadavg_1m: float = 0.0  # machine load when it finished (other people's work included)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    @property
    def steady_events_per_s(self) -> float:
        return self.rows_after_first / self.seconds_after_first_row if self.seconds_after_first_row > 0 else 0.0


def run_consumer(
    settings: Settings,
    sink: str,
    dataset: Dataset,
    run: int,
    profile_path: str | None,
    timeout_s: float,
) -> SinkRun:
    database = Database.CLICKHOUSE if sink == "clickhouse" else Database.POSTGRES
    table = TABLES[dataset.kind].name
    counter = Counter(settings, database, table)
    counter.truncate()
    consumer = sink_consumer(settings, sink)
    profiler = cProfile.Profile() if profile_path else None
    errors: list[BaseException] = []

    def target() -> None:
        try:
            if profiler is not None:
                profiler.enable()
            consumer.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            if profiler is not None:
                profiler.disable()

    cpu0 = time.process_time()
    start = time.monotonic()
    thread = threading.Thread(target=target, name=f"bench-{sink}", daemon=True)
    thread.start()
    first = done = None
    first_rows = 0
    last_report = start
    try:
        while True:
            now = time.monotonic()
            n = counter.count()
            if n and first is None:
                first, first_rows = now, n
            if n >= dataset.events:
                done = now
                break
            if errors:
                raise RuntimeError(f"the {sink} consumer failed: {errors[0]!r}")
            if now - start > timeout_s:
                raise RuntimeError(f"{sink}: only {n:,} of {dataset.events:,} rows after {timeout_s:.0f}s")
            if now - last_report >= 5:
                progress(f"    {n:,} rows after {now - start:.1f}s")
                last_report = now
            time.sleep(0.05)
    finally:
        consumer.stop()
        thread.join(60)
        counter.close()
    cpu = time.process_time() - cpu0
    if profiler is not None and profile_path:
        profiler.dump_stats(profile_path)
        print(f"\ncProfile of the {sink} consumer thread (run {run}), saved to {profile_path}:")
        print(top_of_profile(profile_path))
    assert first is not None and done is not None
    return SinkRun(
        sink,
        run,
        dataset.events,
        done - start,
        done - first,
        dataset.events - first_rows,
        consumer.status.batches,
        cpu,
        os.getloadavg()[0],
    )


def top_of_profile(path: str, limit: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(path, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return "\n".join(line for line in out.getvalue().splitlines() if line.strip())


# --------------------------------------------------------------------------- ceilings


@dataclass
class Ceiling:
    name: str
    run: int
    rows: int
    seconds: float
    prepare_seconds: float = 0.0  # untimed preparation (e.g. building Arrow tables), for information

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def clickhouse_ceilings(settings: Settings, dataset: Dataset, run: int) -> list[Ceiling]:
    """Right after a consumer run, whose rows are in ``logs``: the same rows again, without Kafka.

    - insert_arrow of the stored rows (read back as Arrow, untimed), in chunks of batch_max_rows: the
      fastest insert clickhouse-connect offers, with rows already built.
    - the sink's own JSON insert (ClickHouseSink.write) of the same records: what the pipeline costs
      on top of the database, minus Kafka.
    """
    table = TABLES["log"]
    client = clickhouse.connect(settings.clickhouse_dsn)
    scratch = "bench_logs_ceiling"
    columns = table.column_names
    results = []
    try:
        prep = time.monotonic()
        stored = client.query_arrow(f"SELECT {', '.join(columns)} FROM {table.name}")
        reference = _content_hash(client, table.name, columns)
        step = settings.batch_max_rows
        arrow_chunks = [stored.slice(offset, step) for offset in range(0, stored.num_rows, step)]
        prepared = time.monotonic() - prep
        client.command(f"DROP TABLE IF EXISTS {scratch}")
        client.command(f"CREATE TABLE {scratch} AS {table.name}")
        start = time.monotonic()
        for arrow in arrow_chunks:
            client.insert_arrow(scratch, arrow)
        results.append(
            Ceiling("clickhouse insert_arrow", run, stored.num_rows, time.monotonic() - start, prepare_seconds=prepared)
        )
        _check_count(client, scratch, dataset.events)
        if _content_hash(client, scratch, columns) != reference:
            raise RuntimeError("insert_arrow stored different values than the pipeline")

        client.command(f"DROP TABLE IF EXISTS {scratch}")
        client.command(f"CREATE TABLE {scratch} AS {table.name}")
        sink = ClickHouseSink.from_settings(settings)
        scratch_table = replace(table, name=scratch)
        groups: list[list[bytes]] = [[]]
        events = 0
        for _key, record in dataset.records:
            if events >= step:
                groups.append([])
                events = 0
            groups[-1].append(json_rows(record.value))
            events += record.events
        start = time.monotonic()
        for group in groups:
            sink.write(scratch_table, group, "")
        results.append(Ceiling("clickhouse sink JSON insert, no Kafka", run, dataset.events, time.monotonic() - start))
        sink.close()
        _check_count(client, scratch, dataset.events)
        if _content_hash(client, scratch, columns) != reference:
            raise RuntimeError("the sink's insert stored different values than the pipeline")
        client.command(f"DROP TABLE IF EXISTS {scratch}")
    finally:
        client.close()
    return results


def _content_hash(client: Any, table: str, columns: Sequence[str]) -> int:
    """An order-independent hash of every stored value of the given columns."""
    cols = ", ".join(columns)
    return int(client.query(f"SELECT groupBitXor(cityHash64(toString(tuple({cols})))) FROM {table}").result_rows[0][0])


def _check_count(client: Any, table: str, expected: int) -> None:
    got = int(client.query(f"SELECT count() FROM {table}").result_rows[0][0])
    if got != expected:
        raise RuntimeError(f"ceiling insert into {table}: {got:,} rows, expected {expected:,}")


def postgres_ceiling(settings: Settings, rows: list[tuple[Any, ...]], run: int) -> Ceiling:
    from psycopg import sql

    table = TABLES["security_event"]
    scratch = "bench_security_events_ceiling"
    columns = sql.SQL(", ").join(map(sql.Identifier, table.column_names))
    with postgres.connect(settings.postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(scratch)))
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
                sql.Identifier(scratch), sql.Identifier(table.name)
            )
        )
        start = time.monotonic()
        for chunk in chunks(rows, settings.batch_max_rows):
            with conn.transaction():
                with conn.cursor().copy(
                    sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(scratch), columns)
                ) as copy:
                    for row in chunk:
                        copy.write_row(row)
        seconds = time.monotonic() - start
        got = conn.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(scratch))).fetchone()["n"]
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(scratch)))
    if got != len(rows):
        raise RuntimeError(f"COPY ceiling: {got:,} rows, expected {len(rows):,}")
    return Ceiling("postgres COPY (write_row)", run, len(rows), seconds)


# --------------------------------------------------------------------------- freshness


@dataclass
class Freshness:
    sink: str
    requests: int
    visible: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    inserted_p50_ms: float | None = None
    inserted_p99_ms: float | None = None


@dataclass
class FreshRun:
    rate: float
    achieved_events_per_s: float
    collector_p99_ms: float
    non_202: dict[int, int]
    sinks: list[Freshness] = field(default_factory=list)


def freshness(env: BenchEnv, collector_env: dict[str, str], args: argparse.Namespace) -> FreshRun:
    import http.client

    settings = env.settings
    for database, table in ((Database.CLICKHOUSE, "logs"), (Database.POSTGRES, "security_events")):
        c = Counter(settings, database, table)
        c.truncate()
        c.close()
    collector = Collector(env, collector_env).start()
    pipeline = PipelineThreads(build_consumers(settings, ["clickhouse", "postgres"]))
    pipeline.start()
    rng = random.Random(99)
    batch = args.fresh_batch
    rate_rps = args.fresh_rate / batch
    total = int(rate_rps * (args.fresh_warmup + args.fresh_duration))
    warm = int(rate_rps * args.fresh_warmup)
    # tag -> (kind, events, time of the 202); filled by senders, consumed by the poller
    acked: dict[str, tuple[str, int, float]] = {}
    visible: dict[str, tuple[float, float | None]] = {}  # tag -> (query start, max ingested_at or None)
    lock = threading.Lock()
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    due: queue.Queue[tuple[int, float] | None] = queue.Queue()
    headers = {"Authorization": f"Bearer {env.ingest_key}", "Content-Type": "application/json"}

    def body_for(n: int) -> tuple[str, bytes]:
        now = int(time.time() * 1000)
        tag = f"fresh-{n}"
        if n % 10 == 9:
            events = [security_event(rng, now, user_id=tag) for _ in range(batch)]
            return "security_event", orjson.dumps(events)
        events = [log_event(rng, now, service="bench-fresh", request_id=tag) for _ in range(batch)]
        return "log", orjson.dumps(events)

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=30)
        while (item := due.get()) is not None:
            n, scheduled = item
            kind, body = body_for(n)
            try:
                conn.request("POST", "/v1/events", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=30)
                status = 0
            acked_at = time.time()
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 202 and n >= warm:
                    acked[f"fresh-{n}"] = (kind, batch, acked_at)
                    latencies.append((time.monotonic() - scheduled) * 1000)
        conn.close()

    stop_polling = threading.Event()

    def poller() -> None:
        ch = clickhouse.connect(settings.clickhouse_dsn)
        pg = postgres.connect(settings.postgres_dsn, autocommit=True)
        try:
            while not stop_polling.is_set():
                with lock:
                    pending = {tag: v for tag, v in acked.items() if tag not in visible}
                logs = [t for t, (k, _, _) in pending.items() if k == "log"]
                secs = [t for t, (k, _, _) in pending.items() if k == "security_event"]
                t0 = time.time()
                if logs:
                    result = ch.query(
                        "SELECT request_id, count(), toUnixTimestamp64Milli(max(ingested_at)) FROM logs "
                        "WHERE service = 'bench-fresh' AND request_id IN {tags:Array(String)} GROUP BY request_id",
                        parameters={"tags": logs},
                    )
                    for tag, count, ingested in result.result_rows:
                        if count >= pending[tag][1]:
                            visible[tag] = (t0, ingested / 1000)
                t1 = time.time()
                if secs:
                    found = pg.execute(
                        "SELECT user_id, count(*) AS n FROM security_events WHERE user_id = ANY(%s) GROUP BY user_id",
                        (secs,),
                    ).fetchall()
                    for found_row in found:
                        tag, count = found_row["user_id"], found_row["n"]
                        if count >= pending[tag][1]:
                            visible[tag] = (t1, None)
                stop_polling.wait(max(0.0, args.poll_ms / 1000 - (time.time() - t0)))
        finally:
            ch.close()
            pg.close()

    senders = [threading.Thread(target=sender, daemon=True) for _ in range(16)]
    poll_thread = threading.Thread(target=poller, daemon=True)
    try:
        for t in senders:
            t.start()
        poll_thread.start()
        progress(
            f"  sending {args.fresh_rate:,.0f} events/s ({rate_rps:.0f} requests of {batch}) for "
            f"{args.fresh_warmup + args.fresh_duration:.0f}s (first {args.fresh_warmup:.0f}s not counted) ..."
        )
        start = time.monotonic() + 0.1
        for n in range(total):
            scheduled = start + n / rate_rps
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            due.put((n, scheduled))
        for _ in senders:
            due.put(None)
        for t in senders:
            t.join(60)
        sent_seconds = time.monotonic() - start
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with lock:
                if all(tag in visible for tag in acked):
                    break
            time.sleep(0.1)
    finally:
        stop_polling.set()
        poll_thread.join(10)
        pipeline.stop()
        collector.stop()
    run = FreshRun(
        rate=args.fresh_rate,
        achieved_events_per_s=statuses.get(202, 0) * batch / sent_seconds,
        collector_p99_ms=percentile(latencies, 99),
        non_202={k: v for k, v in statuses.items() if k != 202},
    )
    for kind, sink in (("log", "clickhouse"), ("security_event", "postgres")):
        tags = [t for t, (k, _, _) in acked.items() if k == kind]
        seen = [t for t in tags if t in visible]
        delays = [(visible[t][0] - acked[t][2]) * 1000 for t in seen]
        fresh = Freshness(
            sink=sink,
            requests=len(tags),
            visible=len(seen),
            p50_ms=percentile(delays, 50),
            p99_ms=percentile(delays, 99),
            max_ms=max(delays) if delays else float("nan"),
        )
        if kind == "log":
            inserted = [(visible[t][1] - acked[t][2]) * 1000 for t in seen if visible[t][1] is not None]
            fresh.inserted_p50_ms = percentile(inserted, 50)
            fresh.inserted_p99_ms = percentile(inserted, 99)
        run.sinks.append(fresh)
    return run


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logs", type=int, default=500_000, help="log events pre-loaded (default 500,000)")
    parser.add_argument("--security", type=int, default=200_000, help="security events pre-loaded (default 200,000)")
    parser.add_argument("--request-size", type=int, default=1000, help="events per simulated request (default 1,000)")
    parser.add_argument("--repeat", type=int, default=2, help="throughput runs per sink (default 2)")
    parser.add_argument("--sinks", default="clickhouse,postgres", help="which sinks to measure (default both)")
    parser.add_argument("--compression", default="lz4", help="LOOKOUT_KAFKA_COMPRESSION (default lz4)")
    parser.add_argument("--skip-ceilings", action="store_true")
    parser.add_argument("--skip-freshness", action="store_true")
    parser.add_argument("--fresh-rate", type=float, default=5000, help="events/s for freshness (default 5,000)")
    parser.add_argument("--fresh-batch", type=int, default=100, help="events per freshness request (default 100)")
    parser.add_argument("--fresh-duration", type=float, default=30, help="measured seconds (default 30)")
    parser.add_argument("--fresh-warmup", type=float, default=5, help="seconds not counted (default 5)")
    parser.add_argument("--poll-ms", type=float, default=50, help="freshness poll interval (default 50 ms)")
    parser.add_argument("--collector-workers", type=int, default=2)
    parser.add_argument("--collector-threads", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=300, help="give up on a throughput run after (s)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile each consumer of run 1 into FILE.<sink>")
    parser.add_argument("--json", metavar="FILE", help="also write every result as JSON")
    args = parser.parse_args(argv)
    sinks = [s for s in args.sinks.split(",") if s]

    info = machine_info()
    print_machine(info)
    progress(f"building {args.logs:,} log and {args.security:,} security events in the collector's format ...")
    datasets = {
        "clickhouse": make_dataset("log", args.logs, args.request_size, 1),
        "postgres": make_dataset("security_event", args.security, args.request_size, 2),
    }
    for ds in datasets.values():
        progress(
            f"  {ds.kind}: {len(ds.records):,} records, {ds.payload_bytes / ds.events:.0f} B/event in the wire form, "
            f"{ds.events / len(ds.records):.0f} events/record"
        )

    sink_runs: list[SinkRun] = []
    ceilings: list[Ceiling] = []
    fresh: FreshRun | None = None
    extra = {"LOOKOUT_KAFKA_COMPRESSION": args.compression, "LOOKOUT_LOG_LEVEL": "WARNING"}
    with bench_env(extra) as env:
        settings = env.settings
        rows = rows_of(datasets["postgres"]) if "postgres" in sinks else []
        for run in range(1, args.repeat + 1):
            run_settings = settings.with_(kafka_topic_prefix=f"bench{run}.")
            ensure_topics(run_settings)
            for sink in sinks:
                ds = datasets[sink]
                seconds = produce(run_settings, run_settings.topic(ds.kind), ds.records)
                progress(
                    f"run {run}: pre-loaded {ds.events:,} {ds.kind} events in {seconds:.1f}s; consuming into {sink} ..."
                )
                profile = f"{args.profile}.{sink}" if (args.profile and run == 1) else None
                result = run_consumer(run_settings, sink, ds, run, profile, args.timeout)
                sink_runs.append(result)
                progress(
                    f"  {sink}: {result.events_per_s:,.0f} events/s ({result.seconds:.1f}s from start; "
                    f"{result.steady_events_per_s:,.0f} events/s after the first batch), {result.batches} batches, "
                    f"this process used {result.cpu_s / result.seconds:.2f} cores"
                )
                if not args.skip_ceilings:
                    if sink == "clickhouse":
                        found = clickhouse_ceilings(settings, ds, run)
                    else:
                        found = [postgres_ceiling(settings, rows, run)]
                    for c in found:
                        progress(f"  ceiling {c.name}: {c.rows_per_s:,.0f} rows/s")
                    ceilings.extend(found)
        if not args.skip_freshness:
            progress("freshness: collector (gunicorn) + pipeline threads ...")
            fresh = freshness(
                env,
                {
                    "LOOKOUT_COLLECTOR_WORKERS": str(args.collector_workers),
                    "LOOKOUT_COLLECTOR_THREADS": str(args.collector_threads),
                },
                args,
            )

    report(sink_runs, ceilings, fresh)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {
                    "machine": info,
                    "args": vars(args),
                    "sink_runs": [{**asdict(r), "events_per_s": r.events_per_s} for r in sink_runs],
                    "ceilings": [{**asdict(c), "rows_per_s": c.rows_per_s} for c in ceilings],
                    "freshness": asdict(fresh) if fresh else None,
                },
                handle,
                indent=2,
            )
    return 0


def report(sink_runs: list[SinkRun], ceilings: list[Ceiling], fresh: FreshRun | None) -> None:
    targets = {"clickhouse": 100_000, "postgres": 20_000}
    print()
    print(
        "| sink | run | events | seconds | events/s (start to all visible) | events/s after the first batch | batches "
        "| cores used by this process | events per CPU-second | load 1m |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sink_runs:
        print(
            f"| {r.sink} | {r.run} | {r.events:,} | {r.seconds:.1f} | {r.events_per_s:,.0f} | "
            f"{r.steady_events_per_s:,.0f} | {r.batches} | {r.cpu_s / r.seconds:.2f} | "
            f"{r.events / r.cpu_s if r.cpu_s else 0:,.0f} | {r.loadavg_1m:.1f} |"
        )
    if ceilings:
        print()
        print("| ceiling | run | rows | seconds | rows/s | untimed preparation s |")
        print("|---|---:|---:|---:|---:|---:|")
        for c in ceilings:
            print(
                f"| {c.name} | {c.run} | {c.rows:,} | {c.seconds:.2f} | {c.rows_per_s:,.0f} | {c.prepare_seconds:.2f} |"
            )
    print()
    for sink, target in targets.items():
        values = [r.events_per_s for r in sink_runs if r.sink == sink]
        if values:
            best = max(values)
            print(
                f"{sink}: best {best:,.0f} events/s, spread {min(values):,.0f}..{max(values):,.0f} over "
                f"{len(values)} runs; target >= {target:,}: {'PASS' if best >= target else 'FAIL'}"
            )
    if fresh is not None:
        print()
        print(
            f"freshness at {fresh.rate:,.0f} events/s (achieved {fresh.achieved_events_per_s:,.0f}, collector p99 "
            f"{fresh.collector_p99_ms:.0f} ms, non-202 {fresh.non_202 or 0}):"
        )
        print("| sink | requests | visible | p50 ms | p99 ms | max ms | insert-time p50 / p99 ms (lower bound) |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for f in fresh.sinks:
            lower = "-" if f.inserted_p50_ms is None else f"{f.inserted_p50_ms:.0f} / {f.inserted_p99_ms:.0f}"
            print(
                f"| {f.sink} | {f.requests} | {f.visible} | {f.p50_ms:.0f} | {f.p99_ms:.0f} | {f.max_ms:.0f} "
                f"| {lower} |"
            )
        ch = next((f for f in fresh.sinks if f.sink == "clickhouse"), None)
        if ch is not None:
            ok = ch.p99_ms < 2000 and ch.visible == ch.requests
            print(f"freshness p99 < 2 s (ClickHouse): {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    raise SystemExit(main())
