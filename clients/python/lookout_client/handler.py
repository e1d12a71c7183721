"""LookoutHandler: records of the standard logging module, shipped as Lookout ``log`` events."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from ._client import Client
from ._guard import INTERNAL_LOGGER, in_internal_code, internal

# The contract's log columns an app may set with ``extra=``. They become the event's own fields, which the
# dashboards filter on; anything else given in ``extra=`` goes into metadata. The contract stores the first
# group as text, and apps often hold ids as ints or UUIDs, so those are converted rather than rejected.
_TEXT_FIELDS = frozenset({
    "category", "event_type", "user_id", "admin_id", "session_id", "request_id", "correlation_id",
    "ip_address", "user_agent", "endpoint", "method", "error_code",
})  # fmt: skip
_VALUE_FIELDS = frozenset({
    "status_code", "response_time_ms", "request_size_bytes", "response_size_bytes", "request_data", "response_data",
})  # fmt: skip
# What every LogRecord carries (plus what formatters add); any other attribute came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# The contract's limit on message, error_message and error_stack, in characters: longer and the whole
# event would be rejected.
_TEXT_MAX = 64 * 1024


class LookoutHandler(logging.Handler):
    """Ships every record it handles as a ``log`` event through ``client``.

    Levels map onto the contract's five (CRITICAL and ERROR -> error,
    WARNING -> warn, INFO, DEBUG, anything lower -> trace); exception info
    becomes error_message and error_stack; logger, module, function, line and
    thread go into metadata, as does any ``extra=`` attribute that is not one
    of the contract's log fields (request_id, correlation_id, user_id,
    session_id, endpoint, method, status_code, ...), which are lifted into the
    event itself. Records of the client itself are never shipped.
    """

    def __init__(self, client: Client, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._client = client

    def emit(self, record: logging.LogRecord) -> None:
        # The client's own records, and whatever is logged while it works (on its thread, or by code it calls
        # from here), would come straight back into it.
        if in_internal_code() or record.name == INTERNAL_LOGGER or record.name.startswith(INTERNAL_LOGGER + "."):
            return
        try:
            with internal():
                self._client.send(_to_event(record))
        except Exception:
            self.handleError(record)


def _to_event(record: logging.LogRecord) -> dict[str, Any]:
    event: dict[str, Any] = {
        "kind": "log",
        "timestamp": int(record.created * 1000),
        "level": _level(record.levelno),
        "message": _head(record.getMessage()),
    }
    metadata: dict[str, Any] = {
        "logger": record.name,
        "module": record.module,
        "function": record.funcName,
        "line": record.lineno,
        "thread": record.threadName,
    }
    for name, value in vars(record).items():
        if name in _RECORD_ATTRIBUTES or value is None:
            continue
        if name in _TEXT_FIELDS:
            event[name] = str(value)
        elif name in _VALUE_FIELDS:
            event[name] = value
        else:
            metadata[name] = value
    if record.exc_info and record.exc_info[1] is not None:
        kind, error, trace = record.exc_info
        event["error_message"] = _head("".join(traceback.format_exception_only(kind, error)).strip())
        event["error_stack"] = _tail("".join(traceback.format_exception(kind, error, trace)).rstrip())
    if record.stack_info:
        metadata["stack_info"] = _tail(record.stack_info)
    event["metadata"] = metadata
    return event


def _level(levelno: int) -> str:
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    if levelno >= logging.DEBUG:
        return "debug"
    return "trace"


def _head(text: str) -> str:
    return text if len(text) <= _TEXT_MAX else text[: _TEXT_MAX - 1] + "\u2026"


def _tail(text: str) -> str:
    # The end of a traceback names the failing line and the exception, so that is the part to keep.
    return text if len(text) <= _TEXT_MAX else "\u2026" + text[-(_TEXT_MAX - 1) :]
