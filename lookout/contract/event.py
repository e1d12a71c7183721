"""Validation of incoming events and the record the rest of Lookout passes around.

``validate_event`` is called once per event on the collector's hot path, so each kind's schema is
compiled at import into a lookup table of checkers and the per-event work is one pass over the fields the
client actually sent plus a C-level copy of the defaults.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from lookout.contract.fields import (
    DAY_MS,
    Checker,
    FieldError,
    FieldSpec,
    FieldType,
    check_json_object,
    check_uuid,
    compile_checker,
    parse_timestamp,
    show,
)
from lookout.contract.schema import ENVELOPE, KINDS, SCHEMAS

MAX_FUTURE_MS = DAY_MS
MAX_AGE_MS = 365 * DAY_MS

_ENVELOPE_SPECS = {spec.name: spec for spec in ENVELOPE}
_check_service = compile_checker(_ENVELOPE_SPECS["service"])
_check_instance = compile_checker(_ENVELOPE_SPECS["instance"])
# Keys that are not kind columns and must not be swept into metadata as unknown extras.
_RESERVED = frozenset(_ENVELOPE_SPECS) | {"metadata"}
_WIRE_ENVELOPE = frozenset({"kind", "event_id", "ts", "service", "instance"})


class InvalidEvent(ValueError):
    """The event breaks the contract; ``reason`` names the field and the rule, for the 202 error list."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Plan:
    checks: Mapping[str, Checker]  # every column except metadata, which merges extras and is handled apart
    required: tuple[str, ...]
    defaults: Mapping[str, object]  # every column except metadata (its default must be a fresh dict)
    wire_defaults: Mapping[str, object]  # every column: values equal to these are left off the wire


def _compile(specs: tuple[FieldSpec, ...]) -> _Plan:
    columns = [spec for spec in specs if spec.name != "metadata"]
    defaults = {spec.name: spec.default for spec in columns}
    return _Plan(
        checks={spec.name: compile_checker(spec) for spec in columns},
        required=tuple(spec.name for spec in columns if spec.required),
        defaults=defaults,
        wire_defaults={**defaults, "metadata": {}},
    )


_PLANS: dict[str, _Plan] = {kind: _compile(specs) for kind, specs in SCHEMAS.items()}
assert all(any(s.name == "metadata" and s.type is FieldType.JSON for s in specs) for specs in SCHEMAS.values())


# Random bytes for event ids, drawn from the kernel a block at a time. One os.urandom per id released the GIL
# for its syscall, and in the syslog listener (a thread per connection) every release handed the GIL to
# another busy thread: a third of its CPU samples sat in new_event_id. Each 16-byte id is handed out once by
# the iterator's next(), atomic under the GIL, so threads never share one.
_IDS_PER_DRAW = 256
_random_ids: Iterator[bytes] = iter(())


def _forget_random_ids() -> None:
    # A forked child holds a copy of its parent's unused bytes; both would hand out the same ids.
    global _random_ids
    _random_ids = iter(())


os.register_at_fork(after_in_child=_forget_random_ids)


def new_event_id() -> str:
    """A random (version 4) UUID string."""
    global _random_ids
    raw = next(_random_ids, None)
    if raw is None:
        block = os.urandom(16 * _IDS_PER_DRAW)
        _random_ids = iter([block[start:start + 16] for start in range(0, len(block), 16)])
        raw = next(_random_ids)
    # Same bits as str(uuid.uuid4()) at under half the cost: uuid.UUID's constructor is pure Python.
    bits = bytearray(raw)
    bits[6] = bits[6] & 0x0F | 0x40
    bits[8] = bits[8] & 0x3F | 0x80
    h = bits.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# Slots make attribute access and construction cheaper and the record smaller than a plain dataclass; it
# is not frozen because a frozen dataclass's __init__ goes through object.__setattr__ and costs twice as
# much, and a dict subclass would lose the typed attributes the pipeline and sinks rely on.
@dataclass(slots=True)
class Event:
    """A validated event. ``fields`` holds every column of the kind, normalized, defaults filled in."""

    kind: str
    event_id: str
    timestamp_ms: int
    service: str
    instance: str
    fields: dict[str, object]

    def to_json_dict(self) -> dict[str, object]:
        """The Kafka wire form: the envelope under short keys, then the columns that differ from their
        default (absent ones are restored by :meth:`from_json_dict`, which keeps messages small)."""
        out: dict[str, object] = {
            "kind": self.kind,
            "event_id": self.event_id,
            "ts": self.timestamp_ms,
            "service": self.service,
            "instance": self.instance,
        }
        defaults = _PLANS[self.kind].wire_defaults
        for name, value in self.fields.items():
            # `is not` first: most optional columns still hold the very default object, skipping __ne__.
            if value is not defaults[name] and value != defaults[name]:
                out[name] = value
        return out

    @classmethod
    def from_json_dict(cls, data: Mapping[str, object]) -> Event:
        """Rebuild an event from its wire form.

        The producer validated it, so values are trusted and only the structure is checked; a key that is
        not a column of this version (a newer collector's) is kept in metadata rather than lost.
        """
        try:
            kind = data["kind"]
            plan = _PLANS[kind]  # type: ignore[index]
            event_id, ts, service, instance = data["event_id"], data["ts"], data["service"], data["instance"]
        except (KeyError, TypeError) as exc:
            raise InvalidEvent(f"not a Lookout wire event: bad or missing {exc}") from None
        if type(event_id) is not str or type(ts) is not int or type(service) is not str or type(instance) is not str:
            raise InvalidEvent("not a Lookout wire event: envelope has wrong types")
        fields = dict(plan.defaults)
        metadata = data.get("metadata")
        fields["metadata"] = metadata if type(metadata) is dict else {}
        unknown: dict[str, object] | None = None
        for name, value in data.items():
            if name in plan.checks:
                fields[name] = value
            elif name not in _WIRE_ENVELOPE and name != "metadata":
                if unknown is None:
                    unknown = {}
                unknown[name] = value
        if unknown:
            fields["metadata"] = {**fields["metadata"], **unknown}  # type: ignore[dict-item]
        return cls(kind, event_id, ts, service, instance, fields)  # type: ignore[arg-type]


def _kind_error(kind: object) -> str:
    if kind is None:
        return "kind: required"
    return f"unknown kind {show(kind)}; expected one of {', '.join(KINDS)}"


def _timestamp(value: object, now_ms: int) -> int:
    if value is None:
        raise InvalidEvent("timestamp: required")
    try:
        ms = parse_timestamp(value)
    except FieldError as exc:
        raise InvalidEvent(f"timestamp: {exc}") from None
    numeric = type(value) is not str
    if ms > now_ms + MAX_FUTURE_MS:
        hint = " (epoch microseconds or nanoseconds? send milliseconds)" if numeric and ms > 10**14 else ""
        raise InvalidEvent(f"timestamp: more than 1 day in the future{hint}")
    if ms < now_ms - MAX_AGE_MS:
        hint = " (epoch seconds? send milliseconds)" if numeric and ms < 10**11 else ""
        raise InvalidEvent(f"timestamp: older than 365 days{hint}")
    return ms


def _metadata(given: object, extras: dict[str, object] | None) -> dict:
    try:
        metadata = {} if given is None else check_json_object(given)
    except FieldError as exc:
        raise InvalidEvent(f"metadata: {exc}") from None
    if not extras:
        return metadata
    for name, value in extras.items():
        if name in metadata:
            # Keeping either value would silently drop the other, so the client has to decide.
            raise InvalidEvent(f"{name}: given both as a top-level field and inside metadata")
        try:
            # Depth 1 for the wrapper: an extra value then sits at depth 2, exactly where it ends up.
            check_json_object({name: value})
        except FieldError as exc:
            raise InvalidEvent(f"{name}: {exc}") from None
    # A new dict: the caller's metadata object is not modified.
    return {**metadata, **extras}


def validate_event(raw: object, now_ms: int) -> Event:
    """Validate and normalize one decoded JSON event; raise :class:`InvalidEvent` naming the field.

    ``now_ms`` is the receive time (epoch ms) the timestamp window is measured against: at most 1 day
    ahead (clock skew) and at most 365 days back.
    """
    if type(raw) is not dict:
        raise InvalidEvent(f"event must be a JSON object, not {type(raw).__name__}")
    kind = raw.get("kind")
    plan = _PLANS.get(kind) if type(kind) is str else None  # type: ignore[arg-type]
    if plan is None:
        if type(kind) is str and kind.lower() in _PLANS:  # type: ignore[union-attr]
            kind = kind.lower()  # type: ignore[union-attr]
            plan = _PLANS[kind]
        else:
            raise InvalidEvent(_kind_error(kind))

    timestamp_ms = _timestamp(raw.get("timestamp"), now_ms)
    name = "service"
    try:
        service = raw.get("service")
        if service is None:
            raise InvalidEvent("service: required")
        service = _check_service(service)
        name = "event_id"
        event_id = raw.get("event_id")
        event_id = new_event_id() if event_id is None else check_uuid(event_id)
        name = "instance"
        instance = raw.get("instance")
        instance = "" if instance is None else _check_instance(instance)
    except FieldError as exc:
        raise InvalidEvent(f"{name}: {exc}") from None

    for name in plan.required:
        if raw.get(name) is None:
            raise InvalidEvent(f"{name}: required" if name not in raw else f"{name}: required, got null")

    fields = dict(plan.defaults)
    checks = plan.checks
    extras: dict[str, object] | None = None
    try:
        for name, value in raw.items():
            check = checks.get(name)
            if check is not None:
                # null means "not given" for optional columns; required ones were rejected above.
                if value is not None:
                    fields[name] = check(value)
            elif name not in _RESERVED:
                if extras is None:
                    extras = {}
                extras[name] = value
    except FieldError as exc:
        raise InvalidEvent(f"{name}: {exc}") from None
    fields["metadata"] = _metadata(raw.get("metadata"), extras)
    return Event(kind, event_id, timestamp_ms, service, instance, fields)  # type: ignore[arg-type]
