"""The explorer's queries (warehouse/queries/explorer.py) against the real engine and PostgreSQL.

Events are encoded exactly as the collector encodes them and written through the pipeline's sinks,
one service per test; the pivot goes through the whole running platform (collector -> Kafka ->
pipeline). A re-delivery "cut differently" is the same events written again in other batches
under other deduplication tokens, which is what a crash between write and commit produces.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import requests

from lookout.contract import validate_event
from pipeline.sinks import ClickHouseSink, PostgresSink
from tests.integration.conftest import eventually
from warehouse import clickhouse, postgres
from warehouse.queries import explorer
from warehouse.queries.explorer import Cursor, Search
from warehouse.rollup_refresh import refresh
from warehouse.tables import TABLES

pytestmark = pytest.mark.integration


@pytest.fixture()
def service() -> str:
    return f"explore-{uuid.uuid4().hex[:8]}"


@pytest.fixture()
def client(settings) -> Iterator[Any]:
    c = clickhouse.connect(settings.clickhouse_dsn)
    yield c
    c.close()


@pytest.fixture()
def sink(settings) -> Iterator[ClickHouseSink]:
    s = ClickHouseSink.from_settings(settings)
    yield s
    s.close()


def now_ms() -> int:
    return int(time.time() * 1000)


def at(moment_ms: int) -> datetime:
    return datetime.fromtimestamp(moment_ms / 1000, UTC)


def wire(raw: dict[str, Any]) -> dict[str, Any]:
    """One event as the collector encodes it (event_id assigned when absent)."""
    return validate_event(raw, now_ms()).to_json_dict()


def log(service: str, ts: int, **fields: Any) -> dict[str, Any]:
    return wire({"kind": "log", "timestamp": ts, "service": service, "level": "info", "message": "", **fields})


def write(sink: ClickHouseSink, events: list[dict[str, Any]], token: str = "") -> None:
    kind = events[0]["kind"]
    sink.write(TABLES[kind], [orjson.dumps(e) for e in events], token or f"test:{uuid.uuid4()}")


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [str(r["event_id"]) for r in rows]


def found(client, search: Search, limit: int = 1000) -> set[str]:
    page = explorer.search_page(client, search, limit=limit)
    assert page.older is None, "the test expects one page"
    return set(ids(page.rows))


# ---------------------------------------------------------------------------------------------- search language


def test_each_kind_of_query_finds_its_events(client, sink, service):
    base = now_ms() - 600_000
    events = [
        log(service, base + 1, level="error", message="Card DECLINED by issuer", status_code=502, instance="web-1"),
        log(service, base + 2, level="warn", message="card declined, retrying", metadata={"amount": 250}),
        log(service, base + 3, level="info", message="payment accepted", status_code=200, instance="web-2"),
        log(service, base + 4, level="info", message="50% off applied", metadata={"customer": {"tier": "gold"}}),
        log(service, base + 5, level="debug", message="500 off applied", metadata={"customer": {"tier": "silver"}}),
        log(service, base + 6, level="error", message="'; DROP TABLE logs; --", instance="worker-1"),
        log(service, base + 7, level="info", message='path C:\\temp\\x "quoted"', metadata={"amount": 20}),
        log(service, base + 8, level="info", message="declinedness is not a word", request_id="req-1"),
    ]
    write(sink, events)
    write(sink, [log(f"{service}-other", base + 1, level="error", message="card declined")])
    e = [ev["event_id"] for ev in events]
    span = (at(base - 1000), at(now_ms() + 1000))
    expectations = {
        "level:error": {e[0], e[5]},
        "-level:info": {e[0], e[1], e[4], e[5]},
        "NOT level:info NOT level:error": {e[1], e[4]},
        "declined": {e[0], e[1]},  # a whole word, any case; not "declinedness"
        "DECLIN*": {e[0], e[1], e[7]},
        '"card declined"': {e[0], e[1]},
        'message:"50%"': {e[3]},  # % is literal, not LIKE's wildcard
        "status_code:>=500": {e[0]},
        "status_code:<300": {e[2]},
        "-status_code:502": set(e) - {e[0]},  # a missing status code is "not 502"
        "instance:web-*": {e[0], e[2]},
        "instance:*": {e[0], e[2], e[5]},
        "attr.customer.tier:gold": {e[3]},
        "attr.amount:>100": {e[1]},
        "attr.amount:20": {e[6]},
        "attr.customer:*": {e[3], e[4]},
        "level:warn OR attr.amount:>100 OR payment": {e[1], e[2]},
        "(level:error OR level:warn) declined": {e[0], e[1]},
        "level:error OR level:warn declined": {e[0], e[1], e[5]},
        '"\'; DROP TABLE logs; --"': {e[5]},
        r'"C:\\temp\\x \"quoted\""': {e[6]},
        "request_id:req-1": {e[7]},
        f"event_id:{e[2]}": {e[2]},
    }
    for text, expected in expectations.items():
        assert found(client, Search.parse(f"service:{service} ({text})", *span)) == expected, text
    assert client.query("EXISTS TABLE logs").result_rows == [(1,)]

    under_query = explorer.facets(client, Search.parse(f"service:{service} declined", *span), ["level", "attr.amount"])
    assert under_query == {"level": [("error", 1), ("warn", 1)], "attr.amount": [("", 1), ("250", 1)]}
    everything = explorer.facets(client, Search.parse(f"service:{service}", *span), top=2)
    assert everything["level"] == [("info", 4), ("error", 2)] and everything["service"] == [(service, 8)]
    assert everything["instance"] == [("", 5), ("web-1", 1)]


@pytest.mark.parametrize(
    ("text", "index"), [("zebrafish", "idx_message_tokens"), ('"zebra fish"', "idx_message_ngrams")]
)
def test_message_searches_are_pruned_by_the_skip_indexes(client, text, index):
    search = Search.parse(text, at(now_ms() - 3_600_000), at(now_ms()))
    sql, params = explorer.build_search(search)
    plan = "\n".join(row[0] for row in client.query(f"EXPLAIN indexes = 1 {sql}", parameters=params).result_rows)
    assert f"Name: {index}" in plan


# ---------------------------------------------------------------------------------------------- pages


def test_pages_return_every_event_once_while_new_events_arrive(client, sink, service):
    base = now_ms() - 1_800_000
    # Many events share a timestamp, so the cursor's event_id half matters.
    events = [log(service, base + (i // 7) * 1000, message=f"m{i}") for i in range(250)]
    write(sink, events)
    search = Search.parse(f"service:{service}", at(base), at(now_ms() + 600_000))
    shown: list[dict[str, Any]] = []
    page = explorer.search_page(client, search, columns=["message"], limit=40)
    first_newer = page.newer
    arrivals: list[dict[str, Any]] = []
    while True:
        shown.extend(page.rows)
        # New events keep arriving, newer than anything already shown.
        batch = [log(service, now_ms() + i, message="new") for i in range(3)]
        write(sink, batch)
        arrivals.extend(batch)
        if page.older is None:
            break
        page = explorer.search_page(client, search, columns=["message"], limit=40, older_than=page.older)
    seen = ids(shown)
    assert len(seen) == len(set(seen)) == 250
    assert set(seen) == {ev["event_id"] for ev in events}
    timestamps = [row["timestamp"] for row in shown]
    assert timestamps == sorted(timestamps, reverse=True)

    # Paging towards newer events from the first page finds exactly the arrivals, each once.
    newer: list[str] = []
    cursor = first_newer
    while True:
        page = explorer.search_page(client, search, columns=["message"], limit=4, newer_than=cursor)
        if not page.rows:
            break
        newer.extend(ids(page.rows))
        cursor = page.newer
    assert sorted(newer) == sorted(ev["event_id"] for ev in arrivals)


# ---------------------------------------------------------------------------------------------- re-delivery


@pytest.fixture()
def merges_stopped(client) -> Iterator[None]:
    """No background merge collapses the copies before the queries run: FINAL alone must do it."""
    client.command("SYSTEM STOP MERGES logs")
    yield
    client.command("SYSTEM START MERGES logs")


def test_a_redelivery_cut_differently_is_counted_and_returned_once(client, sink, service, merges_stopped):
    base = (now_ms() // 60_000 - 5) * 60_000  # five whole minutes ago
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    events = [
        log(
            service,
            base + i * 6_000,  # 40 events over 4 minutes
            level=("error", "warn", "info", "info")[i % 4],
            message=f"charge {i} declined" if i % 5 == 0 else f"charge {i} ok",
            request_id=request_id if i % 10 == 0 else "",
            instance="web-1",
        )
        for i in range(40)
    ]
    write(sink, events[:15], f"lookout.log:0:{service}:0-14")
    write(sink, events, f"lookout.log:0:{service}:0-39")  # re-read after a crash, cut differently
    write(sink, events[30:], f"lookout.log:0:{service}:30-39")
    stored = client.query("SELECT count() FROM logs WHERE service = {s:String}", parameters={"s": service})
    assert stored.result_rows[0][0] == 65  # the copies are stored; only FINAL makes them one
    expected_ids = {ev["event_id"] for ev in events}
    span = (at(base - 30_000), at(base + 250_000))  # not whole minutes at either end
    search = Search.parse(f"service:{service}", *span)

    page = explorer.search_page(client, search, limit=1000)
    assert len(page.rows) == 40 and set(ids(page.rows)) == expected_ids

    levels = explorer.facets(client, search)
    assert dict(levels["level"]) == {"error": 10, "warn": 10, "info": 20}
    assert levels["service"] == [(service, 40)] and levels["instance"] == [("web-1", 40)]

    raw = explorer.histogram(client, Search.parse(f"service:{service} charge", *span), step_s=60)
    assert not raw.from_rollups and raw.total == 40
    refresh(client, settle_s=0)  # now the whole minutes come from logs_1m
    rolled = explorer.histogram(client, search, step_s=60)
    assert rolled.from_rollups and rolled.total == 40
    assert [bar.counts for bar in rolled.bars] == [bar.counts for bar in raw.bars]
    assert sum(bar.counts.get("error", 0) for bar in rolled.bars) == 10
    declined = explorer.histogram(client, Search.parse(f"service:{service} declined", *span))
    assert declined.total == 8

    timeline = explorer.pivot_clickhouse(client, request_id, *span)
    assert sorted(e.event_id for e in timeline) == sorted(ev["event_id"] for ev in events if ev.get("request_id"))

    exported = list(explorer.export_rows(client, search, limit=1000, chunk=7))
    assert len(exported) == 40 and set(ids(exported)) == expected_ids

    middle = next(r for r in page.rows if r["message"] == "charge 20 declined")
    around = explorer.context(client, Cursor.of(middle), n=50)
    assert around is not None
    assert len(around.before) == 20 and len(around.after) == 19
    assert len(set(ids(around.before + around.after))) == 39


# ---------------------------------------------------------------------------------------------- context


def test_context_shows_neighbours_of_the_same_service_and_instance(client, sink, service):
    base = now_ms() - 900_000
    events = [log(service, base + i * 100, instance=f"web-{i % 2}", message=f"line {i}") for i in range(30)]
    events.append(log(f"{service}-other", base + 1050, instance="web-0", message="another service"))
    write(sink, events)
    anchor = next(ev for ev in events if ev["message"] == "line 14")
    around = explorer.context(client, Cursor(anchor["ts"], uuid.UUID(anchor["event_id"])), ["message"], n=3)
    assert around is not None and around.event["message"] == "line 14"
    assert [r["message"] for r in around.before] == ["line 8", "line 10", "line 12"]
    assert [r["message"] for r in around.after] == ["line 16", "line 18", "line 20"]
    assert explorer.context(client, Cursor(anchor["ts"], uuid.uuid4())) is None


# ---------------------------------------------------------------------------------------------- tail


def test_tail_follows_new_arrivals_once_each(client, sink, service):
    query = explorer.parse(f"service:{service} -level:debug")
    write(sink, [log(service, now_ms() - 5_000 + i, message=f"old {i}") for i in range(5)])
    first = explorer.tail(client, query, limit=3)
    assert [r["message"] for r in first.rows] == ["old 2", "old 3", "old 4"]  # the newest, oldest first
    assert not first.behind

    arrivals = [log(service, now_ms(), message=f"new {i}") for i in range(4)]
    write(sink, arrivals)
    write(sink, [log(service, now_ms(), level="debug", message="filtered out")])
    late = log(service, now_ms() - 1_800_000, message="stamped half an hour ago, arrived now")
    write(sink, [late])
    read = explorer.tail(client, query, first.cursor, limit=10)
    assert sorted(r["message"] for r in read.rows) == sorted([*(a["message"] for a in arrivals), late["message"]])

    write(sink, arrivals)  # re-delivered in another batch: already shown
    again = explorer.tail(client, query, read.cursor, limit=10)
    assert again.rows == [] and again.cursor == read.cursor

    burst = [log(service, now_ms(), message=f"burst {i}") for i in range(12)]
    write(sink, burst)
    behind = explorer.tail(client, query, again.cursor, limit=5)
    assert behind.behind and len(behind.rows) == 5
    rest = explorer.tail(client, query, behind.cursor, limit=10)
    assert sorted(ids(behind.rows + rest.rows)) == sorted(ev["event_id"] for ev in burst)


# ---------------------------------------------------------------------------------------------- export


def test_export_reads_pages_up_to_its_limit_and_encodes_them(client, sink, service):
    base = now_ms() - 1_200_000
    events = [
        log(service, base + i, message=f"=cmd {i}" if i == 257 else f"row {i}", status_code=100 + i) for i in range(300)
    ]
    write(sink, events)
    search = Search.parse(f"service:{service}", at(base), at(now_ms() + 1000))
    rows = list(explorer.export_rows(client, search, ["message", "status_code"], limit=250, chunk=64))
    assert len(rows) == 250 and len(set(ids(rows))) == 250
    assert [r["status_code"] for r in rows] == list(range(399, 149, -1))
    lines = b"".join(explorer.encode_ndjson(rows)).splitlines()
    assert orjson.loads(lines[0]) == {
        "timestamp": at(base + 299).isoformat().replace("+00:00", "Z"),
        "event_id": rows[0]["event_id"].__str__(),
        "message": "row 299",
        "status_code": 399,
    }
    text = "".join(explorer.encode_csv(["event_id", "message", "status_code"], rows))
    assert text.count("\n") == 251 and "'=cmd 257" in text


def test_export_memory_stays_at_one_page(client, service):
    """100,000 rows generated inside the engine; the export never holds more than a page of them."""
    import tracemalloc

    end = now_ms()
    client.command(
        "INSERT INTO logs (event_id, timestamp, service, level, message, retention_days) "
        "SELECT generateUUIDv4(), fromUnixTimestamp64Milli(toInt64({end:Int64} - number * 10), 'UTC'), "
        "{s:String}, 'info', concat('generated line ', toString(number)), 30 FROM numbers(100000)",
        parameters={"end": end, "s": service},
    )
    search = Search.parse(f"service:{service}", at(end - 1_100_000), at(end + 1))
    tracemalloc.start()
    try:
        count = sum(1 for _ in explorer.encode_ndjson(explorer.export_rows(client, search, limit=100_000)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 100_000
    assert peak < 30_000_000, f"peak {peak / 1e6:.1f} MB"  # all 100,000 rows at once take ~250 MB


# ---------------------------------------------------------------------------------------------- pivot


def test_the_pivot_finds_every_kind_sharing_a_request_id(collector_url, ingest_key, node, settings, client):
    """Through the running platform: ids that are not columns of a kind land in its metadata."""
    service = f"pivot-{uuid.uuid4().hex[:8]}"
    request_id = f"req-{uuid.uuid4().hex}"
    t = now_ms() - 60_000
    events = [
        {
            "kind": "log",
            "timestamp": t,
            "service": service,
            "level": "info",
            "message": "start",
            "request_id": request_id,
        },
        {
            "kind": "log",
            "timestamp": t + 1,
            "service": "other",
            "level": "info",
            "message": "m",
            "correlation_id": request_id,
        },
        {
            "kind": "api_metric",
            "timestamp": t + 2,
            "service": service,
            "endpoint": "/pay",
            "method": "POST",
            "status_code": 502,
            "response_time_ms": 12.5,
            "request_id": request_id,
        },
        {
            "kind": "security_event",
            "timestamp": t + 3,
            "service": service,
            "event_type": "card_testing",
            "severity": "high",
            "request_id": request_id,
        },
        {
            "kind": "admin_audit",
            "timestamp": t + 4,
            "service": service,
            "action": "block_card",
            "resource_type": "card",
            "resource_id": "c1",
            "metadata": {"correlation_id": request_id},
        },
        {
            "kind": "log",
            "timestamp": t + 5,
            "service": service,
            "level": "info",
            "message": "unrelated",
            "request_id": "req-other",
        },
    ]
    response = requests.post(
        f"{collector_url}/v1/events",
        data=orjson.dumps(events),
        headers={"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 202 and response.json()["accepted"] == 6
    span = (at(t - 60_000), at(now_ms() + 60_000))

    def timeline() -> list[explorer.TimelineEvent]:
        with postgres.connect(settings.postgres_dsn) as conn:
            found_pg = explorer.pivot_postgres(conn, request_id, *span)
        merged = explorer.merge_timeline(explorer.pivot_clickhouse(client, request_id, *span), found_pg)
        return merged if len(merged) >= 5 else []

    merged = eventually(timeline, timeout_s=30)
    assert [e.kind for e in merged] == ["log", "log", "api_metric", "security_event", "admin_audit"]
    assert [e.timestamp for e in merged] == [at(t + i) for i in range(5)]
    assert merged[2].summary == "POST /pay -> 502 in 12.5 ms"
    assert merged[3].summary == "high card_testing" and merged[4].summary == "block_card card c1"


def test_the_pivot_returns_postgres_records_once_after_a_redelivery(settings):
    request_id = f"req-{uuid.uuid4().hex}"
    t = now_ms()
    event = wire(
        {"kind": "security_event", "timestamp": t, "service": "s", "event_type": "x", "severity": "low"}
        | {"request_id": request_id}
    )
    pg = PostgresSink(settings.postgres_dsn)
    table = TABLES["security_event"]
    pg.write(table, [pg.event_payload(table, event)], "")
    pg.write(table, [pg.event_payload(table, event)], "")
    pg.close()
    with postgres.connect(settings.postgres_dsn) as conn:
        found_pg = explorer.pivot_postgres(conn, request_id, at(t - 1000), at(t + 1000))
    assert [(e.kind, e.event_id, e.timestamp) for e in found_pg] == [("security_event", event["event_id"], at(t))]
    assert found_pg[0].fields["metadata"] == {"request_id": request_id}
