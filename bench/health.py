"""The health pages' ClickHouse panels on a week of data generated inside chDB: 2 million system_metric rows
(40 instances x 5 gauges, one sample a minute for 7 days) and 1 million blockchain events (20 contracts).
Each panel's query functions are timed over 1 h, 24 h and 7 d, cold (first run) and then the median and p95 of
the next runs (ClickHouse's own caches warm; the Redis panel cache is not involved).

    python -m bench.health [--runs 7]

Security events live in PostgreSQL behind indexes (migrations 0002, 0009, 0012, 0016) and are not measured.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from warehouse import clickhouse
from warehouse.migrate import migrate_clickhouse
from warehouse.queries import blockchain, system_metrics
from warehouse.queries.blockchain import ChainQuery
from warehouse.queries.system_metrics import SystemQuery
from warehouse.rollup_refresh import refresh

DAYS = 7


def generate(client: clickhouse.Client, now: datetime) -> None:
    minutes = DAYS * 24 * 60
    start = int((now - timedelta(days=DAYS)).timestamp())
    client.command(
        "INSERT INTO system_metrics (event_id, timestamp, service, instance, metric_type, metric_name, value, unit, "
        "metadata, retention_days) SELECT generateUUIDv4(), "
        "toDateTime64({start:UInt32} + 60 * intDiv(number, 200), 3), "
        "concat('svc-', toString(intDiv(number % 200, 5) % 4)), concat('host-', toString(intDiv(number % 200, 5))), "
        "['cpu', 'memory', 'disk', 'load', 'memory'][number % 5 + 1], "
        "['system.cpu.utilization', 'system.memory.utilization.used', 'system.filesystem.utilization', "
        "'system.cpu.load_average.1m', 'system.memory.usage.used'][number % 5 + 1], "
        "50 + 40 * sin(number / 9000), 'percent', '{}', 30 FROM numbers({rows:UInt64})",
        parameters={"start": start, "rows": minutes * 200},
    )
    client.command(
        "INSERT INTO blockchain_events (event_id, timestamp, service, event_type, contract_address, transaction_hash, "
        "block_number, log_index, decoded_data, raw_data, processed, processing_attempts, last_processing_error, "
        "metadata, retention_days) SELECT generateUUIDv4(), "
        "toDateTime64({start:UInt32} + intDiv(number * {seconds:UInt64}, {rows:UInt64}), 3), 'indexer', "
        "['Transfer', 'Approval', 'Swap'][number % 3 + 1], concat('0x', leftPad(hex(number % 20), 40, '0')), "
        "concat('0x', hex(sipHash128(number))), 19000000 + intDiv(number, 20) + if(number % 50000 = 7, 5, 0), "
        "toUInt32(number % 100), '{}', '', true, 0, '', '{}', 30 FROM numbers({rows:UInt64})",
        parameters={"start": start, "seconds": DAYS * 86400, "rows": 1_000_000},
    )


def timed(run: Callable[[], object], runs: int) -> tuple[float, float, float]:
    cold_start = time.perf_counter()
    run()
    cold = (time.perf_counter() - cold_start) * 1000
    warm = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        warm.append((time.perf_counter() - began) * 1000)
    warm.sort()
    return cold, statistics.median(warm), warm[min(len(warm) - 1, int(len(warm) * 0.95))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="lookout-bench-health-")
    dsn = f"chdb:///{home}/chdb"
    migrate_clickhouse(dsn)
    client = clickhouse.connect(dsn)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    began = time.perf_counter()
    generate(client, now)
    refresh(client, settle_s=0)
    print(f"generated and rolled up in {time.perf_counter() - began:.1f} s")
    print(f"{'panel':<28}{'range':>6}{'cold ms':>10}{'p50 ms':>9}{'p95 ms':>9}")
    for label, span in (("1h", timedelta(hours=1)), ("24h", timedelta(days=1)), ("7d", timedelta(days=DAYS))):
        start, step = now - span, max(60, int(span.total_seconds() // 120) // 60 * 60)
        system = SystemQuery(start, now)
        chain = ChainQuery(start, now)
        panels: dict[str, Callable[[], object]] = {
            "system instances": lambda q=system: system_metrics.latest(client, q),
            "system series (one metric)": lambda q=system, s=step: system_metrics.series(
                client, SystemQuery(q.start, q.end, metric="system.cpu.utilization"), s
            ),
            "system chart levels": lambda q=system: system_metrics.levels(
                client, SystemQuery(q.start, q.end, metric="system.cpu.utilization")
            ),
            "blockchain activity": lambda q=chain, s=step: blockchain.over_time(client, q, s),
            "blockchain blocks": lambda q=chain: blockchain.over_blocks(client, q),
            "blockchain contracts+gaps": lambda q=chain: (
                blockchain.contracts(client, q),
                blockchain.gaps(client, q, 1),
            ),
            "blockchain latest": lambda q=chain: blockchain.latest(client, q, 20),
            "blockchain gaps": lambda q=chain: blockchain.gaps(client, q, 1),
        }
        for name, run in panels.items():
            cold, p50, p95 = timed(run, args.runs)
            print(f"{name:<28}{label:>6}{cold:>10.0f}{p50:>9.0f}{p95:>9.0f}")


if __name__ == "__main__":
    main()
