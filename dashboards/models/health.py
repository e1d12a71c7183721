"""Request and response models of the health pages' JSON API: system metrics, blockchain events, security
events. Panels answer a plotly ``figure`` and/or a ``table`` (dashboards/models/panels.py) plus ``data``, the
rows they were drawn from, so a script gets the numbers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dashboards.models.panels import Figure, Table

_FROM = "RFC 3339, epoch ms or relative (now-1h); default now-24h"
_TO = "RFC 3339, epoch ms or now (the default)"


class PanelQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    from_: str | None = Field(default=None, alias="from", description=_FROM)
    to: str | None = Field(default=None, description=_TO)
    format_: Literal["json", "csv"] = Field(default="json", alias="format", description="csv: the data as CSV")


class SeriesStep(BaseModel):
    step: int | None = Field(
        default=None, description="seconds per bucket, a multiple of 60 (default: about 120 buckets over the range)"
    )


# ------------------------------------------------------------------------------------------------- system


class SystemFilter(PanelQuery):
    service: str | None = Field(default=None, max_length=128)
    instance: str | None = Field(default=None, max_length=128)


class SystemSeriesQuery(SystemFilter, SeriesStep):
    metric: str = Field(min_length=1, max_length=100, description="the metric_name to draw")


class InstanceRow(BaseModel):
    service: str
    instance: str
    metric_name: str
    metric_type: str
    unit: str
    value: float = Field(description="the mean of the newest minute with samples")
    peak: float = Field(description="the highest sample in the range")
    last_minute: datetime = Field(description="the newest minute with a sample (UTC)")
    warning: float | None
    critical: float | None
    levels_from: str = Field(description="alert rule NAME, the samples, LOOKOUT_SYSTEM_THRESHOLDS, or empty")
    closeness: float | None = Field(description="value / critical level (the warning level when none)")
    stale: bool = Field(description="no sample for LOOKOUT_SYSTEM_METRICS_STALE_INTERVALS reporting intervals")
    state: Literal["stale", "critical", "warning", "ok", "unknown"]


class SystemInstances(BaseModel):
    table: Table
    data: list[InstanceRow]


class SeriesPoint(BaseModel):
    bucket: datetime
    service: str
    instance: str
    value: float | None = Field(description="mean over the bucket; null when no sample came")
    peak: float | None


class SystemSeries(BaseModel):
    figure: Figure
    metric: str
    warning: float | None
    critical: float | None
    levels_from: str
    step: int
    data: list[SeriesPoint]


class MetricNames(BaseModel):
    metrics: list[str]


# ------------------------------------------------------------------------------------------------- blockchain


class ChainFilter(PanelQuery):
    contract: str | None = Field(default=None, max_length=42)
    event_type: str | None = Field(default=None, max_length=50)


class ChainSeriesQuery(ChainFilter, SeriesStep):
    pass


class ChainLatestQuery(ChainFilter):
    limit: int = Field(default=50, ge=1, le=500)


class ActivityPoint(BaseModel):
    bucket: datetime
    event_type: str
    events: int


class ChainActivity(BaseModel):
    figure: Figure
    step: int
    data: list[ActivityPoint]


class BlockBand(BaseModel):
    band: int = Field(description="the first block of the band")
    width: int
    contract_address: str
    events: int


class ChainBlocks(BaseModel):
    figure: Figure
    data: list[BlockBand]


class ContractRow(BaseModel):
    contract_address: str
    events: int
    event_types: list[str]
    first_block: int | None
    last_block: int | None
    last_seen: datetime
    gaps: int
    missing_blocks: int


class ChainContracts(BaseModel):
    table: Table
    data: list[ContractRow]


class ChainEvent(BaseModel):
    timestamp: datetime
    event_id: str
    contract_address: str
    event_type: str
    block_number: int | None
    log_index: int | None
    transaction_hash: str
    processed: bool


class ChainLatest(BaseModel):
    table: Table
    data: list[ChainEvent]


class Gap(BaseModel):
    contract_address: str
    before_block: int
    after_block: int
    missing: int = Field(description="blocks strictly between the two observed ones")
    before_seen: datetime
    after_seen: datetime


class ChainGaps(BaseModel):
    table: Table
    max_gap: int = Field(description="LOOKOUT_BLOCKCHAIN_MAX_BLOCK_GAP: larger differences are gaps")
    data: list[Gap]


# ------------------------------------------------------------------------------------------------- security

Severity = Literal["low", "medium", "high", "critical"]
State = Literal["open", "investigated", "false_positive"]
OutcomeName = Literal["investigated", "false_positive"]


class SecurityFilterQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    from_: str | None = Field(default=None, alias="from", description=_FROM)
    to: str | None = Field(default=None, description=_TO)
    severity: str | None = Field(default=None, description="comma-separated: low, medium, high, critical")
    event_type: str | None = Field(default=None, max_length=50)
    ip: str | None = Field(default=None, max_length=64, description="an IPv4 or IPv6 address")
    account: str | None = Field(default=None, max_length=64, description="the event's user_id")
    state: State | None = None


class SecurityListQuery(SecurityFilterQuery):
    limit: int = Field(default=100, ge=1, le=500)


class SecurityPanelQuery(SecurityFilterQuery, SeriesStep):
    format_: Literal["json", "csv"] = Field(default="json", alias="format", description="csv: the data as CSV")


class SecurityEventOut(BaseModel):
    event_id: str
    timestamp: datetime
    service: str
    instance: str
    event_type: str
    severity: Severity
    user_id: str
    ip_address: str | None
    user_agent: str
    endpoint: str
    threat_indicators: Any
    automatic_action_taken: str
    investigated: bool
    investigated_by: str
    investigation_notes: str
    false_positive: bool
    investigated_at: datetime | None
    metadata: dict[str, Any]


class SecurityEventList(BaseModel):
    events: list[SecurityEventOut]
    matching: int = Field(description="events matching the filter (the list holds at most `limit`)")


class Investigation(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    outcome: OutcomeName
    notes: str = Field(default="", max_length=4000)


class BulkInvestigation(Investigation):
    filter: SecurityFilterQuery = Field(description="every open event matching it is marked")


class BulkResult(BaseModel):
    marked: int


class SeverityPoint(BaseModel):
    bucket: datetime
    severity: Severity
    events: int


class SecurityActivity(BaseModel):
    figure: Figure
    step: int
    data: list[SeverityPoint]


class TypeRow(BaseModel):
    event_type: str
    severity: Severity
    events: int
    open: int
    addresses: int
    latest: datetime


class SecurityTypes(BaseModel):
    table: Table
    data: list[TypeRow]


class IpHistory(BaseModel):
    ip: str
    events: list[SecurityEventOut]
    logs: list[dict[str, Any]]
    logs_query: str = Field(description="the explorer query that finds these logs")
    explorer_url: str
