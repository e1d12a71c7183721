"""The alerting API's request and response models (the pages' forms go through the same ones)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from dashboards.models.access import Strict
from dashboards.models.panels import Figure

RuleState = Literal["firing", "pending", "ok", "error", "disabled", "never evaluated"]


class RuleSummary(BaseModel):
    name: str
    description: str
    severity: str
    query_type: str
    interval_s: int
    enabled: bool
    builtin: bool
    state: RuleState = Field(
        description="firing/pending when it has such open incidents; error when its last query failed"
    )
    firing: int = Field(description="open firing incidents (one per group key)")
    pending: int
    last_evaluated_at: datetime | None
    last_error: str
    updated_at: datetime
    updated_by: str


class RuleList(BaseModel):
    rules: list[RuleSummary]


class RuleOut(BaseModel):
    rule: RuleSummary
    definition: dict[str, Any] = Field(description="the rule as rules-as-code writes it (lookout rules export)")


class RuleBody(Strict):
    definition: dict[str, Any] | str = Field(
        description="the rule as a mapping, or as YAML/JSON text (the format of `lookout rules apply`, one rule)"
    )


class RuleEnabled(Strict):
    enabled: bool


class PreviewIn(RuleBody):
    span: Literal["24h", "7d"] = "24h"


class PreviewPoint(BaseModel):
    at: datetime
    group_key: str
    value: float


class TimelineItem(BaseModel):
    at: datetime
    kind: str
    group_key: str = ""
    value: float | None = None
    detail: str = ""
    actor: str = ""


class PreviewNotification(BaseModel):
    at: datetime
    kind: str


class PreviewOut(BaseModel):
    figure: Figure
    data: list[PreviewPoint] = Field(description="the query's value per group key at each step")
    timeline: list[TimelineItem] = Field(description="when it would have gone pending, fired, resolved")
    notifications: list[PreviewNotification] = Field(
        description="the messages it would have sent (each to every channel of the rule)"
    )
    fired: int
    step_s: int = Field(description="the replay's step: coarser than the rule's interval, to stay cheap")
    evaluations: int
    errors: int = Field(description="steps whose query failed")
    series_shown: int
    series_total: int


class Incident(BaseModel):
    id: int
    rule: str
    rule_deleted: bool
    group_key: dict[str, str]
    group_key_text: str
    status: Literal["pending", "firing", "resolved"]
    severity: str
    started_at: datetime
    firing_at: datetime | None
    resolved_at: datetime | None
    last_value: float | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None


class IncidentList(BaseModel):
    incidents: list[Incident]


class IncidentFilter(Strict):
    open: bool = Field(default=False, description="only open (pending or firing) incidents")
    limit: int = Field(default=100, ge=1, le=500)


class NotificationOut(BaseModel):
    id: int
    kind: str
    status: str
    attempts: int
    channel: str
    created_at: datetime
    sent_at: datetime | None


class IncidentDetail(BaseModel):
    incident: Incident
    timeline: list[TimelineItem]
    notifications: list[NotificationOut]


class OnCall(BaseModel):
    firing: list[Incident] = Field(description="firing now, unacknowledged first")
    pending: list[Incident]
    silences_active: int


class SilenceFor(Strict):
    duration: str = Field(pattern=r"^\d+[smhd]$", description="how long: 30m, 2h, 1d (at most 30 days)")
    comment: str = Field(default="", max_length=500)


class SilenceCreate(SilenceFor):
    matchers: dict[str, str] = Field(min_length=1, description="label = value; rule, severity, the group key's labels")


class SilenceOut(BaseModel):
    id: int
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    author: str
    comment: str
    active: bool


class SilenceList(BaseModel):
    silences: list[SilenceOut]


class SilenceFilter(Strict):
    all: bool = Field(default=False, description="include ended silences")


class Created(BaseModel):
    id: int


class ChannelOut(BaseModel):
    name: str
    type: str
    config: dict[str, Any]
    has_secret: bool = Field(description="a signing secret or routing key is stored (never shown)")


class ChannelList(BaseModel):
    channels: list[ChannelOut]


class ChannelBody(Strict):
    definition: dict[str, Any] = Field(
        description="name, type (webhook, slack, email, pagerduty), url or to, secret (kept if left out)"
    )


class TestResult(BaseModel):
    ok: bool
    status_code: int | None
    detail: str
