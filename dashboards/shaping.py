"""Series shaping for the panels, with pandas (the design's choice; the query layer hands frames over through
clickhouse-connect's ``query_df``). Pure: frames in, frames out.

- ``fill_gaps``: every bucket of the range is present, an empty one as NaN, so a chart shows a gap where no
  data came (a line drawn straight across a dead minute would hide an outage).
- ``align_previous``: the same range one day or week earlier, moved onto the current range's time axis, so
  a regression shows as two lines apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd


def buckets(start: datetime, end: datetime, step_s: int) -> pd.DatetimeIndex:
    """The bucket starts covering [start, end), aligned to multiples of ``step_s`` (as toStartOfInterval does)."""
    first = pd.Timestamp(start).tz_localize(None) if pd.Timestamp(start).tzinfo else pd.Timestamp(start)
    last = pd.Timestamp(end).tz_localize(None) if pd.Timestamp(end).tzinfo else pd.Timestamp(end)
    step = pd.Timedelta(seconds=step_s)
    return pd.date_range(first.floor(step), (last - pd.Timedelta(microseconds=1)).floor(step), freq=step)


def fill_gaps(
    frame: pd.DataFrame,
    start: datetime,
    end: datetime,
    step_s: int,
    *,
    time: str = "bucket",
    by: Sequence[str] = (),
    zero: Sequence[str] = (),
) -> pd.DataFrame:
    """``frame`` with a row for every bucket (and every ``by`` group seen); missing values NaN, except the
    ``zero`` columns (counts: no event in a minute is a count of 0, not unknown)."""
    index = buckets(start, end, step_s)
    data = frame.copy()
    data[time] = pd.to_datetime(data[time]).dt.tz_localize(None) if len(data) else pd.Series(dtype="datetime64[ns]")
    if by:
        groups = data[list(by)].drop_duplicates()
        full = groups.merge(pd.DataFrame({time: index}), how="cross")
        keys = [*by, time]
    else:
        full = pd.DataFrame({time: index})
        keys = [time]
    data[time] = data[time].astype(full[time].dtype)
    shaped = full.merge(data, on=keys, how="left")
    for column in zero:
        if column in shaped:
            shaped[column] = shaped[column].fillna(0)
    return shaped.sort_values(keys).reset_index(drop=True)


def align_previous(previous: pd.DataFrame, offset: timedelta, *, time: str = "bucket") -> pd.DataFrame:
    """The previous period's rows moved forward by ``offset`` onto the current period's axis."""
    moved = previous.copy()
    moved[time] = pd.to_datetime(moved[time]) + pd.Timedelta(offset)
    return moved


def to_csv(frame: pd.DataFrame) -> str:
    """CSV download of a panel's data: ISO times in UTC, no index column."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out.to_csv(index=False)
