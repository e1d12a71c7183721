r"""Ingest benchmark: events/s accepted (202) by the collector under gunicorn into the real broker.

    .venv/bin/python -m bench.ingest                       # the default configuration, ~4 minutes
    .venv/bin/python -m bench.ingest --sweep               # workers x threads x compression, closed loop only
    .venv/bin/python -m bench.ingest --routes events,bulk,loki,syslog --batch-sizes 1000 --rounds 6 --duration 5 \
        --skip-open-loop --skip-ceiling                    # the interoperability routes beside the native one

``--routes`` sends the same events through other routes, in the same run, interleaved with the native
route (bodies from bench.formats): ``bulk`` (``POST /_bulk``, gzipped NDJSON, 200 with per-item
status), ``loki`` (``POST /loki/api/v1/push``, snappy protobuf, 204) and ``syslog`` (octet-counted RFC
5424 over TCP to ``lookout syslog``, a process of its own beside the collector, one per run). Syslog
answers nothing, so its events are counted in Kafka: the listener writes to topics of its own, read once
after the run, and the events of records created inside each syslog window are summed (the records'
event-count header).

With ``--rounds N`` every route gets N closed-loop windows of ``--duration`` s per run, the routes taking
turns (odd rounds in ``--routes`` order, even ones reversed, so an even N puts each route as often before
the native window as after it). The machine drifts over minutes (2 cores shared by the collector, Kafka and
this load generator), so each window is compared with the native window of its own round, and the table
gives per route the median of those per-round ratios, their range and the median per collector core-second.
A route's first window is warmed up for ``--warmup`` s, later ones for ``--round-warmup`` s. ``--verbose``
prints every window; ``--json`` has them all.

For every batch size (default 100 and 1,000 log events of ~400 bytes, gzip-compressed bodies):

1. closed loop: ``--concurrency`` client threads, each with its own keep-alive ``http.client``
   connection, send pre-built, pre-gzipped bodies back to back for ``--duration`` seconds after a
   warm-up. Only events of 202 answers count. This is the maximum throughput.
2. open loop: requests are *scheduled* at a fixed rate of half that maximum (one every 1/rate s, on a
   clock that does not wait for answers) and a pool of ``--pool`` connections sends them; latency is
   measured from the scheduled time, so a slow answer that delays the next send is charged to the
   latency (no coordinated omission). p50/p99/p99.9 of the 202s, and every non-202 counted.
3. ceiling: Kafka's own ProducerPerformance (``app.stack.producer_perf_test``) with the
   collector's producer settings (acks=all, idempotence, linger 2 ms, same compression), sending as
   many records as the collector produced in the closed loop, each of the average size of a record
   the collector produces for these events (it packs one request's events into one record per
   service, lookout/records.py), so records/s x events/record is the broker's ceiling in events/s.
   With compression on, random bytes (what --record-size sends) do not compress like JSON does, so
   a second run sends the collector's real records through ``--payload-file``.

The load generator runs on the same 2 cores as the collector and Kafka; its CPU use is reported
next to theirs so you can see who was starved.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import http.client
import json
import os
import queue
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

import orjson
from kafka import KafkaConsumer

from app.stack import producer_perf_test
from bench import formats
from bench.common import (
    BenchEnv,
    Collector,
    CpuMeter,
    PySpy,
    bench_env,
    create_topic,
    find_free_port,
    log_event,
    machine_info,
    parse_perf,
    percentile,
    perf_test_payload_file,
    print_machine,
    producer_props,
    progress,
    summarize_collapsed,
    wire_records,
)
from lookout.records import events_in
from lookout.settings import PROJECT_ROOT, Settings
from lookout.topics import ensure_topics

# --------------------------------------------------------------------------- request bodies


@dataclass
class Bodies:
    batch: int
    gzipped: list[bytes]
    raw_bytes_per_event: float
    records_per_request: float  # Kafka records the collector makes of one request
    record_bytes: float  # their average size
    sample_records: list[bytes]  # real records, for the payload-file ceiling
    routes: dict[str, list[bytes]] = field(default_factory=dict)  # the same events as each --routes sends them


def build_bodies(batch: int, count: int, routes: Sequence[str] = (), seed: int = 7) -> Bodies:
    rng = random.Random(seed + batch)
    now = int(time.time() * 1000)
    gzipped, raw_total, records = [], 0, []
    by_route: dict[str, list[bytes]] = {route: [] for route in routes if route != "events"}
    for _ in range(count):
        events = [log_event(rng, now - rng.randint(0, 60_000)) for _ in range(batch)]
        raw = orjson.dumps(events)
        raw_total += len(raw)
        gzipped.append(gzip.compress(raw, compresslevel=6))
        records.extend(record.value for _key, record in wire_records(events, now))
        for route, built in by_route.items():
            built.append(ROUTES[route].encode(events))
    return Bodies(
        routes={"events": gzipped, **by_route},
        batch=batch,
        gzipped=gzipped,
        raw_bytes_per_event=raw_total / (count * batch),
        records_per_request=len(records) / count,
        record_bytes=sum(map(len, records)) / len(records),
        sample_records=records,
    )


# --------------------------------------------------------------------------- the load generator


@dataclass
class Sample:
    scheduled: float  # when the request was due (open loop) or sent (closed loop)
    sent: float
    done: float
    status: int
    accepted: int


@dataclass(frozen=True)
class Route:
    """How one ingest route is sent the benchmark's events, and how its answer says how many it took."""

    path: str
    headers: dict[str, str]
    ok_status: int
    encode: Callable[[list[dict]], bytes]
    accepted: Callable[[bytes, int], int]  # (answer body, events sent) -> events accepted


def _bulk_accepted(answer: bytes, sent: int) -> int:
    # The collector writes {"took":N,"errors":false,... : reading its head spares the load generator, on the
    # collector's cores, parsing a ~190 KB answer per request. Anything else (errors, another key order) is parsed.
    if b'"errors":false' in answer[:64]:
        return sent
    result = orjson.loads(answer)
    if not result["errors"]:
        return sent
    return sum(1 for item in result["items"] if 200 <= next(iter(item.values()))["status"] < 300)


ROUTES: dict[str, Route] = {
    "events": Route("/v1/events", {"Content-Type": "application/json", "Content-Encoding": "gzip"}, 202,
                    lambda events: gzip.compress(orjson.dumps(events), compresslevel=6),
                    lambda answer, _sent: orjson.loads(answer)["accepted"]),
    "bulk": Route("/_bulk", {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}, 200,
                  lambda events: gzip.compress(formats.bulk_body(events), compresslevel=6), _bulk_accepted),
    "loki": Route("/loki/api/v1/push", {"Content-Type": "application/x-protobuf"}, 204, formats.loki_body,
                  lambda _answer, sent: sent),
    # Not HTTP: sent over TCP by syslog_closed_loop; its events are counted in Kafka.
    "syslog": Route("", {}, 0, formats.syslog_stream, lambda _answer, sent: sent),
}


class _Client:
    """One keep-alive connection; reconnects after an error. Statuses other than the route's success count as
    failures; the success status is reported as 202 so every route's results read alike."""

    def __init__(self, port: int, key: str, timeout_s: float = 30.0, route: Route = ROUTES["events"],
                 batch: int = 0) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self.route = route
        self.batch = batch
        self.headers = {"Authorization": f"Bearer {key}", **route.headers}
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes) -> tuple[int, int]:
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout_s)
            self.conn.request("POST", self.route.path, body=body, headers=self.headers)
            response = self.conn.getresponse()
            payload = response.read()
            if response.status == self.route.ok_status:
                return 202, self.route.accepted(payload, self.batch)
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, 0
        except (OSError, http.client.HTTPException):
            self.close()
            return 0, 0

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class Window:
    """Requests that finished inside the measured window."""

    seconds: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.status == 202]

    @property
    def events_per_s(self) -> float:
        return sum(s.accepted for s in self.ok) / self.seconds

    @property
    def requests_per_s(self) -> float:
        return len(self.ok) / self.seconds

    def failures(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for s in self.samples:
            if s.status != 202:
                out[s.status] = out.get(s.status, 0) + 1
        return out

    def latency_ms(self, p: float, from_schedule: bool = True) -> float:
        values = [(s.done - (s.scheduled if from_schedule else s.sent)) * 1000 for s in self.ok]
        return percentile(values, p)


def closed_loop(
    port: int, key: str, bodies: Sequence[bytes], concurrency: int, warmup: float, duration: float,
    route: Route = ROUTES["events"], batch: int = 0,
) -> Window:
    start = time.monotonic()
    measure_from, measure_to = start + warmup, start + warmup + duration
    window = Window(duration)
    lock = threading.Lock()

    def worker(offset: int) -> None:
        client = _Client(port, key, route=route, batch=batch)
        i = offset
        local: list[Sample] = []
        while True:
            sent = time.monotonic()
            if sent >= measure_to:
                break
            status, accepted = client.post(bodies[i % len(bodies)])
            done = time.monotonic()
            i += 1
            if measure_from <= sent and done <= measure_to:
                local.append(Sample(sent, sent, done, status, accepted))
        client.close()
        with lock:
            window.samples.extend(local)

    threads = [threading.Thread(target=worker, args=(n * 7,), daemon=True) for n in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return window


def open_loop(
    port: int, key: str, bodies: Sequence[bytes], rate_rps: float, pool: int, warmup: float, duration: float,
    timeout_s: float = 30.0,
) -> Window:
    """Requests due every 1/rate s; latency counted from when each was due, not when it was sent.

    A request not answered within ``timeout_s`` counts as a failure (status 0), and so does one still
    waiting for a free connection that long after it was due: a server that stops answering ends the
    window about ``timeout_s`` late instead of after every queued request timed out in turn.
    """
    due: queue.Queue[tuple[int, float] | None] = queue.Queue()
    window = Window(duration)
    lock = threading.Lock()
    start = time.monotonic() + 0.05
    measure_from, measure_to = start + warmup, start + warmup + duration

    def worker() -> None:
        client = _Client(port, key, timeout_s)
        local: list[Sample] = []
        while True:
            item = due.get()
            if item is None:
                break
            i, scheduled = item
            sent = time.monotonic()
            if sent - scheduled > timeout_s:
                status, accepted = 0, 0
            else:
                status, accepted = client.post(bodies[i % len(bodies)])
            done = time.monotonic()
            if measure_from <= scheduled < measure_to:
                local.append(Sample(scheduled, sent, done, status, accepted))
        client.close()
        with lock:
            window.samples.extend(local)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(pool)]
    for t in threads:
        t.start()
    interval = 1.0 / rate_rps
    i = 0
    while True:
        scheduled = start + i * interval
        if scheduled >= measure_to:
            break
        delay = scheduled - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        due.put((i, scheduled))
        i += 1
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join(60)
    return window


# --------------------------------------------------------------------------- syslog over TCP


class SyslogListener:
    """``lookout syslog`` as a process of its own, writing to topics of its own (so its events can be counted)."""

    def __init__(self, env: BenchEnv, overrides: dict[str, str], run: int) -> None:
        self.port = find_free_port()
        self.settings = env.settings.with_(syslog_port=self.port, syslog_key=env.ingest_key,
                                           kafka_topic_prefix=f"benchsyslog{run}.{self.port}.")
        ensure_topics(self.settings)
        self.log_path = env.home / f"syslog-{self.port}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "syslog"],
            env={**os.environ, **self.settings.as_env(), **overrides},
            stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lookout syslog exited with {self.proc.returncode}; see {self.log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"lookout syslog did not listen within 30 s; see {self.log_path}")

    def wait_idle(self, timeout_s: float = 30.0) -> float:
        """Seconds until the listener has read what the senders left in its sockets.

        When a window ends, TCP buffers still hold messages the listener reads afterwards; on two shared
        cores that work would be charged to the next route's window.
        """
        start = time.monotonic()
        meter = CpuMeter()
        while time.monotonic() - start < timeout_s:
            meter.start({"listener": CpuMeter.tree(self.proc.pid)})
            time.sleep(0.25)
            if meter.stop()["listener"] < 0.1:
                break
        return time.monotonic() - start

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def syslog_closed_loop(listener: SyslogListener, streams: Sequence[bytes], concurrency: int, warmup: float,
                       duration: float) -> tuple[float, float]:
    """``concurrency`` connections send back to back; returns the measured window (wall-clock s, as Kafka's
    record timestamps are), whose events count_syslog_events finds in Kafka.

    TCP pushes back (the listener reads the next bytes only once the last batch is acknowledged), so
    senders block exactly as a syslog daemon's queue would fill.
    """
    start = time.time()
    measure_from, measure_to = start + warmup, start + warmup + duration

    def sender(offset: int) -> None:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=30) as sock:
            i = offset
            while time.time() < measure_to:
                sock.sendall(streams[i % len(streams)])
                i += 1

    threads = [threading.Thread(target=sender, args=(n * 7,), daemon=True) for n in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return measure_from, measure_to


def _record_events(settings: Settings) -> list[tuple[int, int]]:
    """(creation time in ms, events) of every record of the log topic, read until the topic stays quiet 3 s."""
    consumer = KafkaConsumer(settings.topic("log"), bootstrap_servers=settings.kafka_bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=3000)
    try:
        return [(record.timestamp, events_in(record.value, record.headers)) for record in consumer]
    finally:
        consumer.close()


def events_in_windows(records: Iterable[tuple[int, int]], windows: Sequence[tuple[float, float]]) -> list[int]:
    """Events of the records (creation ms, events) created inside each window [start s, end s)."""
    order = sorted(range(len(windows)), key=lambda i: windows[i][0])
    starts = [windows[i][0] * 1000 for i in order]
    counts = [0] * len(windows)
    for timestamp, events in records:
        at = bisect.bisect_right(starts, timestamp) - 1
        if at >= 0 and timestamp < windows[order[at]][1] * 1000:
            counts[order[at]] += events
    return counts


def count_syslog_events(listener: SyslogListener, results: Sequence[Result]) -> None:
    """Fills in the events/s of the syslog windows among ``results`` from one read of the listener's topic."""
    windows = [(r, r.window_s) for r in results if r.window_s is not None]
    progress(f"  counting the events of {len(windows)} syslog windows in Kafka ...")
    counts = events_in_windows(_record_events(listener.settings), [bounds for _r, bounds in windows])
    for (result, (start_s, end_s)), events in zip(windows, counts, strict=True):
        result.max_events_per_s = events / (end_s - start_s)


# --------------------------------------------------------------------------- one configuration


@dataclass
class Config:
    workers: int
    threads: int
    compression: str
    label: str = ""  # a --variant's name
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            "LOOKOUT_COLLECTOR_WORKERS": str(self.workers),
            "LOOKOUT_COLLECTOR_THREADS": str(self.threads),
            "LOOKOUT_KAFKA_COMPRESSION": self.compression,
            **self.extra_env,
        }

    def __str__(self) -> str:
        text = f"workers={self.workers} threads={self.threads} compression={self.compression}"
        return f"{text} [{self.label}]" if self.label else text


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """'label:KEY=VALUE,KEY=VALUE' -> (label, env); 'label:' is the unchanged environment."""
    label, _, assignments = text.partition(":")
    env = {}
    for item in filter(None, assignments.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--variant {text!r}: {item!r} is not KEY=VALUE")
        env[key.strip()] = value
    return label.strip(), env


@dataclass
class Result:
    config: str
    batch: int
    run: int
    max_events_per_s: float
    max_requests_per_s: float
    closed_p50_ms: float
    closed_p99_ms: float
    closed_failures: dict[int, int]
    cpu_cores: dict[str, float]
    open_rate_events_per_s: float | None = None
    open_achieved_events_per_s: float | None = None
    open_p50_ms: float | None = None
    open_p99_ms: float | None = None
    open_p999_ms: float | None = None
    open_failures: dict[int, int] | None = None
    ceiling_events_per_s: float | None = None
    ceiling_records_per_s: float | None = None
    ceiling_real_events_per_s: float | None = None
    ceiling_real_records_per_s: float | None = None
    ceiling_p99_ms: float | None = None
    record_bytes: float = 0.0
    events_per_record: float = 0.0
    loadavg_1m: float = 0.0  # machine load right after the closed loop (other people's work included)
    route: str = "events"
    round: int = 1  # --rounds: the round of the run this window belongs to
    window_s: tuple[float, float] | None = None  # a syslog window's wall-clock bounds, to count its events in Kafka

    @property
    def events_per_collector_core_s(self) -> float:
        cores = self.cpu_cores.get("collector", 0.0)
        return self.max_events_per_s / cores if cores else 0.0


def measure(
    env: BenchEnv, collector: Collector, config: Config, bodies: Bodies, run: int, args: argparse.Namespace,
    round_: int, warmup: float,
) -> Result:
    kafka = env.stack.kafka.pid()
    meter = CpuMeter()
    meter.start({"collector": collector.pids(), "kafka": [kafka] if kafka else [], "loadgen": [_self_pid()]})
    progress(f"  closed loop, batch {bodies.batch}, {args.concurrency} connections, {args.duration:.0f}s ...")
    spy = None
    if args.py_spy:
        out = env.home / f"py-spy-{bodies.batch}-{run}.txt"
        spy = PySpy(args.py_spy, collector.proc.pid, out, warmup + args.duration)
    closed = closed_loop(collector.port, env.ingest_key, bodies.gzipped, args.concurrency, warmup, args.duration)
    cpu = meter.stop()
    if spy is not None:
        spy.wait()
        if spy.out.exists():
            print(f"\npy-spy profile of the collector, {config}, batch {bodies.batch}, run {run}:")
            print(summarize_collapsed(spy.out))
    result = Result(
        config=str(config),
        batch=bodies.batch,
        run=run,
        max_events_per_s=closed.events_per_s,
        max_requests_per_s=closed.requests_per_s,
        closed_p50_ms=closed.latency_ms(50),
        closed_p99_ms=closed.latency_ms(99),
        closed_failures=closed.failures(),
        cpu_cores={k: round(v, 2) for k, v in cpu.items()},
        record_bytes=bodies.record_bytes,
        events_per_record=bodies.batch / bodies.records_per_request,
        loadavg_1m=os.getloadavg()[0],
        round=round_,
    )
    progress(
        f"    max {result.max_events_per_s:,.0f} events/s ({result.max_requests_per_s:,.0f} req/s), "
        f"p50 {result.closed_p50_ms:.0f} ms, p99 {result.closed_p99_ms:.0f} ms, non-202 {result.closed_failures or 0}, "
        f"cores used {result.cpu_cores}, {result.events_per_collector_core_s:,.0f} events per collector core-second, "
        f"load {result.loadavg_1m:.1f}"
    )
    if not args.skip_open_loop and result.max_events_per_s > 0:
        rate_events = args.open_rate or result.max_events_per_s / 2
        rate_rps = rate_events / bodies.batch
        progress(f"  open loop at {rate_events:,.0f} events/s = {rate_rps:,.1f} req/s, {args.open_duration:.0f}s ...")
        opened = open_loop(
            collector.port, env.ingest_key, bodies.gzipped, rate_rps, args.pool, args.warmup, args.open_duration
        )
        result.open_rate_events_per_s = rate_events
        result.open_achieved_events_per_s = opened.events_per_s
        result.open_p50_ms = opened.latency_ms(50)
        result.open_p99_ms = opened.latency_ms(99)
        result.open_p999_ms = opened.latency_ms(99.9)
        result.open_failures = opened.failures()
        progress(
            f"    achieved {opened.events_per_s:,.0f} events/s, p50 {result.open_p50_ms:.1f} ms, "
            f"p99 {result.open_p99_ms:.1f} ms, p99.9 {result.open_p999_ms:.1f} ms, non-202 {result.open_failures or 0}"
        )
    if not args.skip_ceiling:
        ceiling(env, config, bodies, closed, result)
    return result


def measure_route(
    env: BenchEnv, collector: Collector, listener: SyslogListener | None, config: Config, bodies: Bodies, route: str,
    run: int, args: argparse.Namespace, round_: int, warmup: float,
) -> Result:
    """One closed-loop window through another route (``--routes``): maximum events/s and the cores it took.

    A syslog window's events/s is left at 0 until count_syslog_events reads them from Kafka after the run.
    """
    progress(f"  closed loop via {route}, batch {bodies.batch}, {args.concurrency} connections, "
             f"{args.duration:.0f}s ...")
    kafka = env.stack.kafka.pid()
    meter = CpuMeter()
    p50 = p99 = float("nan")
    failures: dict[int, int] = {}
    window_s = None
    if route == "syslog":
        assert listener is not None, "the syslog route needs the run's listener"
        meter.start({"collector": CpuMeter.tree(listener.proc.pid), "kafka": [kafka] if kafka else [],
                     "loadgen": [_self_pid()]})
        window_s = syslog_closed_loop(listener, bodies.routes[route], args.concurrency, warmup, args.duration)
        cpu = meter.stop()
        events_per_s, requests_per_s = 0.0, float("nan")
        if (drained := listener.wait_idle()) > 1:
            progress(f"    the listener read its sockets' backlog for {drained:.1f}s after the window")
    else:
        meter.start({"collector": collector.pids(), "kafka": [kafka] if kafka else [], "loadgen": [_self_pid()]})
        closed = closed_loop(collector.port, env.ingest_key, bodies.routes[route], args.concurrency, warmup,
                             args.duration, ROUTES[route], bodies.batch)
        cpu = meter.stop()
        events_per_s, requests_per_s = closed.events_per_s, closed.requests_per_s
        p50, p99, failures = closed.latency_ms(50), closed.latency_ms(99), closed.failures()
    result = Result(config=str(config), batch=bodies.batch, run=run, max_events_per_s=events_per_s,
                    max_requests_per_s=requests_per_s, closed_p50_ms=p50, closed_p99_ms=p99,
                    closed_failures=failures, cpu_cores={k: round(v, 2) for k, v in cpu.items()},
                    loadavg_1m=os.getloadavg()[0], route=route, round=round_, window_s=window_s)
    if window_s is None:
        progress(f"    max {events_per_s:,.0f} events/s, failures {failures or 0}, cores used {result.cpu_cores}, "
                 f"{result.events_per_collector_core_s:,.0f} events per collector core-second")
    else:
        progress(f"    cores used {result.cpu_cores}; events counted in Kafka after the run")
    return result


def round_order(routes: Sequence[str], round_: int) -> list[str]:
    """The routes in --routes order in odd rounds, reversed in even ones.

    Over an even number of rounds each route is as often before the native window of its round as after it,
    at the same distance, so a steady drift of the machine pushes as many of its per-round ratios up as down
    and leaves their median alone; and no route always follows the same one.
    """
    return list(routes) if round_ % 2 else list(reversed(routes))


def measure_rounds(
    env: BenchEnv, collector: Collector, listener: SyslogListener | None, config: Config, bodies: Bodies,
    routes: Sequence[str], run: int, args: argparse.Namespace,
) -> list[Result]:
    """Every route once per round, ``--rounds`` times: short windows side by side, so that each route is
    compared with the native window of its own round rather than with one minutes apart."""
    results: list[Result] = []
    warmed: set[str] = set()
    for round_ in range(1, args.rounds + 1):
        if args.rounds > 1:
            progress(f" round {round_}/{args.rounds}")
        for route in round_order(routes, round_):
            # A route's first window also warms the collector's pools and caches for it; later ones only
            # need their new connections warm.
            warmup = args.round_warmup if route in warmed else args.warmup
            warmed.add(route)
            if route == "events":
                results.append(measure(env, collector, config, bodies, run, args, round_, warmup))
            else:
                results.append(measure_route(env, collector, listener, config, bodies, route, run, args, round_,
                                             warmup))
    return results


# --------------------------------------------------------------------------- per-round ratios


@dataclass(frozen=True)
class RouteSummary:
    """One route's windows of one run and batch size, each compared with the native window of its round."""

    config: str
    batch: int
    run: int
    route: str
    windows: int
    median_events_per_s: float
    median_cores: float  # the collector's (syslog: the listener's)
    failures: int
    # Per-round ratios to native; None without a native window (or one that took nothing) to compare with.
    median_ratio: float | None
    min_ratio: float | None
    max_ratio: float | None
    median_core_ratio: float | None


def _ratio(value: float, native: float) -> float | None:
    return value / native if native > 0 else None


def summarize_routes(results: Sequence[Result]) -> list[RouteSummary]:
    """Per (configuration, batch, run, route): medians of the windows and of their per-round ratios to native."""
    native = {(r.config, r.batch, r.run, r.round): r for r in results if r.route == "events"}
    groups: dict[tuple[str, int, int, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.config, r.batch, r.run, r.route), []).append(r)
    summaries = []
    for (config, batch, run, route), windows in groups.items():
        ratios, core_ratios = [], []
        for w in windows:
            if (n := native.get((config, batch, run, w.round))) is None:
                continue
            if (ratio := _ratio(w.max_events_per_s, n.max_events_per_s)) is not None:
                ratios.append(ratio)
            if (core_ratio := _ratio(w.events_per_collector_core_s, n.events_per_collector_core_s)) is not None:
                core_ratios.append(core_ratio)
        summaries.append(RouteSummary(
            config=config, batch=batch, run=run, route=route, windows=len(windows),
            median_events_per_s=statistics.median(w.max_events_per_s for w in windows),
            median_cores=statistics.median(w.cpu_cores.get("collector", 0.0) for w in windows),
            failures=sum(sum(w.closed_failures.values()) for w in windows),
            median_ratio=statistics.median(ratios) if ratios else None,
            min_ratio=min(ratios, default=None),
            max_ratio=max(ratios, default=None),
            median_core_ratio=statistics.median(core_ratios) if core_ratios else None,
        ))
    return summaries


def print_route_summary(summaries: Sequence[RouteSummary]) -> None:
    """Each route beside the native route (issue 13's >= 70%): medians over the rounds of each run."""
    print()
    print("| configuration | batch | run | route | windows | median events/s | median % of native (per round) "
          "| min..max % of native | median collector cores (syslog: listener) | median % of native per core "
          "| failures |")
    print("|---|---:|---:|---|---:|---:|---:|---|---:|---:|---:|")
    for s in summaries:
        spread = f"{_pct(s.min_ratio)}..{_pct(s.max_ratio)}" if s.min_ratio is not None else "-"
        print(f"| {s.config} | {s.batch} | {s.run} | {s.route} | {s.windows} | {s.median_events_per_s:,.0f} | "
              f"{_pct(s.median_ratio)} | {spread} | {s.median_cores:.2f} | {_pct(s.median_core_ratio)} | "
              f"{s.failures or '-'} |")


def print_routes(results: list[Result]) -> None:
    """Every window (``--verbose``): each route's events/s beside the native window of its round."""
    native = {(r.config, r.batch, r.run, r.round): r for r in results if r.route == "events"}
    print()
    print("| configuration | batch | run | round | route | max events/s | % of native "
          "| cores: collector (syslog: listener) / kafka / loadgen | events per collector core-s "
          "| % of native per core | p99 @max ms | failures | load 1m |")
    print("|---|---:|---:|---:|---|---:|---:|---|---:|---:|---:|---|---:|")
    for r in results:
        n = native.get((r.config, r.batch, r.run, r.round))
        # Per core as well: on a shared machine a route's events/s says as much about the CPU it was given.
        share = _ratio(r.max_events_per_s, n.max_events_per_s) if n else None
        per_core = _ratio(r.events_per_collector_core_s, n.events_per_collector_core_s) if n else None
        cores = " / ".join(f"{r.cpu_cores.get(k, 0):.2f}" for k in ("collector", "kafka", "loadgen"))
        print(f"| {r.config} | {r.batch} | {r.run} | {r.round} | {r.route} | {r.max_events_per_s:,.0f} | "
              f"{_pct(share)} | {cores} | {r.events_per_collector_core_s:,.0f} | {_pct(per_core)} | "
              f"{_f(r.closed_p99_ms)} | {r.closed_failures or '-'} | {r.loadavg_1m:.1f} |")


def ceiling(env: BenchEnv, config: Config, bodies: Bodies, closed: Window, result: Result) -> None:
    """Kafka's ProducerPerformance for the same volume of records the closed loop produced."""
    events = sum(s.accepted for s in closed.ok)
    per_record = bodies.batch / bodies.records_per_request
    num_records = max(1000, int(events / per_record))
    record_size = int(round(bodies.record_bytes))
    topic = f"bench.ceiling.{config.compression}.{bodies.batch}.{time.monotonic_ns()}"
    create_topic(env.settings, topic, env.settings.kafka_topic_partitions)
    props = producer_props(config.compression)
    progress(
        f"  ceiling: ProducerPerformance, {num_records:,} records x {record_size:,} B "
        f"({per_record:.0f} events each) ..."
    )
    perf = parse_perf(producer_perf_test(env.settings.kafka_bootstrap, topic, num_records, record_size, -1, props))
    result.ceiling_records_per_s = perf.records_per_s
    result.ceiling_events_per_s = perf.records_per_s * per_record
    result.ceiling_p99_ms = perf.p99_ms
    progress(f"    {perf.raw}")
    progress(f"    = {result.ceiling_events_per_s:,.0f} events/s")
    if config.compression != "none":
        real = perf_test_payload_file(
            env.settings.kafka_bootstrap, topic, num_records, bodies.sample_records, props, env.home
        )
        result.ceiling_real_records_per_s = real.records_per_s
        result.ceiling_real_events_per_s = real.records_per_s * per_record
        progress(f"    real records: {real.raw} = {result.ceiling_real_events_per_s:,.0f} events/s")


def _self_pid() -> int:
    return os.getpid()


# --------------------------------------------------------------------------- reporting


def print_table(results: list[Result], targets: bool = True) -> None:
    print()
    print(
        "| configuration | batch | run | max events/s (202) | req/s | p99 @max ms | open-loop events/s | p50 ms "
        "| p99 ms | p99.9 ms | ceiling events/s (perf-test) | ceiling, real records "
        "| cores: collector / kafka / loadgen | events per collector core-s | load 1m |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in results:
        cores = " / ".join(f"{r.cpu_cores.get(k, 0):.2f}" for k in ("collector", "kafka", "loadgen"))
        print(
            f"| {r.config} | {r.batch} | {r.run} | {r.max_events_per_s:,.0f} | {r.max_requests_per_s:,.0f} | "
            f"{r.closed_p99_ms:.0f} | {_n(r.open_achieved_events_per_s)} | {_f(r.open_p50_ms)} | {_f(r.open_p99_ms)} | "
            f"{_f(r.open_p999_ms)} | {_n(r.ceiling_events_per_s)} | {_n(r.ceiling_real_events_per_s)} | {cores} | "
            f"{r.events_per_collector_core_s:,.0f} | {r.loadavg_1m:.1f} |"
        )
    if targets:
        print()
        for batch in sorted({r.batch for r in results}):
            rows = [r for r in results if r.batch == batch]
            best = max(rows, key=lambda r: r.max_events_per_s)
            values = [r.max_events_per_s for r in rows]
            line = (
                f"batch {batch}: best {best.max_events_per_s:,.0f} events/s ({best.config}); "
                f"spread {min(values):,.0f}..{max(values):,.0f} over {len(values)} closed loops"
            )
            if batch == 1000:
                p99s = [r.open_p99_ms for r in rows if r.open_p99_ms is not None]
                ok_rate = best.max_events_per_s >= 50_000
                # Every run must meet the latency target, not just the luckiest one.
                ok_p99 = bool(p99s) and max(p99s) < 200
                line += (
                    f"; target >= 50,000 events/s: {'PASS' if ok_rate else 'FAIL'}; "
                    f"open-loop p99 < 200 ms in every run: {'PASS' if ok_p99 else 'FAIL'} "
                    f"(worst {max(p99s) if p99s else float('nan'):.1f} ms)"
                )
            print(line)


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--batch-sizes", default="100,1000", help="events per request, comma-separated (default 100,1000)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn workers (LOOKOUT_COLLECTOR_WORKERS, default 2)"
    )
    parser.add_argument(
        "--threads", type=int, default=16, help="threads per worker (LOOKOUT_COLLECTOR_THREADS, default 16)"
    )
    parser.add_argument(
        "--compression",
        default="lz4",
        choices=("none", "gzip", "lz4", "zstd", "snappy"),
        help="LOOKOUT_KAFKA_COMPRESSION (default lz4)",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="closed loop over workers {2,3,4} x threads {4,8,16} x compression {gzip,none,lz4}",
    )
    parser.add_argument("--sweep-workers", default="2,3,4")
    parser.add_argument("--sweep-threads", default="4,8,16")
    parser.add_argument("--sweep-compression", default="gzip,none,lz4")
    parser.add_argument("--concurrency", type=int, default=12, help="closed-loop client connections (default 12)")
    parser.add_argument(
        "--open-rate",
        type=float,
        default=0,
        help="open-loop events/s (default: half the measured maximum; 25000 = half the 50,000 target)",
    )
    parser.add_argument("--pool", type=int, default=48, help="open-loop client connections (default 48)")
    parser.add_argument("--duration", type=float, default=15.0, help="closed-loop measured seconds (default 15)")
    parser.add_argument("--open-duration", type=float, default=20.0, help="open-loop measured seconds (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring (default 3)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of everything (default 2)")
    parser.add_argument("--bodies", type=int, default=24, help="distinct pre-built bodies per batch size (default 24)")
    parser.add_argument("--skip-open-loop", action="store_true")
    parser.add_argument("--skip-ceiling", action="store_true")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL:KEY=VALUE[,KEY=VALUE]",
        help="extra environment for the collector; several --variant are compared in the same run, "
        "interleaved (e.g. --variant base: --variant crc:PYTHONPATH=/tmp/extra)",
    )
    parser.add_argument(
        "--py-spy", metavar="BINARY", help="profile the collector's workers with this py-spy during every closed loop"
    )
    parser.add_argument(
        "--routes", default="events",
        help=f"routes to send the same events through, comma-separated, each run in turn: {', '.join(ROUTES)} "
        "(default events, the native route)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1,
        help="windows of --duration s per route and run, the routes taking turns (odd rounds in --routes order, "
        "even ones reversed); each route's ratio to native is taken per round and the median reported "
        "(default 1; e.g. 6 with --duration 5; needs --skip-open-loop --skip-ceiling above 1)",
    )
    parser.add_argument(
        "--round-warmup", type=float, default=1.0,
        help="warm-up of a route's windows after its first, which gets --warmup (default 1)",
    )
    parser.add_argument("--verbose", action="store_true", help="with --routes, also print every window")
    parser.add_argument("--json", metavar="FILE", help="also write every result (each window) as JSON")
    args = parser.parse_args(argv)
    routes = [r for r in args.routes.split(",") if r]
    if unknown := set(routes) - set(ROUTES):
        parser.error(f"--routes: unknown {', '.join(sorted(unknown))}; choose from {', '.join(ROUTES)}")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, not {args.rounds}")
    if args.round_warmup < 0:
        parser.error(f"--round-warmup must not be negative, not {args.round_warmup}")
    if args.rounds > 1 and not args.sweep and not (args.skip_open_loop and args.skip_ceiling):
        # Every native window would run them, putting minutes between the windows a round compares.
        parser.error("--rounds above 1 compares closed loops only: add --skip-open-loop --skip-ceiling")

    info = machine_info()
    print_machine(info)
    batches = [int(b) for b in args.batch_sizes.split(",") if b]
    if args.sweep:
        configs = [
            Config(w, t, c)
            for c in args.sweep_compression.split(",")
            for w in map(int, args.sweep_workers.split(","))
            for t in map(int, args.sweep_threads.split(","))
        ]
        args.skip_open_loop = True
        args.skip_ceiling = True
    else:
        configs = [Config(args.workers, args.threads, args.compression)]

    progress(f"building request bodies ({args.bodies} per batch size) ...")
    bodies = {b: build_bodies(b, args.bodies, routes) for b in batches}
    for b in bodies.values():
        progress(
            f"  batch {b.batch}: {b.raw_bytes_per_event:.0f} B/event as sent, gzip body "
            f"{sum(map(len, b.gzipped)) / len(b.gzipped) / 1024:.1f} KiB; collector makes {b.records_per_request:.1f} "
            f"records/request of {b.record_bytes:,.0f} B ({b.batch / b.records_per_request:.0f} events each)"
        )

    variants = [parse_variant(v) for v in args.variant] or [("", {})]
    configs = [Config(c.workers, c.threads, c.compression, label, env) for c in configs for label, env in variants]
    results: list[Result] = []
    with bench_env({"LOOKOUT_LOG_LEVEL": "INFO"}) as env:
        for run in range(1, args.repeat + 1):
            for config in configs:
                progress(f"collector: {config} (run {run}/{args.repeat})")
                try:
                    collector = Collector(env, config.env()).start()
                except RuntimeError as exc:
                    progress(f"  skipped: {exc}")
                    continue
                listener = None
                try:
                    # One listener for all the run's windows: starting one takes seconds.
                    listener = SyslogListener(env, config.extra_env, run) if "syslog" in routes else None
                    run_results = [result for batch in batches for result in
                                   measure_rounds(env, collector, listener, config, bodies[batch], routes, run, args)]
                finally:
                    if listener is not None:
                        listener.stop()
                    collector.stop()
                if listener is not None:
                    count_syslog_events(listener, run_results)
                results.extend(run_results)
    print_table([r for r in results if r.route == "events"])
    summaries = summarize_routes(results) if routes != ["events"] else []
    if args.verbose and summaries:
        print_routes(results)
    if summaries:
        print_route_summary(summaries)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": info, "args": vars(args), "results": [asdict(r) for r in results],
                       "routes": [asdict(s) for s in summaries]}, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
