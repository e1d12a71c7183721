"""Fault soak: a steady mixed load through the real platform while its parts fail, then an exact census.

    .venv/bin/python -m bench.soak                 # 10 minutes (the run recorded in docs/benchmarks.md)
    .venv/bin/python -m bench.soak --minutes 1     # smoke run (tests/slow/test_soak.py): every fault once

What runs (all on 127.0.0.1, in a private temporary home on free ports, stopped again at the end):
  a Kafka broker, PostgreSQL and Redis (app.stack, as `lookout stack` runs them); the collector under
  gunicorn exactly as `lookout up` starts it; one `lookout pipeline` process (both sinks: chDB and
  PostgreSQL) as a child that can be SIGKILLed.

Load: ``--senders`` client threads post batches of ``--batch`` events of all six kinds (logs and API
metrics most, every kind in every batch cycle) at ``--rate`` events/s in all, each event with its own
event_id. Like a real shipper, a batch answered anything but 202 (503 while Kafka or PostgreSQL is
away, a refused connection while the collector restarts) is sent again with the same event ids after a
short back-off. Every request has a timeout and every retry loop ends at the run's deadline.

Faults, one after another from a schedule scaled to the duration (cycles of the six below, one cycle per
5 minutes, at least one): SIGKILL the pipeline (restarted 3 s later), restart the Kafka broker (SIGTERM,
start, wait until it serves), stop PostgreSQL (20 s, shorter in short runs), restart the collector
(SIGTERM, start), fill Redis to a memory limit set for the run (held, then freed), SIGKILL the pipeline
again. A fault that overruns delays the next one; the load goes on until the duration is over and the
last fault has recovered.

Verdict: after the load stops the pipeline drains (both consumer groups committed up to the end of every
topic), stops with SIGTERM, and every table is read. The run passes only if every event answered 202 is
present exactly once as the query layer reads it (PostgreSQL rows; ClickHouse with FINAL) or is in the
dead-letter topic with a reason. It also reports events sent, acknowledged, rows per table, raw
duplicate rows (copies ClickHouse stores until a merge, which FINAL collapses), dead letters and the
freshness lag (row's ingested_at - the moment the 202 arrived), worst and p99. Exit status: 0 pass,
1 fail, 2 the platform could not be started.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis
import requests
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from app.demo import events as demo_events
from bench.common import BenchEnv, Collector, bench_env, machine_info, percentile, print_machine, progress
from lookout.contract import KINDS
from lookout.settings import PROJECT_ROOT
from lookout.topics import topic_names
from pipeline import dlq
from pipeline.consumer import group_id
from pipeline.runner import SINKS
from warehouse import postgres
from warehouse.tables import TABLES, Database

# Per cycle of kinds: logs and API metrics dominate as on a real API server, every kind is present.
KIND_WEIGHTS = {"log": 4, "api_metric": 3, "system_metric": 1, "blockchain_event": 1, "security_event": 1,
                "admin_audit": 1}  # fmt: skip
REDIS_BALLAST_PREFIX = "soak:ballast:"


# --------------------------------------------------------------------------- the load


def mixed_events(seed: int) -> Iterator[dict[str, Any]]:
    """Events of all kinds in KIND_WEIGHTS proportions, each from the demo's realistic generator."""
    rng = random.Random(seed)
    source = demo_events(rng)
    pools: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    cycle = [kind for kind, weight in KIND_WEIGHTS.items() for _ in range(weight)]
    while True:
        for kind in cycle:
            while not pools[kind]:
                event = next(source)
                # The demo makes ~100 API metrics per admin record: keep a few, not all of them.
                if len(pools[event["kind"]]) < 64:
                    pools[event["kind"]].append(event)
            event = dict(pools[kind].pop())
            event["event_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            event["timestamp"] = int(time.time() * 1000)
            yield event


@dataclass
class Ledger:
    """What the clients know: every event they tried to send, and when each was acknowledged."""

    sent: dict[str, str] = field(default_factory=dict)  # event_id -> kind
    acked_ms: dict[str, int] = field(default_factory=dict)  # event_id -> wall-clock ms of its 202
    statuses: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Sender(threading.Thread):
    """One client: batches at a steady pace, each re-sent (same ids) until it gets 202 or the run ends."""

    def __init__(
        self, url: str, key: str, events: Iterator[dict[str, Any]], batch: int, interval_s: float,
        ledger: Ledger, stop: threading.Event, hard_deadline: Callable[[], float],
    ) -> None:  # fmt: skip
        super().__init__(name="soak-sender", daemon=True)
        self._url = f"{url}/v1/events"
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self._events = events
        self._batch = batch
        self._interval_s = interval_s
        self._ledger = ledger
        self._halt = stop
        self._hard_deadline = hard_deadline
        self.error: str | None = None

    def run(self) -> None:
        session = requests.Session()
        next_at = time.monotonic()
        try:
            while not self._halt.is_set():
                batch = [next(self._events) for _ in range(self._batch)]
                with self._ledger.lock:
                    self._ledger.sent.update((e["event_id"], e["kind"]) for e in batch)
                self._deliver(session, orjson.dumps(batch), [e["event_id"] for e in batch])
                # A steady pace; after an outage the backlog is not burst out at once.
                next_at = max(next_at + self._interval_s, time.monotonic())
                self._halt.wait(max(0.0, next_at - time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - reported in the verdict
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            session.close()

    def _deliver(self, session: requests.Session, body: bytes, ids: list[str]) -> None:
        backoff = 0.2
        while time.monotonic() < self._hard_deadline():
            try:
                response = session.post(self._url, data=body, headers=self._headers, timeout=15)
                status = str(response.status_code)
            except requests.RequestException as exc:
                response, status = None, type(exc).__name__
                session.close()  # a broken keep-alive connection is not reused
            with self._ledger.lock:
                self._ledger.requests += 1
                self._ledger.statuses[status] += 1
                if response is not None and response.status_code == 202:
                    answer = response.json()
                    if answer.get("rejected"):
                        raise RuntimeError(f"the collector rejected soak events: {answer.get('errors', [])[:3]}")
                    now_ms = int(time.time() * 1000)
                    self._ledger.acked_ms.update((event_id, now_ms) for event_id in ids)
                    return
            time.sleep(backoff)
            backoff = min(2.0, backoff * 2)


# --------------------------------------------------------------------------- the pipeline process


class PipelineProcess:
    """`lookout pipeline` (both sinks) as a child in its own session, tied to this process's life."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self._env = env
        self._log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.unexpected_exits: list[int] = []  # exit statuses of the times it died without being killed

    def start(self) -> None:
        with self._log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.parent_death", str(os.getpid()), sys.executable, "-m", "app.cli",
                 "pipeline"],
                env=self._env, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)

    def terminate(self, timeout_s: float = 60) -> int | None:
        """SIGTERM (write and commit what was polled), SIGKILL if it hangs; its exit status."""
        if self.proc is None:
            return None
        self._signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.returncode


# --------------------------------------------------------------------------- faults


@dataclass
class Fault:
    name: str
    at_s: float  # planned start, seconds after the load started
    action: Callable[[], str]  # does the fault and its recovery; returns a note
    started_s: float | None = None
    recovered_s: float | None = None
    note: str = ""
    error: str | None = None


class Platform:
    """The moving parts a fault touches."""

    def __init__(self, env: BenchEnv, collector: Collector, pipeline: PipelineProcess) -> None:
        self.env = env
        self.collector = collector
        self.pipeline = pipeline

    def kill_pipeline(self) -> str:
        pid = self.pipeline.proc.pid if self.pipeline.proc else None
        self.pipeline.kill()
        time.sleep(3)
        self.pipeline.start()
        return f"SIGKILL pid {pid}, restarted after 3 s"

    def restart_kafka(self) -> str:
        broker = self.env.stack.kafka
        started = time.monotonic()
        broker.stop()
        stopped = time.monotonic()
        broker.start()
        broker.wait_ready(180)
        return f"stopped in {stopped - started:.1f}s, serving again {time.monotonic() - started:.1f}s after SIGTERM"

    def stop_postgres(self, outage_s: float) -> str:
        pg = self.env.stack.postgres
        started = time.monotonic()
        pg.stop()
        time.sleep(outage_s)
        pg.start()
        pg.wait_ready(120)
        return f"down {time.monotonic() - started:.1f}s (held {outage_s:.0f}s)"

    def restart_collector(self) -> str:
        started = time.monotonic()
        self.collector.stop()
        self.collector.start(timeout_s=60)
        return f"SIGTERM to ready again in {time.monotonic() - started:.1f}s"

    def fill_redis(self, hold_s: float) -> str:
        """Set a memory limit 32 MiB above what Redis uses, fill it until even a tiny write is refused, hold, free.

        A refused write frees its own buffer, so a 256 KiB refusal leaves room for small writes: the
        ballast goes on in ever smaller pieces until a 64-byte SET is refused too.
        """
        client = redis.Redis.from_url(self.env.settings.redis_url)
        try:
            used = int(client.info("memory")["used_memory"])
            limit = used + 32 * 1024 * 1024
            client.config_set("maxmemory", str(limit))
            written = 0
            for size in (256 * 1024, 16 * 1024, 1024, 64):
                try:
                    while written < 20_000:  # bounded: far more than 32 MiB in the largest pieces
                        client.set(f"{REDIS_BALLAST_PREFIX}{written}", b"x" * size)
                        written += 1
                except redis.exceptions.OutOfMemoryError:
                    continue
                raise RuntimeError(f"Redis never refused a write after {written} pieces (limit {limit} bytes)")
            time.sleep(hold_s)
            for start in range(0, written, 500):
                client.delete(*(f"{REDIS_BALLAST_PREFIX}{i}" for i in range(start, min(written, start + 500))))
            return f"full (even 64-byte writes refused) at {limit // 1048576} MiB, {written} pieces, held {hold_s:.0f}s"
        finally:
            client.close()


def schedule(platform: Platform, duration_s: float) -> list[Fault]:
    """Cycles of every fault, one cycle per 5 minutes (at least one), each cycle's faults spread over it."""
    cycles = max(1, round(duration_s / 300))
    span = duration_s / cycles
    outage_s = min(20.0, max(5.0, span * 0.15))
    hold_s = min(20.0, max(5.0, span * 0.1))
    plan: list[tuple[float, str, Callable[[], str]]] = [
        (0.10, "SIGKILL pipeline", platform.kill_pipeline),
        (0.20, "restart Kafka broker", platform.restart_kafka),
        (0.38, f"stop PostgreSQL {outage_s:.0f}s", lambda: platform.stop_postgres(outage_s)),
        (0.58, "restart collector", platform.restart_collector),
        (0.68, "fill Redis to its memory limit", lambda: platform.fill_redis(hold_s)),
        (0.82, "SIGKILL pipeline", platform.kill_pipeline),
    ]
    return [Fault(name, cycle * span + fraction * span, action) for cycle in range(cycles)
            for fraction, name, action in plan]  # fmt: skip


class FaultRunner(threading.Thread):
    def __init__(self, faults: list[Fault], t0: float, stop: threading.Event) -> None:
        super().__init__(name="soak-faults", daemon=True)
        self.faults = faults
        self._t0 = t0
        self._halt = stop
        self.current: str = "-"

    def run(self) -> None:
        for fault in self.faults:
            if self._halt.wait(max(0.0, self._t0 + fault.at_s - time.monotonic())):
                return
            self.current = fault.name
            fault.started_s = time.monotonic() - self._t0
            progress(f"fault: {fault.name} ...")
            try:
                fault.note = fault.action()
            except Exception as exc:  # noqa: BLE001 - a fault that could not be applied fails the run
                fault.error = f"{type(exc).__name__}: {exc}"
            fault.recovered_s = time.monotonic() - self._t0
            progress(f"fault: {fault.name}: {fault.error or fault.note}")
            self.current = "-"


# --------------------------------------------------------------------------- after the load


def drain(env: BenchEnv, timeout_s: float) -> dict[str, int]:
    """Wait until both sinks' groups have committed every record; the lag left per sink."""
    settings = env.settings
    partitions = [TopicPartition(topic, p) for topic in topic_names(settings)[:-1]
                  for p in range(settings.kafka_topic_partitions)]  # fmt: skip
    deadline = time.monotonic() + timeout_s
    lag = {sink: -1 for sink in SINKS}
    while time.monotonic() < deadline:
        try:
            consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap.split(","), enable_auto_commit=False)
            admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","))
            try:
                ends = consumer.end_offsets(partitions)
                for sink in SINKS:
                    group = group_id(settings, sink)
                    committed = admin.list_group_offsets({group: None}).get(group, {})
                    topics = {settings.topic(kind) for kind, table in TABLES.items() if table.database == sink}
                    lag[sink] = sum(
                        ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
                        for tp in partitions
                        if tp.topic in topics
                    )
            finally:
                consumer.close()
                admin.close()
        except KafkaError:
            pass
        if all(v == 0 for v in lag.values()):
            return lag
        time.sleep(1)
    return lag


CLICKHOUSE_CENSUS = """
import json, sys
from warehouse import clickhouse
client = clickhouse.connect(sys.argv[1])
out = {}
for table in sys.argv[3:]:
    raw = client.query(
        f"SELECT toString(event_id), count(), toUnixTimestamp64Milli(min(ingested_at)) FROM {table} GROUP BY event_id"
    ).result_rows
    final = client.query(f"SELECT toString(event_id), count() FROM {table} FINAL GROUP BY event_id").result_rows
    out[table] = {"raw": [[r[0], r[1], r[2]] for r in raw], "final": {r[0]: r[1] for r in final}}
open(sys.argv[2], "w").write(json.dumps(out))
"""


@dataclass
class Census:
    """Per event id: copies as the query layer reads them, copies stored, first ingested_at."""

    visible: Counter[str] = field(default_factory=Counter)
    stored: Counter[str] = field(default_factory=Counter)
    first_ingested_ms: dict[str, int] = field(default_factory=dict)
    rows_per_table: dict[str, int] = field(default_factory=dict)
    table_of: dict[str, str] = field(default_factory=dict)

    def add(self, table: str, event_id: str, visible: int, stored: int, ingested_ms: int) -> None:
        self.table_of[event_id] = table
        self.visible[event_id] += visible
        self.stored[event_id] += stored
        self.rows_per_table[table] = self.rows_per_table.get(table, 0) + visible
        previous = self.first_ingested_ms.get(event_id)
        self.first_ingested_ms[event_id] = ingested_ms if previous is None else min(previous, ingested_ms)


def take_census(env: BenchEnv, chdb_dsn: str, workdir: Path) -> Census:
    census = Census()
    ch_tables = sorted({t.name for t in TABLES.values() if t.database is Database.CLICKHOUSE})
    pg_tables = sorted({t.name for t in TABLES.values() if t.database is Database.POSTGRES})
    out = workdir / "clickhouse-census.json"
    # chDB lets one data path be opened per process, and this one holds a scratch path (migrations).
    done = subprocess.run(
        [sys.executable, "-c", CLICKHOUSE_CENSUS, chdb_dsn, str(out), *ch_tables],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, env=os.environ.copy(),
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"ClickHouse census failed: {done.stderr[-2000:]}")
    for table, result in json.loads(out.read_text()).items():
        census.rows_per_table.setdefault(table, 0)
        for event_id, stored, ingested_ms in result["raw"]:
            census.add(table, event_id, result["final"].get(event_id, 0), stored, ingested_ms)
    with postgres.connect(env.settings.postgres_dsn, autocommit=True) as conn:
        for table in pg_tables:
            census.rows_per_table.setdefault(table, 0)
            rows = conn.execute(
                f"SELECT event_id::text AS id, count(*) AS n, "
                f"(extract(epoch FROM min(ingested_at)) * 1000)::bigint AS ms FROM {table} GROUP BY event_id"
            ).fetchall()
            for row in rows:
                census.add(table, row["id"], row["n"], row["n"], row["ms"])
    return census


def dead_letters(env: BenchEnv) -> dict[str, str]:
    """event_id -> reason, for every event in the dead-letter topic (a whole undecodable record counts for each)."""
    letters = dlq.read_dead_letters(env.settings.kafka_bootstrap, env.settings.dead_letter_topic, 1_000_000)
    found: dict[str, str] = {}
    for letter in letters:
        try:
            original = orjson.loads(letter.original)
        except orjson.JSONDecodeError:
            continue
        for event in original if isinstance(original, list) else [original]:
            if isinstance(event, dict) and isinstance(event.get("event_id"), str):
                found[event["event_id"]] = letter.reason
    return found


@dataclass
class Verdict:
    ok: bool
    lines: list[str]
    figures: dict[str, Any]


def judge(ledger: Ledger, census: Census, letters: dict[str, str], faults: list[Fault], lag: dict[str, int],
          failures: list[str]) -> Verdict:  # fmt: skip
    acked = ledger.acked_ms
    missing = [i for i in acked if census.visible[i] == 0 and i not in letters]
    repeated = {i: census.visible[i] for i in acked if census.visible[i] > 1}
    unreasoned = [i for i in acked if i in letters and not letters[i]]
    stored_copies = sum(n - 1 for n in census.stored.values() if n > 1)
    never_acked_present = sum(1 for i in ledger.sent if i not in acked and census.visible[i] > 0)
    unknown_rows = Counter(census.table_of[i] for i, n in census.visible.items() if n and i not in ledger.sent)
    lags = [census.first_ingested_ms[i] - ms for i, ms in acked.items() if i in census.first_ingested_ms]
    by_kind = Counter(ledger.sent[i] for i in acked)
    figures = {
        "events_sent": len(ledger.sent),
        "events_acknowledged": len(acked),
        "acknowledged_by_kind": dict(sorted(by_kind.items())),
        "requests": ledger.requests,
        "answers": dict(ledger.statuses.most_common()),
        "rows_per_table": dict(sorted(census.rows_per_table.items())),
        "missing": len(missing),
        "visible_duplicates": len(repeated),
        "stored_duplicate_rows": stored_copies,
        "dead_letters": len(letters),
        "dead_lettered_acknowledged": sum(1 for i in acked if i in letters),
        "sent_not_acknowledged_but_present": never_acked_present,
        "rows_not_sent_by_the_soak": dict(unknown_rows),  # the platform's own events (e.g. security events)
        "freshness_lag_worst_s": round(max(lags) / 1000, 2) if lags else None,
        "freshness_lag_p99_s": round(percentile(lags, 99) / 1000, 2) if lags else None,
        "freshness_lag_p50_s": round(percentile(lags, 50) / 1000, 2) if lags else None,
        "lag_left_after_drain": lag,
    }
    problems: list[str] = []
    if missing:
        problems.append(f"{len(missing)} acknowledged events are neither stored nor dead-lettered, e.g. {missing[:3]}")
    if repeated:
        problems.append(
            f"{len(repeated)} acknowledged events are visible more than once, e.g. {list(repeated.items())[:3]}"
        )
    if unreasoned:
        problems.append(f"{len(unreasoned)} dead letters carry no reason, e.g. {unreasoned[:3]}")
    if any(v != 0 for v in lag.values()):
        problems.append(f"the pipeline did not drain: records left per sink {lag}")
    if not acked:
        problems.append("no event was acknowledged")
    problems += [f"fault {f.name!r} at {f.at_s:.0f}s failed: {f.error}" for f in faults if f.error]
    problems += [f"fault {f.name!r} never ran" for f in faults if f.started_s is None]
    problems += failures
    lines = [f"  {key}: {value}" for key, value in figures.items()]
    lines.append("fault schedule (planned start / started / recovered, seconds into the load):")
    lines += [f"  {f.at_s:6.0f} {f.started_s or -1:8.1f} {f.recovered_s or -1:8.1f}  {f.name}: {f.error or f.note}"
              for f in faults]  # fmt: skip
    lines.append("verdict: " + ("PASS: every acknowledged event is present exactly once or dead-lettered with a reason"
                                if not problems else "FAIL\n  " + "\n  ".join(problems)))  # fmt: skip
    return Verdict(not problems, lines, figures)


# --------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> int:
    duration_s = args.minutes * 60
    scratch = Path(tempfile.mkdtemp(prefix="lookout-soak-scratch-"))
    extra = {
        # This process opens chDB only to migrate a throwaway path: the pipeline child owns the real one.
        "LOOKOUT_CLICKHOUSE_DSN": f"chdb:///{scratch / 'chdb'}",
        "LOOKOUT_BATCH_MAX_ROWS": str(args.batch_rows),
        "LOOKOUT_LOG_JSON": "false",
    }
    info = machine_info()
    try:
        with bench_env(extra, keep=args.keep) as env:
            return soak(env, args, duration_s, info)
    finally:
        subprocess.run(["rm", "-rf", str(scratch)], check=False)


def soak(env: BenchEnv, args: argparse.Namespace, duration_s: float, info: dict[str, str]) -> int:
    chdb_dsn = f"chdb:///{env.home / 'chdb'}"
    child_env = {**os.environ, **env.settings.as_env(), "LOOKOUT_CLICKHOUSE_DSN": chdb_dsn}
    migrated = subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env=child_env, cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
    if migrated.returncode != 0:
        progress(f"migrating the pipeline's chDB failed: {migrated.stderr[-1000:]}")
        return 2
    collector = Collector(env).start(timeout_s=60)
    pipeline = PipelineProcess(child_env, env.home / "pipeline.log")
    pipeline.start()
    platform = Platform(env, collector, pipeline)
    progress(f"collector {collector.url} (log {collector.log_path}), pipeline log {env.home / 'pipeline.log'}")

    ledger = Ledger()
    stop = threading.Event()
    t0 = time.monotonic()
    faults = schedule(platform, duration_s)
    runner = FaultRunner(faults, t0, stop)
    # No request loop outlives the run: the load's end plus a grace for the last outage to heal.
    hard_deadline = [t0 + duration_s + 600]
    interval_s = args.batch * args.senders / args.rate
    senders = [
        Sender(collector.url, env.ingest_key, mixed_events(args.seed + n), args.batch, interval_s, ledger, stop,
               lambda: hard_deadline[0])
        for n in range(args.senders)
    ]  # fmt: skip
    for sender in senders:
        sender.start()
    runner.start()
    last = (0, 0)
    try:
        while time.monotonic() - t0 < duration_s or runner.is_alive():
            time.sleep(5)
            with ledger.lock:
                sent, acked, statuses = len(ledger.sent), len(ledger.acked_ms), dict(ledger.statuses)
            progress(f"t={time.monotonic() - t0:5.0f}s sent {sent} (+{sent - last[0]}) acked {acked} "
                     f"(+{acked - last[1]}) fault: {runner.current} pipeline "
                     f"{'up' if pipeline.alive() else 'DOWN'} answers {statuses}")  # fmt: skip
            last = (sent, acked)
            if not pipeline.alive() and runner.current == "-":
                progress(f"the pipeline exited by itself (status {pipeline.proc.returncode}); restarting it")
                pipeline.unexpected_exits.append(pipeline.proc.returncode)
                pipeline.start()
        progress("load done; letting the last batches be acknowledged ...")
        stop.set()
        hard_deadline[0] = time.monotonic() + 60
        for sender in senders:
            sender.join(90)
        progress("waiting for the pipeline to drain ...")
        lag = drain(env, timeout_s=args.drain_timeout)
        progress(f"lag after drain: {lag}; stopping the pipeline")
        status = pipeline.terminate()
        progress(f"pipeline exited with {status}; counting rows ...")
        collector.stop()
        census = take_census(env, chdb_dsn, env.home)
        letters = dead_letters(env)
    finally:
        stop.set()
        runner.join(1)
        if pipeline.alive():
            pipeline.kill()
    crashes = [f"the pipeline exited by itself with status {code}" for code in pipeline.unexpected_exits]
    verdict = judge(
        ledger, census, letters, faults, lag, [f"a sender failed: {s.error}" for s in senders if s.error] + crashes
    )
    print_machine(info)
    print(f"soak: {args.minutes:g} min, {args.rate} events/s target, {args.senders} senders x {args.batch} events, "
          f"pipeline batches of {args.batch_rows}, pipeline started {pipeline.starts} times")  # fmt: skip
    print("\n".join(verdict.lines))
    if args.json:
        Path(args.json).write_text(json.dumps({"ok": verdict.ok, "figures": verdict.figures, "faults": [
            {"name": f.name, "planned_s": f.at_s, "started_s": f.started_s, "recovered_s": f.recovered_s,
             "note": f.note, "error": f.error} for f in faults]}, indent=2))  # fmt: skip
    return 0 if verdict.ok else 1


def positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {raw}")
    return value


def positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {raw}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Everything runs in a private temporary home on free ports; nothing touches a running "
        "`lookout up`. Progress goes to stderr every 5 s, the report to stdout.",
    )
    parser.add_argument(
        "--minutes",
        type=positive_float,
        default=10.0,
        help="how long the load runs (default 10; 1 = smoke run, every fault still once)",
    )
    parser.add_argument("--rate", type=positive_int, default=300, help="events per second in all (default 300)")
    parser.add_argument("--senders", type=positive_int, default=3, help="client threads (default 3)")
    parser.add_argument("--batch", type=positive_int, default=30, help="events per request (default 30)")
    parser.add_argument(
        "--batch-rows",
        type=positive_int,
        default=2000,
        help="LOOKOUT_BATCH_MAX_ROWS for the pipeline: small batches, many commits (default 2000)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=positive_float,
        default=180.0,
        help="seconds the pipeline gets to catch up after the load (default 180)",
    )
    parser.add_argument("--seed", type=int, default=14, help="seed of the event generator (default 14)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures and the fault schedule as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home (logs, data) afterwards")
    return parser  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback, for a platform that would not start
        progress(f"soak could not run: {type(exc).__name__}: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
