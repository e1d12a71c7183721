"""The field mapping shared by the foreign routes: table-tested, then checked against the contract's validation."""

from __future__ import annotations

import pytest

from collector.field_mapping import map_document, normalize_level, normalize_timestamp
from lookout.contract import InvalidEvent, validate_event

NOW_MS = 1_764_583_200_000  # 2025-12-01T10:00:00Z


def mapped(doc: dict, **kwargs: object) -> dict:
    return map_document(doc, default_kind=str(kwargs.pop("default_kind", "log")), received_ms=NOW_MS, **kwargs)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-12-01T10:00:00Z", "2025-12-01T10:00:00Z"),
        ("2025-12-01T10:00:00.123+02:00", "2025-12-01T10:00:00.123+02:00"),
        ("2025-12-01T10:00:00.123456", "2025-12-01T10:00:00.123456Z"),  # naive: UTC, as Elasticsearch reads it
        (1_764_583_200, NOW_MS),  # epoch seconds
        (1_764_583_200.25, NOW_MS + 250),  # Fluent Bit's float seconds
        (NOW_MS, NOW_MS),  # milliseconds
        (NOW_MS * 1000 + 999, NOW_MS),  # microseconds
        (NOW_MS * 1_000_000 + 999_999, NOW_MS),  # nanoseconds (Loki, OTLP)
        (str(NOW_MS * 1_000_000), NOW_MS),  # nanoseconds as a string (Loki's JSON)
        ("1764583200.5", NOW_MS + 500),
        ("yesterday", "yesterday"),  # left for validation to refuse
    ],
)
def test_timestamps(value: object, expected: object) -> None:
    assert normalize_timestamp(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10, "trace"),
        (20, "debug"),
        (30, "info"),
        (40, "warn"),
        (50, "error"),
        (60, "error"),
        ("30", "info"),
        ("WARNING", "WARNING"),
        (35, 35),
        ("\u00b2", "\u00b2"),  # a digit int() does not read ("2" superscript) is a name, left for validation
    ],
)
def test_levels(value: object, expected: object) -> None:
    assert normalize_level(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        # Winston's JSON, with no timestamp and no kind
        (
            {"level": "info", "message": "hi", "service": "api"},
            {"kind": "log", "level": "info", "message": "hi", "service": "api", "timestamp": NOW_MS, "metadata": {}},
        ),
        # pino: numeric level, msg, time in ms, hostname, pid and req.id
        (
            {"level": 50, "time": NOW_MS, "pid": 7, "hostname": "web-1", "msg": "boom", "req": {"id": 9, "url": "/x"}},
            {
                "kind": "log",
                "level": "error",
                "message": "boom",
                "timestamp": NOW_MS,
                "instance": "web-1",
                "request_id": "9",
                "metadata": {"pid": 7, "req": {"url": "/x"}},
            },
        ),
        # Python logging's field names
        (
            {"levelname": "WARNING", "msg": "slow", "logger": "app.db", "ts": 1_764_583_200},
            {
                "kind": "log",
                "level": "WARNING",
                "message": "slow",
                "service": "app.db",
                "timestamp": NOW_MS,
                "metadata": {},
            },
        ),
        # ECS, nested as Filebeat writes it
        (
            {
                "@timestamp": "2025-12-01T10:00:00Z",
                "message": "m",
                "log": {"level": "warn", "logger": "x"},
                "host": {"name": "h1", "ip": ["10.0.0.1"]},
                "service": {"name": "shop"},
                "trace_id": "abc",
            },
            {
                "kind": "log",
                "level": "warn",
                "message": "m",
                "timestamp": "2025-12-01T10:00:00Z",
                "instance": "h1",
                "service": "shop",
                "correlation_id": "abc",
                "metadata": {"log": {"logger": "x"}, "host": {"ip": ["10.0.0.1"]}},
            },
        ),
        # ECS flattened with dots, and GELF's short_message
        (
            {"log.level": "error", "short_message": "s", "host.name": "h2", "service.name": "svc"},
            {
                "kind": "log",
                "level": "error",
                "message": "s",
                "instance": "h2",
                "service": "svc",
                "timestamp": NOW_MS,
                "metadata": {},
            },
        ),
        # Fluent Bit: the docker "log" key, a float date; columns of the kind pass through
        (
            {"log": "line", "date": 1_764_583_200.5, "status_code": 502, "appname": "my app!"},
            {
                "kind": "log",
                "level": "info",
                "message": "line",
                "timestamp": NOW_MS + 500,
                "status_code": 502,
                "service": "my_app_",
                "metadata": {},
            },
        ),
        # the first alias wins; the others stay in metadata; a document's metadata object is the base
        (
            {"message": "a", "msg": "b", "service": "s", "metadata": {"k": 1}, "extra": True},
            {
                "kind": "log",
                "level": "info",
                "message": "a",
                "service": "s",
                "timestamp": NOW_MS,
                "metadata": {"k": 1, "msg": "b", "extra": True},
            },
        ),
        # syslog-ng's $(format-json --scope rfc5424 --key ISODATE): upper-case names, a BSD DATE beside ISODATE
        (
            {
                "PROGRAM": "cron",
                "PRIORITY": "err",
                "PID": "42",
                "MESSAGE": "job failed",
                "HOST": "box",
                "FACILITY": "cron",
                "ISODATE": "2025-12-01T10:00:00+00:00",
                "DATE": "Dec  1 10:00:00",
            },
            {
                "kind": "log",
                "level": "err",
                "message": "job failed",
                "service": "cron",
                "instance": "box",
                "timestamp": "2025-12-01T10:00:00+00:00",
                "metadata": {"PID": "42", "FACILITY": "cron", "DATE": "Dec  1 10:00:00"},
            },
        ),
        # rsyslog's StdJSONFmt template (omhttp's default body): the time it was reported, HOSTNAME as fromhost
        (
            {
                "message": " job failed",
                "fromhost": "box",
                "facility": "cron",
                "priority": "err",
                "timereported": "2025-12-01T10:00:00+00:00",
                "timegenerated": "2025-12-01T10:00:00.123456+00:00",
            },
            {
                "kind": "log",
                "level": "err",
                "message": " job failed",
                "instance": "box",
                "timestamp": "2025-12-01T10:00:00+00:00",
                "metadata": {"facility": "cron", "timegenerated": "2025-12-01T10:00:00.123456+00:00"},
            },
        ),
        # an empty value names nothing: the next alias is used and the empty one stays in metadata
        (
            {"service": "", "app": "a", "message": "m"},
            {
                "kind": "log",
                "level": "info",
                "message": "m",
                "service": "a",
                "timestamp": NOW_MS,
                "metadata": {"service": ""},
            },
        ),
        # a metadata that is not an object is kept, under its name
        (
            {"message": "a", "service": "s", "metadata": "text"},
            {
                "kind": "log",
                "level": "info",
                "message": "a",
                "service": "s",
                "timestamp": NOW_MS,
                "metadata": {"metadata": "text"},
            },
        ),
    ],
)
def test_documents(doc: dict, expected: dict) -> None:
    assert mapped(doc) == expected


def test_input_is_not_modified() -> None:
    doc = {"message": "m", "host": {"name": "h", "ip": "1"}}
    mapped(doc)
    assert doc == {"message": "m", "host": {"name": "h", "ip": "1"}}


def test_kind_comes_from_the_document_else_the_key_default() -> None:
    doc = {"endpoint": "/pay", "method": "POST", "status_code": 200, "response_time_ms": 3.5, "service": "api"}
    event = mapped(doc, default_kind="api_metric")
    assert event["kind"] == "api_metric"
    assert validate_event(event, NOW_MS).fields["endpoint"] == "/pay"
    assert mapped({"kind": "security_event", "service": "a"}, default_kind="api_metric")["kind"] == "security_event"
    pod = mapped({"kind": "Pod", "message": "m"})
    assert pod["kind"] == "log" and pod["metadata"] == {"kind": "Pod"}


def test_route_fallback_service_applies_only_when_the_document_has_none() -> None:
    assert mapped({"message": "m"}, fallback_service="logs-app")["service"] == "logs-app"
    assert mapped({"message": "m", "app": "mine"}, fallback_service="logs-app")["service"] == "mine"


def test_mapped_events_validate() -> None:
    event = validate_event(mapped({"level": 40, "time": NOW_MS, "msg": "x", "name": "svc", "service": "s"}), NOW_MS)
    assert (event.fields["level"], event.fields["message"], event.fields["metadata"]) == ("warn", "x", {"name": "svc"})
    assert event.timestamp_ms == NOW_MS


@pytest.mark.parametrize(
    ("doc", "error"),
    [({"message": "no service"}, "service: required"), ({"service": "s", "text": "no message"}, "message: required")],
)
def test_a_still_missing_required_field_is_named(doc: dict, error: str) -> None:
    with pytest.raises(InvalidEvent, match=error):
        validate_event(mapped(doc), NOW_MS)
