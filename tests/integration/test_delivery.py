"""Delivery under failure, counted exactly, through the real stack.

Each scenario sends thousands of events with known ids through a collector,
disturbs the path while they flow (a pipeline SIGKILLed, PostgreSQL or Kafka
restarted, pipeline processes joining and leaving the consumer group), and then
checks the sink holds exactly the events the collector answered 202 for: every
one of them, none twice. The sender behaves like a client: a batch answered
503 (or anything but 202) is sent again, with the same event ids, until it is
accepted.

Some kills are placed, not left to chance: the PostgreSQL pipeline is SIGKILLed
after a batch is written and before its offsets are committed (a table lock
holds the insert while the broker goes away), and the ClickHouse scenario
rewinds the consumer group to replay what was already written. Poison records
must reach the dead-letter topic with their reasons while their batch-mates
are written.

Every test gets a lane of its own: a fresh topic prefix (so fresh topics and,
through the prefix, its own consumer groups), a collector producing to those
topics and a service-name prefix its rows are counted by. Pipelines run as real
`lookout pipeline` processes, so they can be killed.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import requests
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, NoError
from kafka.structs import OffsetAndMetadata

from access import keys
from app.stack import Stack
from app.stack.base import find_free_port
from collector.app import create_app as create_collector
from lookout.records import decode_events
from lookout.settings import Settings
from lookout.topics import ensure_topics, topic_names
from pipeline.consumer import group_id
from tests.integration.conftest import eventually, serve
from tests.integration.procs import Child, Processes

pytestmark = pytest.mark.integration

POSTGRES_KINDS = ("security_event", "admin_audit")
POSTGRES_TABLES = {"security_event": "security_events", "admin_audit": "admin_audit_logs"}
SEVERITIES = ("low", "medium", "high", "critical")


# --- a lane: private topics, a collector for them, services to count by ----------------------------


@dataclass
class Lane:
    settings: Settings
    url: str
    key: str
    service: str  # the lane's events come from services named <service>-<n>
    log_dir: Path

    def pipeline_env(self, **overrides: str) -> dict[str, str]:
        env = {
            **self.settings.as_env(),
            # Small batches: many write-then-commit cycles, so a kill lands between them.
            "LOOKOUT_BATCH_MAX_ROWS": "500",
            "LOOKOUT_LOG_JSON": "false",
            # A PostgreSQL pipeline never opens ClickHouse; if it did, it must not touch the session's chDB.
            "LOOKOUT_CLICKHOUSE_DSN": f"chdb:///{self.log_dir / 'unused-chdb'}",
        }
        env.update(overrides)
        return env

    def group(self, sink: str) -> str:
        return group_id(self.settings, sink)


@pytest.fixture(scope="module")
def delivery_key(settings: Settings) -> str:
    return keys.create_key(settings, f"delivery-{uuid.uuid4().hex[:8]}", list(keys.KINDS), None, actor="tests").secret


@pytest.fixture
def lane(settings: Settings, delivery_key: str, tmp_path: Path) -> Iterator[Lane]:
    prefix = f"t{uuid.uuid4().hex[:12]}."
    lane_settings = settings.with_(
        kafka_topic_prefix=prefix,
        collector_port=find_free_port(),
        # Keys are cached for the whole test, so the collector keeps accepting while PostgreSQL is down.
        api_key_cache_ttl_s=3600,
        default_rate_limit_per_s=10_000_000,
    )
    ensure_topics(lane_settings)
    wait_for_topics(lane_settings)
    app = create_collector(lane_settings)
    server = serve(app, lane_settings.collector_port)
    try:
        yield Lane(
            lane_settings,
            f"http://127.0.0.1:{lane_settings.collector_port}",
            delivery_key,
            f"delivery-{prefix.rstrip('.')}",
            tmp_path,
        )
    finally:
        server.shutdown()
        server.server_close()
        services = app.extensions["lookout.collector"]
        try:
            services.producer.close()
        except KafkaError:
            pass  # a producer that could not deliver (the Kafka scenarios) cannot flush either
        services.redis.close()


def wait_for_topics(settings: Settings) -> None:
    """Until the broker's metadata lists every partition of the new topics (creation is asynchronous)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap.split(","), client_id="delivery-tests")
    try:

        def known() -> bool:
            consumer.topics()  # refreshes the metadata
            return all(
                len(consumer.partitions_for_topic(topic) or ()) == settings.kafka_topic_partitions
                for topic in topic_names(settings)
            )

        eventually(known, timeout_s=30, interval_s=0.2)
    finally:
        consumer.close()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    processes = Processes(tmp_path)
    try:
        yield processes
    finally:
        processes.close()


def start_pipeline(procs: Processes, lane: Lane, sink: str = "postgres", **env: str) -> Child:
    return procs.start(
        ["pipeline", "--sink", sink], lane.pipeline_env(**env), name=f"pipeline-{sink}-{len(procs.children) + 1}"
    )


# --- events in ------------------------------------------------------------------------------------


SERVICES_PER_LANE = 16  # the collector keys records by service: many services spread them over partitions


def make_events(service: str, n: int, kinds: tuple[str, ...] = POSTGRES_KINDS) -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    events = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        event: dict[str, Any] = {
            "kind": kind,
            "event_id": str(uuid.uuid4()),
            "timestamp": now - i,
            "service": f"{service}-{i % SERVICES_PER_LANE}",
            "instance": f"node-{i % 3}",
        }
        if kind == "security_event":
            event.update(
                event_type="login_failed", severity=SEVERITIES[i % 4], ip_address="203.0.113.7", endpoint="/login"
            )
        elif kind == "admin_audit":
            event.update(action="update_user", admin_id="admin-1", resource_type="user", resource_id=str(i))
        else:
            event.update(level="info", message=f"delivery test event {i}")
        events.append(event)
    return events


class Sender(threading.Thread):
    """Posts events in batches like a client: a batch is re-sent until it gets 202.

    ``accepted`` holds the ids the collector answered 202 for: the expected content of the sink.
    """

    def __init__(
        self, lane: Lane, events: list[dict[str, Any]], batch: int, interval_s: float, deadline_s: float = 240
    ):
        super().__init__(name="delivery-sender", daemon=True)
        self._lane = lane
        self._batches = [events[i : i + batch] for i in range(0, len(events), batch)]
        self._interval_s = interval_s
        self._deadline = time.monotonic() + deadline_s
        self._abort = threading.Event()
        self._may_send = threading.Event()
        self._may_send.set()
        self._in_request = threading.Lock()
        self.total = len(events)
        self.accepted: set[str] = set()
        self.statuses: Counter[str] = Counter()
        self.error: str | None = None

    def run(self) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {self._lane.key}", "Content-Type": "application/json"}
        try:
            for batch in self._batches:
                body = orjson.dumps(batch)
                while True:
                    if self._abort.is_set():
                        return
                    if time.monotonic() > self._deadline:
                        self.error = f"batch still not accepted at the deadline; answers so far {dict(self.statuses)}"
                        return
                    self._may_send.wait()
                    with self._in_request:
                        try:
                            response = session.post(
                                f"{self._lane.url}/v1/events", data=body, headers=headers, timeout=30
                            )
                        except requests.RequestException as exc:
                            self.statuses[type(exc).__name__] += 1
                            response = None
                    if response is not None:
                        self.statuses[str(response.status_code)] += 1
                        if response.status_code == 202:
                            answer = response.json()
                            if answer["rejected"]:
                                self.error = f"the collector rejected test events: {answer['errors'][:3]}"
                                return
                            self.accepted.update(event["event_id"] for event in batch)
                            break
                    time.sleep(0.5)  # 503/429/no answer: back off and send the same events again
                time.sleep(self._interval_s)
        except Exception as exc:  # surfaced by finish()
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            session.close()

    def wait_for(self, count: int, timeout_s: float = 90) -> None:
        def progressed() -> bool:
            if self.error:
                raise AssertionError(f"sender failed: {self.error}")
            return len(self.accepted) >= count or not self.is_alive()

        try:
            eventually(progressed, timeout_s=timeout_s, interval_s=0.05)
        except AssertionError:
            raise AssertionError(
                f"{len(self.accepted)} of {count} events accepted within {timeout_s}s; answers {dict(self.statuses)}"
            ) from None

    def finish(self, timeout_s: float = 240) -> set[str]:
        self.join(timeout_s)
        if self.is_alive():
            self._abort.set()
            raise AssertionError(f"sender still running after {timeout_s}s; answers so far {dict(self.statuses)}")
        assert self.error is None, self.error
        assert len(self.accepted) == self.total, (len(self.accepted), self.total)
        return set(self.accepted)

    def pause(self) -> None:
        """Stop sending; returns once no request is in flight."""
        self._may_send.clear()
        with self._in_request:
            pass

    def resume(self) -> None:
        self._may_send.set()

    def abort(self) -> None:
        self._abort.set()
        self._may_send.set()
        self.join(30)


# --- rows out ------------------------------------------------------------------------------------


def group_offsets(lane: Lane, sink: str, timeout_s: float = 30) -> dict[TopicPartition, int]:
    """The sink's consumer group's committed offsets (retried while a restarted broker loads its groups)."""
    group = lane.group(sink)
    deadline = time.monotonic() + timeout_s
    while True:
        admin = KafkaAdminClient(bootstrap_servers=lane.settings.kafka_bootstrap.split(","), client_id="delivery-tests")
        try:
            committed = admin.list_group_offsets({group: None}).get(group, {})
            return {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        finally:
            admin.close()


def committed_lag(lane: Lane, sink: str, kinds: tuple[str, ...]) -> dict[str, int]:
    """Records each partition of the lane's topics still has beyond the group's committed offset."""
    partitions = [
        TopicPartition(lane.settings.topic(kind), p)
        for kind in kinds
        for p in range(lane.settings.kafka_topic_partitions)
    ]
    consumer = KafkaConsumer(
        bootstrap_servers=lane.settings.kafka_bootstrap.split(","), client_id="delivery-tests", enable_auto_commit=False
    )
    try:
        ends = consumer.end_offsets(partitions)
    finally:
        consumer.close()
    committed = group_offsets(lane, sink)
    return {f"{tp.topic}:{tp.partition}": ends[tp] - committed.get(tp, 0) for tp in partitions}


def committed_total(lane: Lane, sink: str, kinds: tuple[str, ...]) -> int:
    topics = {lane.settings.topic(kind) for kind in kinds}
    try:
        return sum(offset for tp, offset in group_offsets(lane, sink).items() if tp.topic in topics)
    except KafkaError:
        return 0


def wait_drained(
    lane: Lane, procs: Processes, sink: str = "postgres", kinds: tuple[str, ...] = POSTGRES_KINDS, timeout_s: float = 90
) -> None:
    """Until the group has committed every record of the lane's topics (so every row is written)."""

    def drained() -> bool:
        lag = lag_or_none(lane, sink, kinds)
        return lag is not None and not any(lag.values())

    try:
        eventually(drained, timeout_s=timeout_s, interval_s=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nlag: {lag_or_none(lane, sink, kinds)}\n{procs.log_tails()}") from None


def lag_or_none(lane: Lane, sink: str, kinds: tuple[str, ...]) -> dict[str, int] | None:
    """The lag, or None while the broker cannot say (a group coordinator still loading, say)."""
    try:
        return committed_lag(lane, sink, kinds)
    except KafkaError:
        return None


def postgres_ids(lane: Lane, kinds: tuple[str, ...] = POSTGRES_KINDS) -> list[str]:
    """Every event id of the lane's services in its PostgreSQL tables, repeats included."""
    ids: list[str] = []
    with psycopg.connect(lane.settings.postgres_dsn, autocommit=True) as conn:
        for kind in kinds:
            rows = conn.execute(
                f"SELECT event_id::text FROM {POSTGRES_TABLES[kind]} WHERE service LIKE %s", (f"{lane.service}-%",)
            ).fetchall()
            ids.extend(row[0] for row in rows)
    return ids


def assert_exactly(written: list[str], accepted: set[str], context: str = "") -> None:
    repeats = {event_id: n for event_id, n in Counter(written).items() if n > 1}
    missing = accepted - set(written)
    unexpected = set(written) - accepted
    assert not repeats, f"{len(repeats)} events written more than once, e.g. {list(repeats.items())[:3]}\n{context}"
    assert not missing, (
        f"{len(missing)} of {len(accepted)} accepted events never written, e.g. {sorted(missing)[:3]}\n{context}"
    )
    assert not unexpected, f"{len(unexpected)} rows for events never accepted, e.g. {sorted(unexpected)[:3]}\n{context}"
    assert len(written) == len(set(written)) == len(accepted)


def wait_for_rows(lane: Lane, at_least: int, timeout_s: float = 60) -> None:
    eventually(lambda: len(postgres_ids(lane)) >= at_least, timeout_s=timeout_s, interval_s=0.2)


def group_members(lane: Lane, sink: str) -> int | None:
    """Members of the sink's group once it is Stable; None while it rebalances (or cannot be asked)."""
    group = lane.group(sink)
    admin = KafkaAdminClient(bootstrap_servers=lane.settings.kafka_bootstrap.split(","), client_id="delivery-tests")
    try:
        described = admin.describe_groups([group])[group]
    except KafkaError:
        return None
    finally:
        admin.close()
    return len(described["members"]) if described["group_state"] == "Stable" else None


def wait_for_members(lane: Lane, count: int, procs: Processes, sink: str = "postgres", timeout_s: float = 90) -> None:
    try:
        eventually(lambda: group_members(lane, sink) == count, timeout_s=timeout_s, interval_s=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: group never settled on {count} members\n{procs.log_tails()}") from None


@contextmanager
def kafka_down(stack: Stack) -> Iterator[None]:
    """The broker stopped (cleanly) for the duration of the block, then started again."""
    stack.kafka.stop()
    try:
        yield
    finally:
        stack.kafka.start()
        stack.kafka.wait_ready(120)


def events_below(lane: Lane, offsets: dict[TopicPartition, int]) -> int:
    """How many events the records before ``offsets`` hold: what a group committed there has seen."""
    wanted = {tp: offset for tp, offset in offsets.items() if offset > 0}
    consumer = KafkaConsumer(
        bootstrap_servers=lane.settings.kafka_bootstrap.split(","), client_id="delivery-tests", enable_auto_commit=False
    )
    count = 0
    try:
        consumer.assign(list(wanted))
        consumer.seek_to_beginning()
        deadline = time.monotonic() + 30
        while wanted and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                count += sum(len(decode_events(r.value)) for r in records if r.offset < wanted.get(tp, 0))
                if tp in wanted and records[-1].offset + 1 >= wanted[tp]:
                    del wanted[tp]
                    consumer.pause(tp)
    finally:
        consumer.close()
    assert not wanted, f"could not read up to the committed offsets of {wanted}"
    return count


def inserts_waiting(lane: Lane) -> int:
    with psycopg.connect(lane.settings.postgres_dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO%'"
        ).fetchone()
    return int(row[0]) if row else 0


def wait_until_stable(read: Any, settle_s: float = 1.0, timeout_s: float = 30) -> Any:
    """Poll ``read`` until its value has not changed for ``settle_s``; return that value."""
    deadline = time.monotonic() + timeout_s
    last, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= settle_s:
            return last
    raise AssertionError(f"value still changing after {timeout_s}s: {last!r}")


# --- the scenarios -------------------------------------------------------------------------------


def test_pipeline_sigkilled_mid_stream_loses_and_repeats_nothing(stack: Stack, lane: Lane, procs: Processes) -> None:
    sender = Sender(lane, make_events(lane.service, 10000), batch=100, interval_s=0.05)
    first = start_pipeline(procs, lane)
    sender.start()
    try:
        wait_for_rows(lane, 1000)
        # The first kill is made to hit the window a real crash can hit: after a batch is
        # written, before its offsets are committed. A table lock holds the pipeline's insert;
        # the broker goes away so the commit after the write cannot happen; the lock is
        # released, the insert lands, and the pipeline is SIGKILLed with its commit undone.
        locker = psycopg.connect(lane.settings.postgres_dsn)
        try:
            locker.execute("LOCK TABLE security_events, admin_audit_logs IN SHARE ROW EXCLUSIVE MODE")
            eventually(lambda: inserts_waiting(lane) > 0, timeout_s=20, interval_s=0.05)
            committed_before = group_offsets(lane, "postgres")
            rows_before = len(postgres_ids(lane))
            # The broker outage is only a means here, so the sender waits it out (the collector's
            # own behaviour during outages is the Kafka-restart scenario's business).
            sender.pause()
            with kafka_down(stack):
                locker.rollback()  # the waiting insert goes ahead
                rows_at_kill = wait_until_stable(lambda: len(postgres_ids(lane)), settle_s=0.5)
                assert first.kill() == -9
            sender.resume()
        finally:
            locker.close()
        assert rows_at_kill > rows_before, "the held batch should have been written before the kill"
        assert group_offsets(lane, "postgres") == committed_before, "...and its offsets never committed"
        redelivered = rows_at_kill - events_below(lane, committed_before)
        print(f"PostgreSQL: {redelivered} events written but not committed at the first SIGKILL (re-delivered)")
        assert redelivered > 0

        second = start_pipeline(procs, lane)
        sender.wait_for(7000)
        wait_for_rows(lane, 5000)
        assert second.kill() == -9  # the second kill lands wherever the stream happens to be
        third = start_pipeline(procs, lane)
        accepted = sender.finish()
    finally:
        sender.abort()
    wait_drained(lane, procs)
    assert third.terminate() == 0
    assert_exactly(postgres_ids(lane), accepted, procs.log_tails())


def test_postgres_outage_while_events_flow_and_workers_change_loses_and_repeats_nothing(
    stack: Stack, lane: Lane, procs: Processes
) -> None:
    # ~200 events/s for ~35 s: the stream runs before, during and after a 20 s outage,
    # and one of the two pipelines is replaced while PostgreSQL is down.
    sender = Sender(lane, make_events(lane.service, 7000), batch=100, interval_s=0.5)
    a, b = start_pipeline(procs, lane), start_pipeline(procs, lane)
    sender.start()
    try:
        wait_for_members(lane, 2, procs)
        wait_for_rows(lane, 500)  # this also warmed the collector's key cache: it needs no PostgreSQL now
        stack.postgres.stop()
        try:
            down_at = len(sender.accepted)
            time.sleep(5)
            assert b.terminate() == 0  # gives up its unwritten batch (uncommitted) and leaves the group
            time.sleep(5)  # a now holds
            c = start_pipeline(procs, lane)
            time.sleep(10)
            assert len(sender.accepted) > down_at, "events must keep flowing into Kafka while PostgreSQL is down"
            assert a.alive() and c.alive(), procs.log_tails()
        finally:
            stack.postgres.start()
            stack.postgres.wait_ready(60)
        accepted = sender.finish()
    finally:
        sender.abort()
    wait_drained(lane, procs)
    assert a.terminate() == 0 and c.terminate() == 0
    assert_exactly(postgres_ids(lane), accepted, procs.log_tails())


def test_kafka_restart_while_events_flow_loses_and_repeats_nothing(stack: Stack, lane: Lane, procs: Processes) -> None:
    sender = Sender(lane, make_events(lane.service, 6000), batch=100, interval_s=0.1)
    pipeline = start_pipeline(procs, lane)
    sender.start()
    try:
        sender.wait_for(1500)
        wait_for_rows(lane, 500)
        with kafka_down(stack):
            time.sleep(5)  # the sender meets 503s and keeps re-sending
        back_at = len(sender.accepted)
        try:
            sender.wait_for(back_at + 500, timeout_s=60)
        except AssertionError as exc:
            raise AssertionError(f"the collector did not recover after Kafka came back: {exc}") from None
        accepted = sender.finish()
    finally:
        sender.abort()
    assert sender.statuses["503"] > 0, dict(sender.statuses)
    wait_drained(lane, procs)
    assert pipeline.alive(), procs.log_tails()
    assert pipeline.terminate() == 0
    assert_exactly(postgres_ids(lane), accepted, procs.log_tails())


def test_pipelines_joining_and_leaving_the_group_lose_and_repeat_nothing(lane: Lane, procs: Processes) -> None:
    sender = Sender(lane, make_events(lane.service, 12000), batch=200, interval_s=0.3)
    a = start_pipeline(procs, lane)
    sender.start()
    try:
        wait_for_members(lane, 1, procs)
        sender.wait_for(1000)
        b = start_pipeline(procs, lane)
        wait_for_members(lane, 2, procs)
        sender.wait_for(3000)
        assert a.terminate() == 0
        wait_for_members(lane, 1, procs)
        sender.wait_for(4500)
        c = start_pipeline(procs, lane)
        wait_for_members(lane, 2, procs)
        sender.wait_for(6000)
        assert b.terminate() == 0
        d = start_pipeline(procs, lane)  # b leaving and d joining overlap
        wait_for_members(lane, 2, procs)
        sender.wait_for(8000)
        assert c.terminate() == 0
        accepted = sender.finish()
    finally:
        sender.abort()
    wait_drained(lane, procs)
    assert d.terminate() == 0
    assert_exactly(postgres_ids(lane), accepted, procs.log_tails())


def test_poison_events_go_to_the_dead_letter_topic_and_their_batch_mates_are_written(
    lane: Lane, procs: Processes
) -> None:
    topic = lane.settings.topic("security_event")
    now = int(time.time() * 1000)

    def wire(severity: str = "high") -> dict[str, Any]:
        # The compact wire form the collector produces (lookout.records).
        return {
            "kind": "security_event",
            "event_id": str(uuid.uuid4()),
            "ts": now,
            "service": f"{lane.service}-0",
            "instance": "",
            "event_type": "login_failed",
            "severity": severity,
        }

    good = [wire() for _ in range(40)]
    apocalyptic = [wire("apocalyptic"), wire("apocalyptic")]  # the CHECK constraint refuses these rows
    mixed = good[:10] + [apocalyptic[0]] + good[10:25] + [42] + good[25:33] + [apocalyptic[1]] + good[33:]
    bad_record = b"this is not JSON"
    not_an_array = b'{"kind": "security_event"}'
    producer = KafkaProducer(bootstrap_servers=lane.settings.kafka_bootstrap.split(","), acks="all")
    try:
        # All on partition 0, so the records' offsets are known: 0, 1, 2.
        for value in (orjson.dumps(mixed), bad_record, not_an_array):
            producer.send(topic, value=value, partition=0).get(timeout=10)
    finally:
        producer.close()

    pipeline = start_pipeline(procs, lane)
    wait_drained(lane, procs, kinds=("security_event",))
    letters = read_dead_letters(lane, expected=5)
    assert pipeline.terminate() == 0

    assert sorted(postgres_ids(lane, ("security_event",))) == sorted(e["event_id"] for e in good)
    by_origin = {(h["source_offset"], h.get("source_index")): (h, value) for h, value in letters}
    assert len(by_origin) == len(letters) == 5, letters
    for h, _value in letters:
        assert h["source_topic"] == topic and h["source_partition"] == "0", h
    for index in (str(mixed.index(apocalyptic[0])), str(mixed.index(apocalyptic[1]))):
        h, value = by_origin[("0", index)]
        assert h["reason"].startswith("rejected by security_events:") and "check" in h["reason"].lower(), h
        assert orjson.loads(value) == mixed[int(index)]
    h, value = by_origin[("0", str(mixed.index(42)))]
    assert h["reason"] == "event is not a JSON object" and value == b"42"
    h, value = by_origin[("1", None)]
    assert h["reason"].startswith("undecodable record:") and value == bad_record
    h, value = by_origin[("2", None)]
    assert h["reason"] == "undecodable record: record value is not a JSON array of events" and value == not_an_array


def read_dead_letters(lane: Lane, expected: int, timeout_s: float = 30) -> list[tuple[dict[str, str], bytes]]:
    consumer = KafkaConsumer(
        lane.settings.dead_letter_topic,
        bootstrap_servers=lane.settings.kafka_bootstrap.split(","),
        client_id="delivery-tests",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    letters: list[tuple[dict[str, str], bytes]] = []

    def take(timeout_ms: int) -> None:
        for records in consumer.poll(timeout_ms=timeout_ms).values():
            letters.extend(({k: v.decode() for k, v in r.headers}, r.value) for r in records)

    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            take(500)
            if len(letters) >= expected:
                take(1000)  # more letters than expected would be a bug too
                return letters
    finally:
        consumer.close()
    raise AssertionError(f"{len(letters)} dead letters within {timeout_s}s, expected {expected}: {letters}")


CHDB_COUNTS = """
import json, sys
from warehouse import clickhouse
client = clickhouse.connect(sys.argv[1])
p = {"svc": sys.argv[2]}
def one(sql):
    return list(client.query(sql, parameters=p).result_rows[0])
out = {
    "raw": one("SELECT count(), uniqExact(event_id) FROM logs WHERE startsWith(service, {svc:String})"),
    "final": one("SELECT count(), uniqExact(event_id) FROM logs FINAL WHERE startsWith(service, {svc:String})"),
    "parts": [list(r) for r in client.query(
        "SELECT _part, count() FROM logs WHERE startsWith(service, {svc:String}) GROUP BY _part ORDER BY _part",
        parameters=p).result_rows],
}
if sys.argv[3:] == ["--ids-and-optimize"]:
    out["ids"] = [r[0] for r in client.query(
        "SELECT toString(event_id) FROM logs FINAL WHERE startsWith(service, {svc:String})", parameters=p).result_rows]
    client.command("OPTIMIZE TABLE logs FINAL")
    out["raw_after_optimize"] = one(
        "SELECT count(), uniqExact(event_id) FROM logs WHERE startsWith(service, {svc:String})")
    from warehouse.rollup_refresh import refresh
    refresh(client, settle_s=0)
    out["rollup_events"] = one("SELECT sum(events) FROM logs_1m FINAL WHERE startsWith(service, {svc:String})")[0]
print(json.dumps(out))
"""


def test_clickhouse_pipeline_sigkilled_and_redelivered_loses_and_repeats_nothing(
    lane: Lane, procs: Processes, tmp_path: Path
) -> None:
    dsn = f"chdb:///{tmp_path / 'chdb'}"  # its own chDB: the session's belongs to the test process
    env = lane.pipeline_env(LOOKOUT_CLICKHOUSE_DSN=dsn)
    migrated = procs.run(["migrate"], env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    kinds = ("log",)

    def counts(*flags: str) -> dict[str, Any]:
        """Counts read by a fresh process: chDB can be opened only while no pipeline holds it."""
        done = procs.python(CHDB_COUNTS, [dsn, f"{lane.service}-", *flags], env)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    def pipeline(name: str) -> Child:
        return procs.start(["pipeline", "--sink", "clickhouse"], env, name=name)

    sender = Sender(lane, make_events(lane.service, 9000, kinds), batch=100, interval_s=0.25)
    first = pipeline("pipeline-clickhouse-1")
    sender.start()
    try:
        # 1. SIGKILL wherever the stream happens to be (chDB is locked by the pipeline, so
        #    progress is read from the committed offsets).
        eventually(lambda: committed_total(lane, "clickhouse", kinds) > 0, timeout_s=60, interval_s=0.2)
        sender.wait_for(2000)
        assert first.kill() == -9
        sender.pause()  # while chDB is counted, so the successor has a stream to follow, not a backlog
        at_kill = counts()
        committed_at_kill = group_offsets(lane, "clickhouse")
        written_uncommitted = at_kill["raw"][0] - events_below(lane, committed_at_kill)
        print(f"\nClickHouse at the SIGKILL: {at_kill}; written but not committed: {written_uncommitted}")

        # 2. A successor catches up and follows the stream in small batches, then stops cleanly.
        second = pipeline("pipeline-clickhouse-2")
        sender.resume()
        sender.wait_for(6000)
        eventually(lambda: committed_total(lane, "clickhouse", kinds) > sum(committed_at_kill.values()), timeout_s=60)
        assert second.terminate() == 0

        # 3. Re-delivery on a large scale: the group is rewound to the offsets of the SIGKILL, so
        #    everything the second pipeline wrote is read and written again (a crash between write
        #    and commit re-delivers the same way, one batch at a time), new events behind it.
        rewind_group(lane, "clickhouse", committed_at_kill)
        before_replay = counts()
        print(f"ClickHouse before the replay: {before_replay}")
        third = pipeline("pipeline-clickhouse-3")
        accepted = sender.finish()
    finally:
        sender.abort()
    wait_drained(lane, procs, sink="clickhouse", kinds=kinds)
    assert third.terminate() == 0

    result = counts("--ids-and-optimize")
    report = {k: v for k, v in result.items() if k != "ids"}
    print(f"ClickHouse at the end: {report}")
    assert result["final"] == [len(accepted), len(accepted)], report
    assert result["raw_after_optimize"] == [len(accepted), len(accepted)], report
    assert_exactly(result["ids"], accepted, f"{report}\n{procs.log_tails()}")
    # Every copy the replay stored (result["raw"] counts them) is counted once in the rollups too.
    assert result["rollup_events"] == len(accepted), report


def rewind_group(lane: Lane, sink: str, offsets: dict[TopicPartition, int], timeout_s: float = 30) -> None:
    """Set the (memberless) group's committed offsets back, as an operator replaying a topic would."""
    group = lane.group(sink)
    wanted = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}
    admin = KafkaAdminClient(bootstrap_servers=lane.settings.kafka_bootstrap.split(","), client_id="delivery-tests")
    try:

        def rewound() -> bool:
            errors = admin.alter_group_offsets(group, wanted)
            return all(error is NoError for error in errors.values())

        eventually(rewound, timeout_s=timeout_s, interval_s=0.5)  # refused while a member is still known
    finally:
        admin.close()
    assert group_offsets(lane, sink) == offsets
