"""The write step, through its interface, with a scripted sink: the writer thread is real, the database is not."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest

from pipeline.batch import Batch
from pipeline.rows import PoisonEvent
from pipeline.sinks import SinkRejected, SinkUnavailable
from pipeline.steps.base import Backoff, ConsumerStatus, MessageRejected, Written
from pipeline.steps.writer import WriteBatches
from tests.unit.pipeline_fakes import NextStep
from warehouse.tables import TABLES, Table

TOPIC = "t.log"
FAST = Backoff(base_s=0.001, cap_s=0.005)


class ScriptedSink:
    """Takes whole records (as ClickHouse does) or events one by one (as PostgreSQL does).

    ``down`` writes fail as unavailable first; a slice holding an event whose message is "bad" is
    refused; ``gate``, when given, holds every write until it is set.
    """

    def __init__(self, *, whole: bool = True, down: int = 0, gate: threading.Event | None = None) -> None:
        self.whole = whole
        self.down = down
        self.gate = gate
        self.writes: list[tuple[str, list[Any], str]] = []
        self.attempts = 0
        self.closed = False

    def record_payload(self, value: bytes) -> Any | None:
        return value if self.whole else None

    def event_payload(self, table: Table, event: Any) -> Any:
        if not isinstance(event, dict):
            raise PoisonEvent("event is not a JSON object")
        return event["message"]

    def write(self, table: Table, payloads: list[Any], dedup_token: str) -> None:
        if self.gate is not None:
            assert self.gate.wait(10)
        self.attempts += 1
        if self.down:
            self.down -= 1
            raise SinkUnavailable("connection refused")
        if "bad" in payloads:
            raise SinkRejected("CHECK constraint")
        self.writes.append((table.name, list(payloads), dedup_token))

    def close(self) -> None:
        self.closed = True


def batch(*records: tuple[int, int, list[Any]]) -> Batch:
    b = Batch(0.0)
    for partition, offset, events in records:
        b.add(TOPIC, partition, offset, orjson.dumps(events), len(events))
    return b


def writer(sink: ScriptedSink, after: NextStep, status: ConsumerStatus | None = None) -> WriteBatches:
    return WriteBatches(sink, {TOPIC: TABLES["log"]}, status or ConsumerStatus("test"), after, backoff=FAST)


def handed_on(step: WriteBatches, after: NextStep, count: int = 1) -> list[Written]:
    for _ in range(1000):
        step.poll()
        if len(after.items) >= count:
            return after.items
        threading.Event().wait(0.01)
    raise AssertionError(f"only {len(after.items)} of {count} batches handed on")


def test_a_batch_is_written_on_the_writer_thread_and_handed_on_with_its_offsets():
    sink, after = ScriptedSink(), NextStep()
    step = writer(sink, after)
    step.submit(batch((0, 10, [{"message": "a"}]), (1, 5, [{"message": "b"}, {"message": "c"}])))
    [written] = handed_on(step, after)
    assert written == Written({(TOPIC, 0): 11, (TOPIC, 1): 6}, 3, [])
    assert [(table, token) for table, _, token in sink.writes] == [("logs", "t.log:0:10-10,1:5-5")]
    step.join(1.0)
    assert sink.closed and after.joined is not None


def test_one_batch_in_flight_the_next_is_refused_until_it_is_written_then_handed_on_in_order():
    gate = threading.Event()
    sink, after = ScriptedSink(gate=gate), NextStep()
    step = writer(sink, after)
    step.submit(batch((0, 0, [{"message": "a"}])))
    with pytest.raises(MessageRejected) as refused:
        step.submit(batch((0, 1, [{"message": "b"}])))
    assert refused.value.busy is not None and not refused.value.busy.done()
    gate.set()
    refused.value.wait(5)
    step.submit(batch((0, 1, [{"message": "b"}])))  # hands the first on, then takes this one
    handed_on(step, after, 2)
    assert [w.offsets for w in after.items] == [{(TOPIC, 0): 1}, {(TOPIC, 0): 2}]
    step.join(1.0)


def test_a_written_batch_the_next_step_refuses_stays_here_and_so_does_the_refusal():
    sink, after = ScriptedSink(), NextStep()
    step = writer(sink, after)
    after.refusing = True
    step.submit(batch((0, 0, [{"message": "a"}])))
    step.poll()
    for _ in range(500):
        try:
            step.submit(batch((0, 1, [{"message": "b"}])))
        except MessageRejected as refused:
            if refused.busy is None:  # the next step's refusal: nothing here to wait for
                break
            refused.wait(0.1)
    else:
        raise AssertionError("the writer should pass on the next step's refusal")
    after.refusing = False
    handed_on(step, after)
    assert [w.offsets for w in after.items] == [{(TOPIC, 0): 1}]
    step.join(1.0)


def test_an_unavailable_sink_is_retried_until_it_is_back_and_the_status_says_so_meanwhile():
    gate = threading.Event()
    sink, after, status = ScriptedSink(down=3, gate=gate), NextStep(), ConsumerStatus("test")
    step = writer(sink, after, status)
    step.submit(batch((0, 0, [{"message": "a"}])))
    gate.set()
    [written] = handed_on(step, after)
    assert written.events == 1 and sink.attempts == 4 and len(sink.writes) == 1
    assert status.retries == 3 and status.last_error == "connection refused"
    assert not status.paused  # back: the last attempt went through
    step.join(1.0)


def test_the_status_is_paused_while_the_sink_is_down():
    sink, after, status = ScriptedSink(down=10**9), NextStep(), ConsumerStatus("test")
    step = writer(sink, after, status)
    step.submit(batch((0, 0, [{"message": "a"}])))
    for _ in range(500):
        if status.paused:
            break
        threading.Event().wait(0.01)
    assert status.paused and status.unavailable == {"sink"}
    step.join(0.05)
    assert after.items == []


def test_a_refused_batch_is_bisected_so_only_the_refused_events_are_dead_lettered():
    sink, after = ScriptedSink(whole=False), NextStep()
    step = writer(sink, after)
    events = [{"message": m} for m in ("a", "b", "bad", "c")]
    step.submit(batch((0, 3, events), (0, 4, [42])))
    [written] = handed_on(step, after)
    assert sorted(p for _, payloads, _ in sink.writes for p in payloads) == ["a", "b", "c"]
    assert written.events == 3 and written.offsets == {(TOPIC, 0): 5}
    reasons = {(d.source.offset, d.source.index): d.reason for d in written.dead_letters}
    assert reasons == {(3, 2): "rejected by logs: CHECK constraint", (4, 0): "event is not a JSON object"}
    assert [orjson.loads(d.original) for d in written.dead_letters if d.source.index == 2] == [events[2]]
    step.join(1.0)


def test_join_gives_up_a_batch_the_sink_keeps_failing_after_one_more_attempt_and_releases_the_sink():
    sink, after = ScriptedSink(down=10**9), NextStep()
    step = writer(sink, after)
    step.submit(batch((0, 0, [{"message": "a"}])))
    step.join(0.1)
    assert after.items == []  # never handed on, so never committed: read again
    assert sink.closed and after.joined is not None and sink.attempts >= 1


def test_join_waits_for_the_batch_in_flight_and_hands_it_on():
    gate = threading.Event()
    sink, after = ScriptedSink(gate=gate), NextStep()
    step = writer(sink, after)
    step.submit(batch((0, 0, [{"message": "a"}])))
    threading.Timer(0.05, gate.set).start()
    step.join(5.0)
    assert [w.offsets for w in after.items] == [{(TOPIC, 0): 1}]
    assert sink.closed


def test_terminate_stops_retrying_closes_the_sink_and_terminates_the_next_step():
    sink, after = ScriptedSink(down=10**9), NextStep()
    step = writer(sink, after)
    step.submit(batch((0, 0, [{"message": "a"}])))
    step.terminate()
    assert after.items == [] and after.terminated and sink.closed
