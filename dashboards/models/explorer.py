"""The log explorer's API models: search pages, histogram, facets, request pivot, context, tail, export and
saved views. Query parameters arrive as text (as in the URL the page keeps its state in) and are checked by
dashboards/views/explorer_api.py, which names the parameter in a 400."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dashboards.models.access import Strict
from dashboards.models.panels import Figure

_Q = 'the search: field:value, -field:value, field:>=500, field:pay*, words, "phrases", OR, ( )'
_FROM = "start of the range: now-1h (s, m, h, d, w), RFC 3339 or epoch milliseconds; default now-1h"
_TO = "end of the range, as from; default now"
_COLUMNS = "comma-separated columns to return (timestamp and event_id always come first)"


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    q: str = Field(default="", description=_Q)
    from_: str | None = Field(default=None, alias="from", description=_FROM)
    to: str | None = Field(default=None, description=_TO)


class SearchQuery(Query):
    columns: str | None = Field(default=None, description=_COLUMNS)
    limit: str | None = Field(default=None, description="rows per page, 1 to 1000, default 100")
    older: str | None = Field(default=None, description="the page older than this cursor (a page's 'older')")
    newer: str | None = Field(default=None, description="the page newer than this cursor (a page's 'newer')")


class FacetsQuery(Query):
    pinned: str | None = Field(default=None, description="comma-separated attr.<key> fields to count as well")
    top: str | None = Field(default=None, description="values per facet, 1 to 100, default 10")


class PivotQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(min_length=1, max_length=200, description="a request id or correlation id")
    from_: str | None = Field(default=None, alias="from", description="default now-7d")
    to: str | None = Field(default=None, description=_TO)


class ContextQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    n: str | None = Field(default=None, description="events before and after, 1 to 100, default 10")
    columns: str | None = Field(default=None, description=_COLUMNS)


class TailQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    q: str = Field(default="", description=_Q)
    columns: str | None = Field(default=None, description=_COLUMNS)
    cursor: str | None = Field(default=None, description="the previous read's cursor; none: the newest events")
    since: str | None = Field(
        default=None, description="stream only: epoch milliseconds of arrival to resume from (a paused tail)"
    )


class ExportQuery(Query):
    columns: str | None = Field(default=None, description=_COLUMNS + "; default every column")
    format: Literal["csv", "ndjson"] = "ndjson"
    limit: str | None = Field(default=None, description="rows at most (capped by LOOKOUT_EXPORT_MAX_ROWS)")


class Rows(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]] = Field(
        description="newest first; each has timestamp, event_id, the columns and 'cursor' (for context and paging)"
    )


class SearchPage(Rows):
    query: str
    start: datetime
    end: datetime
    older: str | None = Field(description="cursor of the next older page; null on the last page")
    newer: str | None = Field(description="cursor for newer events than this page (e.g. arrived since)")


class Bar(BaseModel):
    start: datetime
    counts: dict[str, int] = Field(description="events per level")


class Histogram(BaseModel):
    step_s: int
    from_rollups: bool = Field(description="whole minutes came from the per-minute rollups (exact either way)")
    total: int
    bars: list[Bar]
    figure: Figure


class FacetValue(BaseModel):
    value: str
    count: int


class Facet(BaseModel):
    field: str
    pinned: bool
    values: list[FacetValue]


class Facets(BaseModel):
    facets: list[Facet]


class TimelineEvent(BaseModel):
    kind: str
    timestamp: datetime
    event_id: str
    service: str
    instance: str
    summary: str
    fields: dict[str, Any]


class Pivot(BaseModel):
    id: str
    start: datetime
    end: datetime
    kinds: dict[str, int] = Field(description="events found per kind")
    events: list[TimelineEvent] = Field(description="oldest first, every kind on one timeline")


class Event(BaseModel):
    event: dict[str, Any] = Field(description="every field of the event")


class Context(BaseModel):
    before: list[dict[str, Any]] = Field(description="oldest first")
    event: dict[str, Any]
    after: list[dict[str, Any]] = Field(description="oldest first")


class Tail(Rows):
    cursor: str = Field(description="pass it as 'cursor' to the next read")
    behind: bool = Field(description="more events matched than one read returns; start over to skip ahead")


class SavedViewIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    state: str = Field(max_length=8192, description="the explorer URL's query string: q, from, to, columns, pinned")
    shared: bool = False


class SavedView(BaseModel):
    id: int
    name: str
    owner: str
    mine: bool
    state: str
    shared: bool
    created_at: datetime
    updated_at: datetime


class SavedViews(BaseModel):
    views: list[SavedView]
    last: str | None = Field(description="the state the account used last")


class LastState(Strict):
    state: str = Field(max_length=8192)
