"""The event contract: the kinds of events app servers send, their fields, and the rules that hold them.

This is public API twice over: app servers depend on what it accepts, and the warehouse derives its
tables from the same declarations (``SCHEMAS``, ``columns_for``), so a column exists exactly when the
collector can fill it.
"""

from lookout.contract.event import (
    MAX_AGE_MS,
    MAX_FUTURE_MS,
    Event,
    InvalidEvent,
    new_event_id,
    validate_event,
)
from lookout.contract.fields import (
    MAX_JSON_DEPTH,
    TIMESTAMP_MAX_MS,
    TIMESTAMP_MIN_MS,
    FieldSpec,
    FieldType,
)
from lookout.contract.schema import (
    ENVELOPE,
    HTTP_METHODS,
    KINDS,
    LEVEL_ALIASES,
    LEVELS,
    SCHEMAS,
    SERVICE_PATTERN,
    SEVERITIES,
    SEVERITY_ALIASES,
    TEXT_MAX,
    columns_for,
    field_spec,
    schema_for,
)

__all__ = [
    "ENVELOPE",
    "HTTP_METHODS",
    "KINDS",
    "LEVELS",
    "LEVEL_ALIASES",
    "MAX_AGE_MS",
    "MAX_FUTURE_MS",
    "MAX_JSON_DEPTH",
    "SCHEMAS",
    "SERVICE_PATTERN",
    "SEVERITIES",
    "SEVERITY_ALIASES",
    "TEXT_MAX",
    "TIMESTAMP_MAX_MS",
    "TIMESTAMP_MIN_MS",
    "Event",
    "FieldSpec",
    "FieldType",
    "InvalidEvent",
    "columns_for",
    "field_spec",
    "new_event_id",
    "schema_for",
    "validate_event",
]
