"""The shape every dashboard panel answers in: a plotly figure and/or a table, plus the rows they came from.

static/charts.js draws any of them, so a new panel needs a query and a model, no new JavaScript.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Cell(BaseModel):
    text: str
    href: str | None = Field(None, description="where clicking the value leads (the explorer, the request pivot)")
    title: str | None = Field(None, description="shown on hover")
    tone: Literal["ok", "warn", "danger", "muted"] | None = None
    spark: list[float | None] | None = Field(None, description="a small line drawn beside the text")


class Column(BaseModel):
    key: str
    label: str
    align: Literal["left", "right"] = "left"


class Table(BaseModel):
    columns: list[Column]
    rows: list[dict[str, Cell]]
    empty: str = "Nothing in this range."
    shown: int | None = Field(None, description="rows drawn before a 'Show all' button; null: every row")


class Figure(BaseModel):
    """A plotly figure (``data`` traces and ``layout``), as plotly's Python library built it."""

    data: list[dict[str, Any]]
    layout: dict[str, Any]
