"""The shipper library against the real collector: every event arrives exactly once through a 10-second
collector outage, and through a deploy with a wrong API key fixed by a restart."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import uuid

import pytest
from lookout_client import Client, LookoutHandler

from app.stack.base import find_free_port
from collector.app import create_app as create_collector
from tests.integration.conftest import eventually, serve
from warehouse import clickhouse

pytestmark = pytest.mark.integration


def test_events_logged_during_a_collector_outage_arrive_exactly_once(settings, ingest_key, node, tmp_path):
    port = find_free_port()
    app = create_collector(settings)
    server = serve(app, port)
    service = f"shipper-{uuid.uuid4().hex[:6]}"
    client = Client(
        f"http://127.0.0.1:{port}",
        ingest_key,
        service=service,
        batch_size=50,
        flush_interval=0.2,
        spool_path=tmp_path / "lookout.spool",
        backoff_base=0.1,
        backoff_cap=1.0,
        timeout=2.0,
    )
    logger = logging.getLogger(f"shipper-test-{service}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(LookoutHandler(client))

    sent = 0
    stop = threading.Event()
    slowest_call = 0.0

    def app_server_logging() -> None:
        nonlocal sent, slowest_call
        while not stop.is_set():
            started = time.perf_counter()
            logger.info("order %d placed", sent, extra={"request_id": f"r{sent}"})
            slowest_call = max(slowest_call, time.perf_counter() - started)
            sent += 1
            time.sleep(0.005)

    worker = threading.Thread(target=app_server_logging)
    worker.start()
    try:
        time.sleep(2)
        server.shutdown()
        server.server_close()
        time.sleep(10)  # the collector is down for 10 s while the app keeps logging
        server = serve(app, port)
        time.sleep(2)
    finally:
        stop.set()
        worker.join()
    client.flush(timeout=30)

    ch = clickhouse.connect(settings.clickhouse_dsn)

    def counts():
        total, distinct_ids, distinct_messages = ch.query(
            "SELECT count(), uniqExact(event_id), uniqExact(message) FROM logs FINAL WHERE service = {s:String}",
            parameters={"s": service},
        ).result_rows[0]
        return (total, distinct_ids, distinct_messages) if total >= sent else None

    try:
        total, distinct_ids, distinct_messages = eventually(counts, timeout_s=60, interval_s=0.5)
        raw_total = ch.query(
            "SELECT count() FROM logs WHERE service = {s:String}", parameters={"s": service}
        ).result_rows[0][0]
    finally:
        client.close(timeout=10)
        server.shutdown()
    assert sent > 1000
    assert (total, distinct_ids, distinct_messages) == (sent, sent, sent)
    assert raw_total >= sent
    assert client.stats.spooled > 0 and client.stats.replayed > 0  # the outage really was ridden out on disk
    # Logging never waited for the network: a blocking shipper would stall for its 5 s HTTP timeout or its
    # backoff. The bound is loose because this process also runs the node (pipeline, scheduler), and
    # any Python call can wait tens of milliseconds for the GIL on two busy cores.
    assert slowest_call < 0.5


_WRONG_KEY_APP = """
import json, sys
from lookout_client import Client
endpoint, service, spool, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
errors = []
client = Client(endpoint, "lk_wrong_key", service, spool_path=spool, batch_size=50, retries_before_spool=1,
                backoff_base=0.05, backoff_cap=0.2, on_error=errors.append)
client.send_many({"kind": "log", "level": "info", "message": f"order {i}"} for i in range(count))
flushed = client.flush(30)
closed = client.close(10)
stats = client.stats
print(json.dumps({"flushed": flushed, "closed": closed, "sent": stats.sent, "spooled": stats.spooled,
                  "dropped": stats.dropped, "errors": [str(error) for error in errors]}))
"""


def test_events_spooled_under_a_wrong_key_arrive_exactly_once_after_a_restart_with_the_right_key(
    settings, ingest_key, collector_url, node, tmp_path
):
    service = f"wrongkey-{uuid.uuid4().hex[:6]}"
    spool = tmp_path / "lookout.spool"
    count = 500
    # The deploy with the wrong key: its own process, which exits with everything it buffered on disk.
    result = subprocess.run(
        [sys.executable, "-c", _WRONG_KEY_APP, collector_url, service, str(spool), str(count)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    first = json.loads(result.stdout)
    assert (first["flushed"], first["closed"]) == (True, True), first
    assert (first["sent"], first["spooled"], first["dropped"]) == (0, count, 0), first
    assert len(first["errors"]) == 1 and "401" in first["errors"][0], first  # reported once, not per batch

    # The fix: the same spool, the right key.
    client = Client(collector_url, ingest_key, service=service, spool_path=spool, backoff_base=0.1, backoff_cap=1.0)
    try:
        eventually(lambda: client.stats.replayed == count, timeout_s=60)
    finally:
        assert client.close(timeout=10)
    assert (client.stats.sent, client.stats.dropped) == (count, 0)

    ch = clickhouse.connect(settings.clickhouse_dsn)

    def counts():
        row = ch.query(
            "SELECT count(), uniqExact(event_id), uniqExact(message) FROM logs FINAL WHERE service = {s:String}",
            parameters={"s": service},
        ).result_rows[0]
        return row if row[0] >= count else None

    assert eventually(counts, timeout_s=60, interval_s=0.5) == (count, count, count)
