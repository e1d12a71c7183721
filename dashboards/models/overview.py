"""The overview and API-metrics panels: what they are asked (one query model) and what each answers (the
plotly figure and/or table the page draws, plus ``data``, the rows they were built from, for scripts)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dashboards.models.panels import Figure, Table


class PanelQuery(BaseModel):
    """What every panel reads from the page's URL. Parameters another panel of the page reads (``limit``,
    ``compare``) are ignored here, so each panel validates only its own: a bad one fails its panels alone."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)

    from_: str | None = Field(default=None, alias="from", description="RFC 3339, epoch ms or now-15m/now-1h/now-7d")
    to: str | None = Field(default=None, description="RFC 3339, epoch ms or now")
    service: str | None = Field(default=None, max_length=200, description="only this service")
    endpoint: str | None = Field(default=None, max_length=2000, description="only this path (with method)")
    method: str | None = Field(default=None, max_length=16, description="only this HTTP method")
    format: Literal["json", "csv"] = Field(default="json", description="csv: the panel's data as CSV")


class TopQuery(PanelQuery):
    limit: int = Field(default=10, ge=1, le=50, description="rows of the endpoint tables")


class CompareQuery(PanelQuery):
    compare: Literal["1d", "1w", "none"] = Field(
        default="1d", description="also draw the same range this much earlier, dashed"
    )


class RequestPoint(BaseModel):
    bucket: datetime
    request_count: int
    errors_5xx: int
    errors_4xx: int
    requests_per_s: float
    error_rate_5xx: float | None = Field(description="% of requests answered 5xx; null for an empty bucket")
    error_rate_4xx: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class KindPoint(BaseModel):
    bucket: datetime
    kind: str
    event_count: int


class StatusPoint(BaseModel):
    bucket: datetime
    status_class: str = Field(description="2xx, 3xx, 4xx or 5xx")
    request_count: int


class EndpointRow(BaseModel):
    service: str
    method: str
    endpoint: str
    request_count: int
    errors_5xx: int
    errors_4xx: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class ServiceRow(BaseModel):
    service: str
    request_count: int
    requests_per_s: float
    errors_5xx: int
    errors_4xx: int
    p95_ms: float | None
    last_seen: datetime | None
    spark: list[float] = Field(description="requests per bucket over the range")


class SizePoint(BaseModel):
    bucket: datetime
    request_avg_bytes: float | None
    request_max_bytes: int | None
    response_avg_bytes: float | None
    response_max_bytes: int | None


class SlowRequest(BaseModel):
    timestamp: datetime
    service: str
    method: str
    endpoint: str
    status_code: int
    response_time_ms: float
    instance: str
    request_id: str
    event_id: str


class ComparedPoint(BaseModel):
    bucket: datetime
    period: Literal["current", "previous"] = Field(description="previous: shifted onto the current axis")
    request_count: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_rate_5xx: float | None
    error_rate_4xx: float | None


class HealthItem(BaseModel):
    key: str
    label: str
    value: float | None = Field(description="null: no source answered")
    unit: str
    detail: str = ""


class Panel(BaseModel):
    figure: Figure | None = None
    table: Table | None = None
    step_s: int = Field(description="seconds per bucket")


class RequestsPanel(Panel):
    data: list[RequestPoint]


class IngestPanel(Panel):
    data: list[KindPoint]


class StatusPanel(Panel):
    data: list[StatusPoint]


class EndpointsPanel(Panel):
    data: list[EndpointRow]


class ServicesPanel(Panel):
    data: list[ServiceRow]


class SizesPanel(Panel):
    data: list[SizePoint]


class SlowestPanel(Panel):
    data: list[SlowRequest]


class ComparedPanel(Panel):
    data: list[ComparedPoint]
    offset: str = Field(description="how far back the previous period is (1d, 1w), or none")


class HealthPanel(Panel):
    data: list[HealthItem]
    errors: list[str] = Field(description="metrics sources that did not answer")
