"""Every field type of the contract, good and bad values, through validate_event so reasons name the field."""

from __future__ import annotations

import pytest

from lookout.contract import LEVEL_ALIASES, LEVELS, InvalidEvent, validate_event
from tests.unit.contract_samples import MINIMAL

NOW = 1_714_566_896_789


def value_of(kind: str, name: str, value: object) -> object:
    event = {"kind": kind, "timestamp": NOW, "service": "api", **MINIMAL[kind], name: value}
    return validate_event(event, NOW).fields[name]


def reason_for(kind: str, name: str, value: object) -> str:
    event = {"kind": kind, "timestamp": NOW, "service": "api", **MINIMAL[kind], name: value}
    with pytest.raises(InvalidEvent) as info:
        validate_event(event, NOW)
    return info.value.reason


# --- strings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name", "max_len"),
    [
        ("log", "category", 50),
        ("log", "event_type", 50),
        ("log", "user_id", 64),
        ("log", "admin_id", 64),
        ("log", "session_id", 100),
        ("log", "request_id", 64),
        ("log", "correlation_id", 64),
        ("log", "user_agent", 1024),
        ("log", "endpoint", 255),
        ("log", "error_code", 50),
        ("log", "message", 65536),
        ("log", "error_message", 65536),
        ("log", "error_stack", 65536),
        ("api_metric", "endpoint", 255),
        ("api_metric", "error_type", 50),
        ("api_metric", "user_id", 64),
        ("system_metric", "metric_type", 50),
        ("system_metric", "metric_name", 100),
        ("system_metric", "unit", 20),
        ("blockchain_event", "contract_address", 42),
        ("blockchain_event", "transaction_hash", 66),
        ("blockchain_event", "block_hash", 66),
        ("blockchain_event", "event_signature", 66),
        ("blockchain_event", "raw_data", 65536),
        ("blockchain_event", "last_processing_error", 65536),
        ("admin_audit", "action", 100),
        ("admin_audit", "resource_type", 50),
        ("admin_audit", "resource_id", 255),
        ("admin_audit", "justification", 65536),
        ("admin_audit", "approved_by", 64),
        ("security_event", "automatic_action_taken", 100),
        ("security_event", "investigation_notes", 65536),
        ("security_event", "investigated_by", 64),
    ],
)
def test_string_length_bounds(kind: str, name: str, max_len: int) -> None:
    assert value_of(kind, name, "a" * max_len) == "a" * max_len
    # Length counts characters, not UTF-8 bytes (as VARCHAR(n) does).
    assert value_of(kind, name, "\u00e9" * max_len) == "\u00e9" * max_len
    assert reason_for(kind, name, "a" * (max_len + 1)).startswith(f"{name}: must be ")
    assert str(max_len) in reason_for(kind, name, "a" * (max_len + 1))


@pytest.mark.parametrize("value", [123, 1.5, True, ["a"], {"a": 1}])
def test_strings_are_not_coerced(value: object) -> None:
    assert reason_for("log", "user_id", value) == "user_id: must be a string"


def test_optional_string_null_and_empty() -> None:
    assert value_of("log", "user_id", None) == ""
    assert value_of("log", "user_id", "") == ""


def test_nul_characters_are_rejected_everywhere() -> None:
    assert reason_for("log", "message", "a\x00b") == "message: must not contain NUL characters"
    assert reason_for("security_event", "investigation_notes", "\x00") == (
        "investigation_notes: must not contain NUL characters"
    )


# --- enums -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("error", "error"),
        ("ERROR", "error"),
        ("Warn", "warn"),
        ("WARN", "warn"),
        ("warning", "warn"),
        ("WARNING", "warn"),
        ("info", "info"),
        ("INFO", "info"),
        ("debug", "debug"),
        ("trace", "trace"),
        ("fatal", "error"),
        ("FATAL", "error"),
        ("critical", "error"),
        ("crit", "error"),
        ("err", "error"),
        ("emerg", "error"),
        ("alert", "error"),
        ("panic", "error"),
        ("severe", "error"),
        ("notice", "info"),
        ("informational", "info"),
        ("http", "info"),
        ("verbose", "debug"),
        ("silly", "trace"),
    ],
)
def test_level_aliases(given: str, expected: str) -> None:
    assert value_of("log", "level", given) == expected


def test_every_level_alias_maps_to_a_level() -> None:
    assert set(LEVEL_ALIASES.values()) <= set(LEVELS)
    assert all(alias == alias.lower() for alias in LEVEL_ALIASES)


@pytest.mark.parametrize("value", ["loud", "", " info", "inf", 3, None, True])
def test_level_rejected(value: object) -> None:
    expected = "level: required, got null" if value is None else "level: must be one of error, warn, info, debug, trace"
    assert reason_for("log", "level", value).startswith(expected)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
def test_http_methods(method: str) -> None:
    assert value_of("api_metric", "method", method) == method
    assert value_of("api_metric", "method", method.lower()) == method
    assert value_of("log", "method", method.title()) == method


def test_http_method_rejected_or_empty() -> None:
    assert value_of("log", "method", "") == ""
    assert value_of("log", "method", None) == ""
    assert reason_for("log", "method", "CONNECT").startswith(
        'method: must be one of GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD or ""'
    )
    # Required on api_metric, so "" is not a choice there.
    assert reason_for("api_metric", "method", "") == (
        "method: must be one of GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD (got '')"
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [("low", "low"), ("MEDIUM", "medium"), ("High", "high"), ("critical", "critical"), ("moderate", "medium")],
)
def test_severity(given: str, expected: str) -> None:
    assert value_of("security_event", "severity", given) == expected


@pytest.mark.parametrize("value", ["", "urgent", 5])
def test_severity_rejected(value: object) -> None:
    assert reason_for("security_event", "severity", value).startswith(
        "severity: must be one of low, medium, high, critical"
    )


# --- integers ----------------------------------------------------------------------------------------


def test_status_code_bounds() -> None:
    assert value_of("log", "status_code", 100) == 100
    assert value_of("log", "status_code", 599) == 599
    assert value_of("log", "status_code", None) is None
    for value in (99, 600, -1, "200", True, 200.5, [200]):
        assert reason_for("log", "status_code", value) == "status_code: must be an integer between 100 and 599"


def test_integral_floats_count_as_integers() -> None:
    value = value_of("api_metric", "status_code", 200.0)
    assert value == 200 and type(value) is int
    assert value_of("log", "request_size_bytes", 1e3) == 1000


@pytest.mark.parametrize(
    ("kind", "name", "maximum"),
    [
        ("log", "request_size_bytes", 2**63 - 1),
        ("log", "response_size_bytes", 2**63 - 1),
        ("api_metric", "request_size_bytes", 2**63 - 1),
        ("api_metric", "concurrent_requests", 2**32 - 1),
        ("blockchain_event", "block_number", 2**63 - 1),
        ("blockchain_event", "log_index", 2**32 - 1),
        ("blockchain_event", "processing_attempts", 2**32 - 1),
    ],
)
def test_non_negative_integers(kind: str, name: str, maximum: int) -> None:
    assert value_of(kind, name, 0) == 0
    assert value_of(kind, name, maximum) == maximum
    for value in (-1, maximum + 1, 1e30, False, "1", 0.5):
        assert reason_for(kind, name, value).startswith(f"{name}: must be an integer ")
    assert reason_for(kind, name, -1) in (
        f"{name}: must be an integer >= 0",
        f"{name}: must be an integer between 0 and {maximum}",
    )


def test_integer_defaults() -> None:
    assert value_of("blockchain_event", "processing_attempts", None) == 0
    assert value_of("blockchain_event", "block_number", None) is None


# --- floats ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("log", "response_time_ms"),
        ("api_metric", "response_time_ms"),
        ("api_metric", "database_query_time_ms"),
        ("api_metric", "external_api_time_ms"),
        ("api_metric", "memory_usage_mb"),
    ],
)
def test_non_negative_numbers(kind: str, name: str) -> None:
    assert value_of(kind, name, 0) == 0.0
    value = value_of(kind, name, 12)
    assert value == 12.0 and type(value) is float
    assert value_of(kind, name, 1e12) == 1e12
    for bad in (-0.001, "1.5", True, float("nan"), float("inf"), [1.0]):
        assert reason_for(kind, name, bad) == f"{name}: must be a finite number >= 0"


def test_cpu_usage_percent_bounds() -> None:
    assert value_of("api_metric", "cpu_usage_percent", 10_000) == 10_000.0
    assert value_of("api_metric", "cpu_usage_percent", 0.0) == 0.0
    assert reason_for("api_metric", "cpu_usage_percent", 10_000.01) == (
        "cpu_usage_percent: must be a finite number between 0 and 10000"
    )


def test_unbounded_numbers_still_must_be_finite() -> None:
    assert value_of("system_metric", "value", -273.15) == -273.15
    assert value_of("system_metric", "threshold_warning", None) is None
    assert value_of("system_metric", "threshold_critical", -1) == -1.0
    for bad in (float("nan"), float("-inf"), 10**400, "0.5", False):
        assert reason_for("system_metric", "value", bad) == "value: must be a finite number"


# --- booleans ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("api_metric", "cache_hit"),
        ("blockchain_event", "processed"),
        ("admin_audit", "approval_required"),
        ("security_event", "investigated"),
        ("security_event", "false_positive"),
    ],
)
def test_booleans(kind: str, name: str) -> None:
    assert value_of(kind, name, True) is True
    assert value_of(kind, name, False) is False
    assert value_of(kind, name, None) is False
    for bad in (1, 0, "true", "false", [True]):
        assert reason_for(kind, name, bad) == f"{name}: must be true or false"


# --- JSON ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("log", "request_data"),
        ("log", "response_data"),
        ("blockchain_event", "decoded_data"),
        ("admin_audit", "old_values"),
        ("admin_audit", "new_values"),
        ("security_event", "threat_indicators"),
    ],
)
def test_json_values(kind: str, name: str) -> None:
    assert value_of(kind, name, {"a": [1, {"b": None}]}) == {"a": [1, {"b": None}]}
    assert value_of(kind, name, ["x"]) == ["x"]
    assert value_of(kind, name, None) is None
    assert reason_for(kind, name, "text") == f"{name}: must be a JSON object or array"
    assert reason_for(kind, name, {"a": "\x00"}) == f"{name}: must not contain NUL characters"


# --- IP addresses ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("255.255.255.255", "255.255.255.255"),
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::1", "::1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("::FFFF:CB00:7109", "203.0.113.9"),
        ("", ""),
        (None, ""),
    ],
)
def test_ip_addresses(given: object, expected: str) -> None:
    for kind in ("log", "admin_audit", "security_event"):
        assert value_of(kind, "ip_address", given) == expected


@pytest.mark.parametrize(
    "value",
    [
        "01.2.3.4",
        "256.0.0.1",
        "1.2.3",
        "10.0.0.1 ",
        "localhost",
        "10.0.0.0/8",
        "fe80::1%eth0",
        "::g",
        "1.2.3.4\x00",
        167772161,
        True,
        ["10.0.0.1"],
    ],
)
def test_ip_addresses_rejected(value: object) -> None:
    assert reason_for("log", "ip_address", value).startswith("ip_address: must be an IPv4 or IPv6 address")
