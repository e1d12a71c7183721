"""bench.ingest's pure parts: the order of the routes' windows, their per-round ratios to the native route,
syslog events bucketed into windows, and the load generator's reading of a _bulk answer."""

from __future__ import annotations

import orjson
import pytest

from bench.ingest import Result, _bulk_accepted, events_in_windows, round_order, summarize_routes


def window(route: str, round_: int, events_per_s: float, cores: float = 1.0, run: int = 1,
           config: str = "c", failures: dict[int, int] | None = None) -> Result:
    return Result(config=config, batch=1000, run=run, max_events_per_s=events_per_s, max_requests_per_s=0.0,
                  closed_p50_ms=0.0, closed_p99_ms=0.0, closed_failures=failures or {},
                  cpu_cores={"collector": cores}, route=route, round=round_)


def test_odd_rounds_keep_the_order_even_ones_reverse_it() -> None:
    routes = ["events", "bulk", "loki", "syslog"]
    assert [round_order(routes, n) for n in (1, 2, 3)] == [routes, routes[::-1], routes]


def test_each_window_is_compared_with_the_native_window_of_its_round() -> None:
    # Native drifts 100k -> 50k -> 80k; bulk stays at 70-80% of it round by round.
    results = [window("events", 1, 100_000, 2.0), window("bulk", 1, 70_000, 2.0),
               window("bulk", 2, 40_000, 1.0), window("events", 2, 50_000, 1.0),
               window("events", 3, 80_000, 2.0), window("bulk", 3, 60_000, 1.5, failures={0: 1, 503: 2})]
    native, bulk = summarize_routes(results)
    assert (native.route, native.median_ratio, native.min_ratio, native.max_ratio) == ("events", 1, 1, 1)
    assert native.median_events_per_s == 80_000
    assert bulk.route == "bulk" and bulk.windows == 3
    assert bulk.median_events_per_s == 60_000
    assert (bulk.median_ratio, bulk.min_ratio, bulk.max_ratio) == pytest.approx((0.75, 0.7, 0.8))
    # Per core: 35k/50k, 40k/50k, 40k/40k.
    assert bulk.median_core_ratio == pytest.approx(0.8)
    assert bulk.median_cores == 1.5
    assert bulk.failures == 3


def test_runs_and_configurations_are_summarized_apart() -> None:
    results = [window("events", 1, 100, run=1), window("loki", 1, 90, run=1),
               window("events", 1, 200, run=2), window("loki", 1, 100, run=2),
               window("events", 1, 100, config="d"), window("loki", 1, 60, config="d")]
    ratios = {(s.config, s.run, s.route): s.median_ratio for s in summarize_routes(results)}
    assert ratios[("c", 1, "loki")] == pytest.approx(0.9)
    assert ratios[("c", 2, "loki")] == pytest.approx(0.5)
    assert ratios[("d", 1, "loki")] == pytest.approx(0.6)


def test_no_ratio_without_a_native_window_that_took_events() -> None:
    results = [window("bulk", 1, 100), window("events", 2, 0, cores=0.0), window("bulk", 2, 100)]
    (bulk, _native) = summarize_routes(results)
    assert bulk.median_events_per_s == 100
    assert (bulk.median_ratio, bulk.min_ratio, bulk.max_ratio, bulk.median_core_ratio) == (None, None, None, None)


def test_records_are_counted_in_the_window_they_were_created_in() -> None:
    windows = [(10.0, 12.0), (20.0, 22.0), (14.0, 16.0)]  # not in time order: results keep theirs
    records = [(9_999, 1), (10_000, 2), (11_999, 4), (12_000, 8), (15_000, 16), (21_000, 32), (22_000, 64),
               (5_000, 128)]
    assert events_in_windows(records, windows) == [2 + 4, 32, 16]
    assert events_in_windows([], windows) == [0, 0, 0]


def _answer(errors: bool, statuses: list[int], first: str = "took") -> bytes:
    items = [{"create": {"_index": "logs", "status": status}} for status in statuses]
    body = {"took": 3, "errors": errors, "items": items}
    if first == "items":  # another server's key order: the head says nothing about errors
        body = {"items": items, "errors": errors, "took": 3}
    return orjson.dumps(body)


def test_an_answer_without_errors_accepts_every_event_sent() -> None:
    assert _bulk_accepted(_answer(False, [201] * 3), 3) == 3


def test_an_answer_with_errors_counts_the_items_stored() -> None:
    assert _bulk_accepted(_answer(True, [201, 400, 429, 200]), 4) == 2


def test_errors_after_the_items_are_still_read() -> None:
    assert _bulk_accepted(_answer(True, [201, 400], first="items"), 2) == 1
    assert _bulk_accepted(_answer(False, [201, 201], first="items"), 2) == 2
