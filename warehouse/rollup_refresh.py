"""The rollup refresh job: recompute the minutes recent inserts touched, from the deduplicated raw rows.

Run by the scheduler every LOOKOUT_ROLLUP_INTERVAL_S on the leader (app/scheduler.py). Each run
takes the minutes marked since the last run, up to ``settle_s`` ago (an insert's marker is written
while the insert runs; the delay lets the insert finish before its minutes are read), recomputes
them with FINAL and records how far it got. Runs overlap by ``settle_s`` too, so a marker that
became visible late is still seen. A run that fails is simply repeated by the next one. Until a
minute is rolled up, reads take it from the raw table (warehouse/queries/rollups.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from warehouse.queries.rollups import ROLLUPS, refresh_sql

log = logging.getLogger(__name__)

_CHUNK_MINUTES = 1000  # minutes per statement: keeps the parameter and the IN set small
_MINUTE_S = 60


@dataclass(frozen=True)
class RefreshResult:
    minutes: int  # (table, minute) pairs recomputed


def refresh(client: Client, settle_s: float = 10.0) -> RefreshResult:
    last = client.query("SELECT max(processed_until) FROM rollup_progress").result_rows[0][0]
    upto = client.query(
        "SELECT now64(3) - toIntervalMillisecond({settle:UInt32})", parameters={"settle": int(settle_s * 1000)}
    ).result_rows[0][0]
    dirty = client.query(
        "SELECT source, arraySort(groupUniqArray(toUInt32(minute))) FROM rollup_dirty_minutes "
        "WHERE marked_at > {last:DateTime64(3, 'UTC')} - toIntervalMillisecond({settle:UInt32}) "
        "AND marked_at <= {upto:DateTime64(3, 'UTC')} GROUP BY source",
        parameters={"last": last, "upto": upto, "settle": int(settle_s * 1000)},
    ).result_rows
    done = 0
    for source, minutes in dirty:
        rollup = ROLLUPS[source]
        for start in range(0, len(minutes), _CHUNK_MINUTES):
            chunk = minutes[start : start + _CHUNK_MINUTES]
            client.command(
                refresh_sql(rollup),
                parameters={
                    "minutes": chunk,
                    "lo": chunk[0],
                    "hi": chunk[-1] + _MINUTE_S,
                },
            )
            done += len(chunk)
    client.command(
        "INSERT INTO rollup_progress (processed_until) VALUES ({upto:DateTime64(3, 'UTC')})", parameters={"upto": upto}
    )
    if done:
        log.debug("rollups refreshed", extra={"minutes": done})  # every run while data flows: not news
    return RefreshResult(done)
