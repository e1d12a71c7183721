"""The dead-letter step, through its interface, with a scripted dead-letter topic."""

from __future__ import annotations

import pytest

from pipeline.batch import DeadLetter, Source
from pipeline.dlq import DeadLetterUnavailable
from pipeline.steps.base import Backoff, ConsumerStatus, MessageRejected, Written
from pipeline.steps.dead_letters import SendDeadLetters
from tests.unit.pipeline_fakes import Clock, NextStep


class Topic:
    def __init__(self, down: int = 0) -> None:
        self.down = down
        self.sent: list[DeadLetter] = []
        self.attempts = 0
        self.closed = False

    def send(self, letters: list[DeadLetter]) -> None:
        self.attempts += 1
        if self.down:
            self.down -= 1
            raise DeadLetterUnavailable("cannot write to dead_letters: broker away")
        self.sent.extend(letters)

    def close(self) -> None:
        self.closed = True


LETTER = DeadLetter(Source("t.log", 0, 3, 1), "rejected by logs: no", b"{}")


def written(offset: int, letters: list[DeadLetter]) -> Written:
    return Written({("t.log", 0): offset}, 5, letters)


def step_with(topic: Topic, after: NextStep, clock: Clock, status: ConsumerStatus) -> SendDeadLetters:
    return SendDeadLetters(topic, status, after, backoff=Backoff(base_s=1.0, cap_s=1.0), clock=clock)


def test_a_batch_is_handed_on_once_its_dead_letters_are_acknowledged():
    topic, after = Topic(), NextStep()
    step = step_with(topic, after, Clock(), ConsumerStatus("test"))
    step.submit(written(4, [LETTER]))
    step.submit(written(9, []))
    assert topic.sent == [LETTER]
    assert after.items == [written(4, [LETTER]), written(9, [])]


def test_while_the_topic_is_down_the_batch_waits_the_next_is_refused_and_polls_retry_after_the_backoff():
    topic, after, clock, status = Topic(down=2), NextStep(), Clock(), ConsumerStatus("test")
    step = step_with(topic, after, clock, status)
    step.submit(written(4, [LETTER]))
    assert after.items == [] and status.paused and status.unavailable == {"dead-letter topic"}
    with pytest.raises(MessageRejected):
        step.submit(written(9, []))
    clock.now += 1.0  # the full-jitter delay is at most base_s for the first retry
    step.poll()
    clock.now += 2.0
    step.poll()
    assert topic.attempts == 3 and topic.sent == [LETTER]
    assert after.items == [written(4, [LETTER])] and not status.paused and status.retries == 2
    step.submit(written(9, []))
    assert after.items[-1] == written(9, [])


def test_join_gives_up_a_batch_whose_letters_are_never_acknowledged_and_still_joins_the_next_step():
    topic, after = Topic(down=10**9), NextStep()
    step = SendDeadLetters(topic, ConsumerStatus("test"), after, backoff=Backoff(base_s=0.001, cap_s=0.01))
    step.submit(written(4, [LETTER]))
    step.join(0.05)
    assert after.items == [] and topic.closed and after.joined is not None and topic.attempts > 1


def test_join_retries_until_the_topic_is_back():
    topic, after = Topic(down=3), NextStep()
    step = SendDeadLetters(topic, ConsumerStatus("test"), after, backoff=Backoff(base_s=0.001, cap_s=0.01))
    step.submit(written(4, [LETTER]))
    step.join(5.0)
    assert after.items == [written(4, [LETTER])] and topic.closed


def test_terminate_drops_the_waiting_batch_closes_the_producer_and_terminates_the_next_step():
    topic, after = Topic(down=1), NextStep()
    step = step_with(topic, after, Clock(), ConsumerStatus("test"))
    step.submit(written(4, [LETTER]))
    step.terminate()
    assert after.items == [] and topic.closed and after.terminated
