"""How EventProducer.send_all turns a failure of kafka-python into the collector's answer, with a stand-in
for KafkaProducer (the sends against a real broker are in tests/integration/test_collector_outage.py)."""

from __future__ import annotations

import pytest

from collector.producer import EventProducer, KafkaUnavailable, OutgoingRecord
from lookout.settings import Settings

RECORD = OutgoingRecord("lookout.log", b"svc", b"[]", [])


class ClosingProducer:
    """A KafkaProducer whose network layer was closed by another request's discard, mid-close."""

    def send(self, *_args: object, **_kwargs: object) -> None:
        raise RuntimeError("NetworkSelector closed!")

    def close(self, timeout: float = 0) -> None:
        pass


def test_a_send_on_a_producer_another_request_discarded_is_unavailable_not_an_error():
    events = EventProducer(Settings.from_env({}))
    closing = ClosingProducer()
    events._get = lambda: closing  # type: ignore[method-assign] - it was handed out before the discard
    events._producer = None  # another request's failure discarded it already
    with pytest.raises(KafkaUnavailable, match="NetworkSelector closed"):
        events.send_all([RECORD])  # once a RuntimeError: the collector answered 500


def test_the_same_error_on_the_current_producer_is_a_bug_and_stays_one():
    events = EventProducer(Settings.from_env({}))
    current = ClosingProducer()
    events._get = lambda: current  # type: ignore[method-assign]
    events._producer = current  # type: ignore[assignment]
    with pytest.raises(RuntimeError):
        events.send_all([RECORD])
