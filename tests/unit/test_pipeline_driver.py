"""The stream driver with a scripted KafkaConsumer and a fake chain: back-pressure, rebalances, stop.

Pure logic: no broker. The same paths run against a real one in tests/integration/test_delivery.py
(group churn, a sink outage while workers change, SIGTERM and SIGKILL).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from kafka import TopicPartition

from lookout.settings import Settings
from pipeline.consumer import StreamDriver
from pipeline.steps.base import Commit, ConsumerStatus, MessageRejected, Polled
from tests.unit.pipeline_fakes import NextStep

TOPIC = "t.log"
P0, P1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


class Rec(NamedTuple):
    offset: int
    value: bytes = b'[{"kind":"log"}]'
    headers: list[tuple[str, bytes]] = []


def records(tp: TopicPartition, offsets: range) -> dict[TopicPartition, list[Rec]]:
    return {tp: [Rec(offset) for offset in offsets]}


class ScriptedKafka:
    """Each poll runs the next scripted turn (a callable that may rebalance) and returns its records."""

    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = set(assigned)
        self.turns: deque[Callable[[ScriptedKafka], dict[TopicPartition, list[Rec]]]] = deque()
        self.on_empty: Callable[[], None] = lambda: None
        self.paused_partitions: set[TopicPartition] = set()
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.commits: list[dict[TopicPartition, int]] = []
        self.listener: Any = None
        self.closed = False
        self.pauses = 0

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Rec]]:
        if not self.turns:
            self.on_empty()
            return {}
        return self.turns.popleft()(self)

    def rebalance(self, new: set[TopicPartition]) -> None:
        self.listener.on_partitions_revoked(set(self.assigned))
        self.assigned = set(new)
        self.paused_partitions &= self.assigned  # kafka-python keeps a kept partition's pause

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def pause(self, *tps: TopicPartition) -> None:
        self.pauses += 1
        self.paused_partitions |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused_partitions -= set(tps)

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_partitions)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})

    def highwater(self, tp: TopicPartition) -> int | None:
        return None

    def close(self, autocommit: bool) -> None:
        self.closed = True


class Chain(NextStep):
    """A chain that can refuse, commits what it is told to on join, and can fail on poll."""

    def __init__(self, commit: Commit) -> None:
        super().__init__()
        self.commit = commit
        self.commit_on_join: dict[tuple[str, int], int] = {}
        self.fail_on_poll = False
        self.refuse_once: set[int] = set()  # offsets refused the first time they are offered

    def submit(self, item: Polled) -> None:
        if item.offset in self.refuse_once:
            self.refuse_once.discard(item.offset)
            raise MessageRejected()
        super().submit(item)

    def poll(self) -> None:
        super().poll()
        if self.fail_on_poll:
            raise RuntimeError("a bug in a step")

    def join(self, timeout_s: float) -> None:
        if self.commit_on_join:
            self.commit(self.commit_on_join)
        super().join(timeout_s)


def driver(kafka: ScriptedKafka) -> tuple[StreamDriver, list[Chain]]:
    chains: list[Chain] = []

    def new_chain(commit: Commit) -> Chain:
        chains.append(Chain(commit))
        return chains[-1]

    def connect(settings: Settings, name: str, topics: list[str], listener: Any) -> Any:
        kafka.listener = listener
        return kafka

    settings = Settings.from_env({"LOOKOUT_KAFKA_TOPIC_PREFIX": "t."})
    d = StreamDriver(settings, "clickhouse", [TOPIC], new_chain, ConsumerStatus("clickhouse"), connect=connect)
    kafka.on_empty = d.stop
    return d, chains


def offsets(items: list[Polled]) -> list[tuple[int, int]]:
    return [(item.partition, item.offset) for item in items]


def test_a_refused_record_pauses_the_partitions_and_is_offered_again_until_taken():
    kafka = ScriptedKafka({P0})
    d, chains = driver(kafka)

    def first(k: ScriptedKafka) -> dict[TopicPartition, list[Rec]]:
        chains[0].refuse_once = {1}
        return records(P0, range(0, 3))

    def refused(k: ScriptedKafka) -> dict[TopicPartition, list[Rec]]:
        assert k.paused_partitions == {P0}  # paused while the chain refused
        return {}

    def resumed(k: ScriptedKafka) -> dict[TopicPartition, list[Rec]]:
        assert k.paused_partitions == set()
        return records(P0, range(3, 4))

    kafka.turns.extend([first, refused, resumed])
    d.run()
    assert offsets(chains[0].items) == [(0, 0), (0, 1), (0, 2), (0, 3)]  # in order, none twice
    assert kafka.pauses == 1 and kafka.closed and chains[0].joined is not None


def test_a_rebalance_joins_the_chain_seeks_back_what_it_left_and_starts_a_fresh_chain():
    kafka = ScriptedKafka({P0, P1})
    d, chains = driver(kafka)

    def polled(k: ScriptedKafka) -> dict[TopicPartition, list[Rec]]:
        return {**records(P0, range(10, 15)), **records(P1, range(5, 8))}

    def moved(k: ScriptedKafka) -> dict[TopicPartition, list[Rec]]:
        chains[0].commit_on_join = {(TOPIC, 0): 12, (TOPIC, 1): 8}  # 10-11 and 5-7 were finished
        k.rebalance({P0})  # P1 goes to another member
        return records(P0, range(15, 17))  # the kept partition continues where it was

    def after(k: ScriptedKafka) -> dict[TopicPartition, list[Rec]]:
        assert len(chains) == 2 and chains[0].joined is not None
        return {}

    kafka.turns.extend([polled, moved, after, lambda k: records(P0, range(12, 14))])
    d.run()
    assert kafka.commits == [{P0: 12}]  # P1 moved: its new owner re-reads from the last commit
    assert kafka.seeks == [(P0, 12)]  # 12-14 (and 15-16, dropped from that poll) are read again
    assert offsets(chains[1].items) == [(0, 12), (0, 13)]


def test_a_rebalance_resumes_partitions_paused_for_the_old_chain():
    kafka = ScriptedKafka({P0})
    d, chains = driver(kafka)

    def refused(k: ScriptedKafka) -> dict[TopicPartition, list[Rec]]:
        chains[0].refusing = True
        return records(P0, range(0, 2))

    def rebalanced(k: ScriptedKafka) -> dict[TopicPartition, list[Rec]]:
        assert k.paused_partitions == {P0}
        k.rebalance({P0})
        return {}

    kafka.turns.extend([refused, rebalanced, lambda k: records(P0, range(0, 2))])
    d.run()
    assert kafka.paused_partitions == set() and kafka.seeks == [(P0, 0)]
    assert chains[0].items == [] and offsets(chains[1].items) == [(0, 0), (0, 1)]


def test_a_stop_offers_the_held_records_then_joins_the_chain_and_closes_the_consumer():
    kafka = ScriptedKafka({P0})
    d, chains = driver(kafka)

    def refused(k: ScriptedKafka) -> dict[TopicPartition, list[Rec]]:
        chains[0].refusing = True
        return records(P0, range(0, 2))

    def stop(k: ScriptedKafka) -> dict[TopicPartition, list[Rec]]:
        chains[0].refusing = False
        d.stop()
        return {}

    kafka.turns.extend([refused, stop])
    d.run()
    assert offsets(chains[0].items) == [(0, 0), (0, 1)]
    assert chains[0].joined is not None and kafka.closed and len(chains) == 1


def test_a_failing_chain_is_terminated_and_the_consumer_closed():
    kafka = ScriptedKafka({P0})
    d, chains = driver(kafka)

    def boom(k: ScriptedKafka) -> dict[TopicPartition, list[Rec]]:
        chains[0].fail_on_poll = True
        return records(P0, range(0, 1))

    kafka.turns.append(boom)
    with pytest.raises(RuntimeError, match="a bug in a step"):
        d.run()
    assert chains[0].terminated and kafka.closed and chains[0].joined is None


def test_commits_leave_out_partitions_no_longer_assigned():
    kafka = ScriptedKafka({P0})
    d, chains = driver(kafka)

    def commit(k: ScriptedKafka) -> dict[TopicPartition, list[Rec]]:
        chains[0].commit({(TOPIC, 0): 3, (TOPIC, 1): 9})
        return {}

    kafka.turns.append(commit)
    d.run()
    assert kafka.commits == [{P0: 3}]
