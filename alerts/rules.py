"""Alert rules and channels as data, and their validation. Pure: no I/O.

A rule is written once (YAML file, API, web page) as a plain mapping and
becomes a frozen :class:`Rule` through :func:`parse_rule`, which collects every
problem it finds and names the file, the rule and the field of each, so a
rules file is fixed in one pass.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("info", "warning", "critical")
COMPARATORS = (">", ">=", "<", "<=", "==", "!=")
POLICIES = ("ok", "alerting", "keep_last")
CHANNEL_TYPES = ("webhook", "slack", "email", "pagerduty")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
LOG_LEVELS = ("debug", "info", "warn", "warning", "error", "fatal", "critical")
SECURITY_SEVERITIES = ("low", "medium", "high", "critical")
EVENT_KINDS = ("log", "api_metric", "system_metric")


@dataclass(frozen=True)
class QueryType:
    """What a query type accepts: its parameters (name -> kind) and the labels it can group by."""

    params: Mapping[str, str]  # kind: str, str_list, quantile, aggregate, kind, platform, positive
    group_by: tuple[str, ...]
    required: tuple[str, ...] = ()


QUERY_TYPES: dict[str, QueryType] = {
    # Count of log events in the window; level/service/text filters until the explorer's language lands.
    "log_count": QueryType({"service": "str", "level": "str_list", "text": "str"}, ("service", "level")),
    # 5xx responses as a percentage of requests (0-100); minute rollups.
    "api_error_rate": QueryType(
        {"service": "str", "endpoint": "str", "min_requests": "positive"}, ("service", "endpoint")
    ),
    # A latency quantile in ms, merged from the rollups' t-digests.
    "api_latency": QueryType({"service": "str", "endpoint": "str", "quantile": "quantile"}, ("service", "endpoint")),
    "system_metric": QueryType(
        {"metric_name": "str", "service": "str", "instance": "str", "aggregate": "aggregate"},
        ("service", "instance"),
        required=("metric_name",),
    ),
    "security_events": QueryType(
        {"service": "str", "severity": "str_list", "event_type": "str_list"},
        ("service", "severity", "event_type", "ip_address"),
    ),
    # Seconds since the last event of a kind, per service/instance seen within `lookback_s`.
    "heartbeat": QueryType({"kind": "kind", "service": "str", "lookback_s": "positive"}, ("service", "instance")),
    # Lookout's own health, from the Prometheus metrics its components export.
    "platform": QueryType({"metric": "platform"}, (), required=("metric",)),
}
PLATFORM_METRICS = ("collector_rejected", "pipeline_lag", "dead_letters")
QUANTILES = (0.5, 0.9, 0.95, 0.99)
AGGREGATES = ("avg", "max", "min")


@dataclass(frozen=True)
class Query:
    type: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    name: str
    query: Query
    threshold: float
    comparator: str = ">"
    description: str = ""
    severity: str = "warning"
    labels: Mapping[str, str] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    window_s: int = 300
    critical_threshold: float | None = None  # when also crossed, the alert is critical whatever `severity` says
    for_s: int = 0
    keep_firing_for_s: int = 0
    interval_s: int = 60
    no_data: str = "ok"
    on_error: str = "keep_last"
    channels: tuple[str, ...] = ()
    renotify_s: int = 4 * 3600  # Alertmanager's repeat_interval; 0 = never repeat
    group_wait_s: int = 0
    group_interval_s: int = 60
    flap_window_s: int = 600
    flap_max_changes: int = 4  # this many starts and ends within the window and the alert is flapping
    runbook_url: str = ""
    enabled: bool = True

    def breaches(self, value: float, threshold: float | None = None) -> bool:
        limit = self.threshold if threshold is None else threshold
        return {
            ">": value > limit,
            ">=": value >= limit,
            "<": value < limit,
            "<=": value <= limit,
            "==": value == limit,
            "!=": value != limit,
        }[self.comparator]

    def severity_for(self, value: float) -> str:
        if self.critical_threshold is not None and self.breaches(value, self.critical_threshold):
            return "critical"
        return self.severity

    def to_dict(self) -> dict[str, Any]:
        """The rule as its YAML/JSON form (what :func:`parse_rule` reads back to an equal rule)."""
        out = {_ALIASES.get(k, k): v for k, v in asdict(self).items()}
        for name in _ALIASES.values():
            out[name] = format_duration(out[name])
        out["query"] = {"type": self.query.type, **dict(self.query.params)}
        out["labels"] = dict(self.labels)
        out["group_by"] = list(self.group_by)
        out["channels"] = list(self.channels)
        return out


def format_duration(seconds: int) -> str:
    """The largest whole unit: 300 -> '5m', 90 -> '90s'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Channel:
    name: str
    type: str
    # webhook/slack/pagerduty: url; email: to (list); pagerduty: routing_key lives in the secret
    config: Mapping[str, Any] = field(default_factory=dict)
    secret: str | None = None  # webhook HMAC key or PagerDuty routing key; never exported

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, **dict(self.config)}


class RuleError(ValueError):
    """One or more problems in a rules document; ``problems`` lists each with where it is."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Problems:
    def __init__(self, where: str) -> None:
        self.where = where
        self.found: list[str] = []

    def add(self, field_name: str, message: str) -> None:
        self.found.append(f"{self.where}: field '{field_name}': {message}")


def _duration(raw: Any, name: str, problems: _Problems, *, minimum: int = 0) -> int | None:
    """Seconds from an int or '30s' / '5m' / '2h' / '1d'."""
    if isinstance(raw, bool):
        problems.add(name, "must be a duration such as 30s, 5m, 2h")
        return None
    if isinstance(raw, int):
        seconds = raw
    elif isinstance(raw, str) and re.fullmatch(r"\d+[smhd]", raw.strip()):
        text = raw.strip()
        seconds = int(text[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[text[-1]]
    else:
        problems.add(name, f"{raw!r} is not a duration such as 30s, 5m, 2h")
        return None
    if seconds < minimum:
        problems.add(name, f"must be at least {minimum}s")
        return None
    return seconds


def parse_duration(raw: Any, name: str) -> int:
    """Seconds from '30s' / '5m' / '2h' / '1d' (or an int); :class:`RuleError` naming ``name`` otherwise."""
    problems = _Problems(name)
    seconds = _duration(raw, name, problems, minimum=1)
    if seconds is None:
        raise RuleError(problems.found)
    return seconds


def _number(raw: Any, name: str, problems: _Problems) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        problems.add(name, f"{raw!r} is not a finite number")
        return None
    return float(raw)


def _choice(raw: Any, name: str, choices: tuple[str, ...], problems: _Problems) -> str | None:
    if raw not in choices:
        problems.add(name, f"{raw!r} is not one of {', '.join(choices)}")
        return None
    return str(raw)


def _query(raw: Any, problems: _Problems) -> Query | None:
    if not isinstance(raw, Mapping):
        problems.add("query", "must be a mapping with a 'type'")
        return None
    qtype = raw.get("type")
    spec = QUERY_TYPES.get(qtype) if isinstance(qtype, str) else None
    if spec is None:
        problems.add("query.type", f"{qtype!r} is not one of {', '.join(QUERY_TYPES)}")
        return None
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "type":
            continue
        kind = spec.params.get(key)
        name = f"query.{key}"
        if kind is None:
            problems.add(name, f"unknown for query type {qtype} (known: {', '.join(spec.params) or 'none'})")
        elif kind == "str":
            if not isinstance(value, str) or not value.strip():
                problems.add(name, "must be a non-empty string")
            else:
                params[key] = value.strip()
        elif kind == "str_list":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
                problems.add(name, "must be a string or a non-empty list of strings")
            else:
                params[key] = [v.lower() if key in ("level", "severity") else v for v in items]
        elif kind == "quantile":
            if value not in QUANTILES:
                problems.add(name, f"{value!r} is not one of {', '.join(map(str, QUANTILES))}")
            else:
                params[key] = float(value)
        elif kind == "positive":
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                problems.add(name, "must be a positive integer")
            else:
                params[key] = value
        elif kind == "aggregate":
            if (chosen := _choice(value, name, AGGREGATES, problems)) is not None:
                params[key] = chosen
        elif kind == "kind":
            if (chosen := _choice(value, name, EVENT_KINDS, problems)) is not None:
                params[key] = chosen
        elif kind == "platform":
            if (chosen := _choice(value, name, PLATFORM_METRICS, problems)) is not None:
                params[key] = chosen
    for key in spec.required:
        if key not in raw:
            problems.add(f"query.{key}", f"is required for query type {qtype}")
    if qtype == "security_events":
        for level in params.get("severity", []):
            if level not in SECURITY_SEVERITIES:
                problems.add("query.severity", f"{level!r} is not one of {', '.join(SECURITY_SEVERITIES)}")
    return Query(qtype, params)


_RULE_FIELDS = {
    "name", "description", "severity", "labels", "query", "group_by", "window", "comparator", "threshold",
    "critical_threshold", "for", "keep_firing_for", "interval", "no_data", "on_error", "channels", "renotify",
    "group_wait", "group_interval", "flap_window", "flap_max_changes", "runbook_url", "enabled",
}  # fmt: skip
# The YAML says `for: 5m`; the dataclass says for_s = 300. to_dict's names map back here.
_ALIASES = {
    "window_s": "window", "for_s": "for", "keep_firing_for_s": "keep_firing_for", "interval_s": "interval",
    "renotify_s": "renotify", "group_wait_s": "group_wait", "group_interval_s": "group_interval",
    "flap_window_s": "flap_window",
}  # fmt: skip


def parse_rule(raw: Any, source: str, index: int) -> Rule:
    """A rule from its mapping; raises :class:`RuleError` listing every problem (file, rule, field)."""
    label = raw.get("name") if isinstance(raw, Mapping) else None
    problems = _Problems(f"{source}: rule {label!r}" if isinstance(label, str) else f"{source}: rule #{index + 1}")
    if not isinstance(raw, Mapping):
        problems.add("-", "a rule must be a mapping")
        raise RuleError(problems.found)
    raw = {_ALIASES.get(k, k): v for k, v in raw.items()}
    for key in raw:
        if key not in _RULE_FIELDS:
            problems.add(str(key), "unknown field")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.add("name", "required: lower-case letters, digits, '_', '.', '-' (at most 100)")
    query = _query(raw.get("query"), problems)
    threshold = _number(raw["threshold"], "threshold", problems) if "threshold" in raw else None
    if "threshold" not in raw:
        problems.add("threshold", "is required")
    critical = raw.get("critical_threshold")
    critical_threshold = _number(critical, "critical_threshold", problems) if critical is not None else None
    labels = raw.get("labels", {})
    if not isinstance(labels, Mapping) or not all(
        isinstance(k, str) and _LABEL.match(k) and isinstance(v, str) for k, v in labels.items()
    ):
        problems.add("labels", "must map label names (letters, digits, _) to strings")
        labels = {}
    group_by = raw.get("group_by", [])
    if isinstance(group_by, str):
        group_by = [group_by]
    allowed = QUERY_TYPES[query.type].group_by if query else ()
    if not isinstance(group_by, list) or not all(isinstance(g, str) for g in group_by):
        problems.add("group_by", "must be a list of label names")
        group_by = []
    elif query and (unknown := [g for g in group_by if g not in allowed]):
        problems.add("group_by", f"{', '.join(unknown)} not groupable for {query.type} (allowed: "
                     f"{', '.join(allowed) or 'none'})")  # fmt: skip
    if query and query.type == "heartbeat" and "instance" in group_by and query.params.get("kind") != "system_metric":
        problems.add("group_by", "instance is only known for kind system_metric (the other rollups keep services)")
    channels = raw.get("channels", [])
    if not isinstance(channels, list) or not all(isinstance(c, str) and c for c in channels):
        problems.add("channels", "must be a list of channel names")
        channels = []
    durations: dict[str, int | None] = {}
    for key, default, minimum in (
        ("window", 300, 60), ("for", 0, 0), ("keep_firing_for", 0, 0), ("interval", 60, 1),
        ("renotify", 4 * 3600, 0), ("group_wait", 0, 0), ("group_interval", 60, 1), ("flap_window", 600, 0),
    ):  # fmt: skip
        durations[key] = _duration(raw.get(key, default), key, problems, minimum=minimum)
    flap_max = raw.get("flap_max_changes", 4)
    if isinstance(flap_max, bool) or not isinstance(flap_max, int) or flap_max < 2:
        problems.add("flap_max_changes", "must be an integer of at least 2")
    severity = _choice(raw.get("severity", "warning"), "severity", SEVERITIES, problems)
    comparator = _choice(raw.get("comparator", ">"), "comparator", COMPARATORS, problems)
    no_data = _choice(raw.get("no_data", "ok"), "no_data", POLICIES, problems)
    on_error = _choice(raw.get("on_error", "keep_last"), "on_error", POLICIES, problems)
    for key in ("description", "runbook_url"):
        if not isinstance(raw.get(key, ""), str):
            problems.add(key, "must be a string")
    runbook = raw.get("runbook_url", "")
    if isinstance(runbook, str) and runbook and not re.match(r"^https?://", runbook):
        problems.add("runbook_url", "must be an http(s) URL")
    if not isinstance(raw.get("enabled", True), bool):
        problems.add("enabled", "must be true or false")
    if problems.found:
        raise RuleError(problems.found)
    assert query is not None and threshold is not None  # noqa: S101 - every None above added a problem
    return Rule(
        name=str(name),
        query=query,
        threshold=threshold,
        comparator=str(comparator),
        description=str(raw.get("description", "")),
        severity=str(severity),
        labels=dict(labels),
        group_by=tuple(group_by),
        window_s=int(durations["window"] or 0),
        critical_threshold=critical_threshold,
        for_s=int(durations["for"] or 0),
        keep_firing_for_s=int(durations["keep_firing_for"] or 0),
        interval_s=int(durations["interval"] or 0),
        no_data=str(no_data),
        on_error=str(on_error),
        channels=tuple(channels),
        renotify_s=int(durations["renotify"] or 0),
        group_wait_s=int(durations["group_wait"] or 0),
        group_interval_s=int(durations["group_interval"] or 0),
        flap_window_s=int(durations["flap_window"] or 0),
        flap_max_changes=int(flap_max),
        runbook_url=str(runbook),
        enabled=bool(raw.get("enabled", True)),
    )


def parse_channel(raw: Any, source: str, index: int) -> Channel:
    label = raw.get("name") if isinstance(raw, Mapping) else None
    problems = _Problems(
        f"{source}: channel {label!r}" if isinstance(label, str) else f"{source}: channel #{index + 1}"
    )
    if not isinstance(raw, Mapping):
        problems.add("-", "a channel must be a mapping")
        raise RuleError(problems.found)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.add("name", "required: lower-case letters, digits, '_', '.', '-'")
    ctype = _choice(raw.get("type"), "type", CHANNEL_TYPES, problems)
    config = {k: v for k, v in raw.items() if k not in ("name", "type", "secret")}
    allowed = {"webhook": {"url"}, "slack": {"url"}, "email": {"to"}, "pagerduty": {"url"}}.get(ctype or "", set())
    for key in config:
        if key not in allowed:
            problems.add(key, f"unknown for a {ctype} channel (known: {', '.join(sorted(allowed)) or 'none'})")
    if ctype in ("webhook", "slack") and not (
        isinstance(config.get("url"), str) and re.match(r"^https?://", config["url"])
    ):
        problems.add("url", "required: an http(s) URL")
    if ctype == "pagerduty" and "url" in config and not re.match(r"^https?://", str(config["url"])):
        problems.add("url", "must be an http(s) URL (default: PagerDuty's Events API v2)")
    if ctype == "email":
        to = config.get("to")
        to = [to] if isinstance(to, str) else to
        if not isinstance(to, list) or not to or not all(isinstance(a, str) and "@" in a for a in to):
            problems.add("to", "required: an address or a list of addresses")
        else:
            config["to"] = to
    secret = raw.get("secret")
    if secret is not None and (not isinstance(secret, str) or len(secret) < 16):
        problems.add("secret", "must be a string of at least 16 characters")
    if problems.found:
        raise RuleError(problems.found)
    return Channel(str(name), str(ctype), config, secret)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    channels: tuple[Channel, ...]


def parse_document(doc: Any, source: str) -> RuleSet:
    """A rules file: ``{channels: [...], rules: [...]}``; every problem in it is reported at once."""
    problems: list[str] = []
    if not isinstance(doc, Mapping):
        raise RuleError([f"{source}: must be a mapping with 'rules' (and optionally 'channels')"])
    unknown = set(doc) - {"rules", "channels"}
    if unknown:
        problems.append(f"{source}: unknown top-level key(s): {', '.join(sorted(map(str, unknown)))}")
    rules: list[Rule] = []
    channels: list[Channel] = []
    for key, parse, into in (("channels", parse_channel, channels), ("rules", parse_rule, rules)):
        items = doc.get(key) or []
        if not isinstance(items, list):
            problems.append(f"{source}: '{key}' must be a list")
            continue
        for i, item in enumerate(items):
            try:
                into.append(parse(item, source, i))  # type: ignore[operator]
            except RuleError as exc:
                problems.extend(exc.problems)
    for kind, names in (("rule", [r.name for r in rules]), ("channel", [c.name for c in channels])):
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"{source}: {kind} {dup!r} is defined more than once")
    if problems:
        raise RuleError(problems)
    return RuleSet(tuple(rules), tuple(channels))
