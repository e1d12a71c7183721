"""The rollup refresh job: recompute the minutes and hours recent inserts touched, from the deduplicated raw rows.

Run by the scheduler every LOOKOUT_ROLLUP_INTERVAL_S on the leader (app/scheduler.py). Each run
takes the minutes marked since the last run, up to ``settle_s`` ago (an insert's marker is written
while the insert runs; the delay lets the insert finish before its minutes are read), recomputes
them with FINAL and records how far it got. Runs overlap by ``settle_s`` too, so a marker that
became visible late is still seen. A run that fails is simply repeated by the next one. Until a
minute is rolled up, reads take it from the raw table (warehouse/queries/rollups.py).

Hours (migration 0007) follow the same markers with their own progress, but an hour is recomputed only
once it has ended (and again for each late event that marks it): recomputing the current hour on every
run would read it from the raw table four times a minute. So a run recomputes the ended hours marked since
the last run and the hours that ended since the last run (their markers are older), and reads take an hour
from the hourly rollup only if it ended before the hourly progress and is not marked since.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client

from warehouse.queries.rollups import HOUR_TABLES, MINUTE_TABLES, Rollup, refresh_sql

log = logging.getLogger(__name__)

_CHUNK = 1000  # buckets per statement: keeps the parameter and the IN set small
_MINUTES = (
    "SELECT source, arraySort(groupUniqArray(toUInt32(minute))) FROM rollup_dirty_minutes "
    "WHERE marked_at > {last:DateTime64(3, 'UTC')} - toIntervalMillisecond({settle:UInt32}) "
    "AND marked_at <= {upto:DateTime64(3, 'UTC')} GROUP BY source"
)
_HOURS = (
    "SELECT source, arraySort(groupUniqArray(hour)) FROM ("
    "SELECT source, toUInt32(toStartOfHour(minute)) AS hour, "
    "toUInt32(toDateTime({last:DateTime64(3, 'UTC')} - toIntervalMillisecond({settle:UInt32}))) AS since "
    "FROM rollup_dirty_minutes WHERE marked_at <= {upto:DateTime64(3, 'UTC')} "
    "AND hour + 3600 <= toUInt32(toDateTime({upto:DateTime64(3, 'UTC')})) "
    "AND (marked_at > {last:DateTime64(3, 'UTC')} - toIntervalMillisecond({settle:UInt32}) OR hour + 3600 > since)"
    ") GROUP BY source"
)
_PROGRESS = "INSERT INTO {table} (processed_until) VALUES ({{upto:DateTime64(3, 'UTC')}})"


@dataclass(frozen=True)
class RefreshResult:
    minutes: int  # (table, minute) pairs recomputed
    hours: int = 0  # (table, hour) pairs recomputed


def _refresh(client: Client, marks: str, progress: str, rollups: dict[str, tuple[Rollup, ...]], upto: datetime,
             settle_ms: int) -> int:  # fmt: skip
    last = client.query(f"SELECT max(processed_until) FROM {progress}").result_rows[0][0]
    dirty = client.query(marks, parameters={"last": last, "upto": upto, "settle": settle_ms}).result_rows
    done = 0
    for source, buckets in dirty:
        for start in range(0, len(buckets), _CHUNK):
            chunk = buckets[start : start + _CHUNK]
            for rollup in rollups[source]:
                bounds = {"buckets": chunk, "lo": chunk[0], "hi": chunk[-1] + rollup.step_s}
                client.command(refresh_sql(rollup), parameters=bounds)
            done += len(chunk)
    client.command(_PROGRESS.format(table=progress), parameters={"upto": upto})
    return done


def refresh(client: Client, settle_s: float = 10.0) -> RefreshResult:
    settle_ms = int(settle_s * 1000)
    upto = client.query(
        "SELECT now64(3) - toIntervalMillisecond({settle:UInt32})", parameters={"settle": settle_ms}
    ).result_rows[0][0]
    # Both read the raw rows, so neither depends on the other being current.
    minutes = _refresh(client, _MINUTES, "rollup_progress", MINUTE_TABLES, upto, settle_ms)
    hours = _refresh(client, _HOURS, "rollup_hour_progress", HOUR_TABLES, upto, settle_ms)
    if minutes or hours:
        log.debug("rollups refreshed", extra={"minutes": minutes, "hours": hours})  # every run while data flows
    return RefreshResult(minutes, hours)
