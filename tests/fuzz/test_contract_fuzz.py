"""The event validator: any decoded JSON value is a valid Event or an InvalidEvent naming its field.

An accepted event must also survive what happens to it next: the Kafka wire form encodes and decodes to
the same event, and every integer fits the 64-bit columns the warehouse stores it in.
"""

from __future__ import annotations

import time

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from lookout.contract import KINDS, SCHEMAS, Event, InvalidEvent, validate_event
from tests.fuzz.strategies import SCALARS, json_values
from tests.unit.contract_samples import MINIMAL

NOW_MS = int(time.time() * 1000)
TIMESTAMPS = st.one_of(
    st.integers(NOW_MS - 400 * 86_400_000, NOW_MS + 2 * 86_400_000),
    st.sampled_from(["2026-11-26T10:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "now"]),
    SCALARS,
)


@st.composite
def near_valid_events(draw: st.DrawFn) -> dict[str, object]:
    """A valid event of some kind with a few of its fields (or unknown ones) replaced by anything."""
    kind = draw(st.sampled_from(KINDS))
    event: dict[str, object] = {"kind": kind, "timestamp": NOW_MS, "service": "payments", **MINIMAL[kind]}
    names = [spec.name for spec in SCHEMAS[kind]] + ["kind", "timestamp", "service", "event_id", "instance", "x"]
    for name in draw(st.lists(st.sampled_from(names), max_size=4)):
        event[name] = draw(TIMESTAMPS if name == "timestamp" else json_values(max_leaves=6))
    return event


def _int_within_64_bits(value: object) -> bool:
    if type(value) is int:
        return -(2**63) <= value < 2**64
    if type(value) is list:
        return all(_int_within_64_bits(item) for item in value)
    if type(value) is dict:
        return all(_int_within_64_bits(item) for item in value.values())
    return True


def check(raw: object) -> None:
    try:
        event = validate_event(raw, NOW_MS)
    except InvalidEvent as exc:
        assert isinstance(exc.reason, str) and exc.reason
        return
    wire = event.to_json_dict()
    assert Event.from_json_dict(orjson.loads(orjson.dumps(wire))) == event
    assert _int_within_64_bits(wire)


@given(near_valid_events())
@example({"kind": "log", "timestamp": "0001-01-01T00:00:00+01:00", "service": "s", "level": "info", "message": "m"})
@example({"kind": "api_metric", "timestamp": NOW_MS, "service": "s", "endpoint": "/", "method": "GET",
          "status_code": 2**64, "response_time_ms": 1.0})
@example({"kind": "log", "timestamp": NOW_MS, "service": "s", "level": "info", "message": "m", "x": 10**400})
def test_near_valid_events_are_accepted_or_refused_by_field(raw: dict[str, object]) -> None:
    check(raw)


@given(json_values())
def test_any_json_value_is_accepted_or_refused(raw: object) -> None:
    check(raw)
