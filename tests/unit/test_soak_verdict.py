"""The fault soak's pure parts: its verdict over a census, and its fault schedule scaled to the duration."""

from __future__ import annotations

from collections import Counter
from unittest.mock import Mock

from bench.soak import Census, Fault, Ledger, Platform, judge, schedule


def ledger(acked: list[str], unacked: tuple[str, ...] = ()) -> Ledger:
    book = Ledger()
    for event_id in [*acked, *unacked]:
        book.sent[event_id] = "log"
    book.acked_ms.update(dict.fromkeys(acked, 1_000))
    return book


def census(visible: dict[str, int], stored: dict[str, int] | None = None) -> Census:
    result = Census()
    for event_id, copies in visible.items():
        result.add("logs", event_id, copies, (stored or {}).get(event_id, copies), 1_500)
    return result


def done(name: str = "restart collector") -> Fault:
    return Fault(name, 0.0, lambda: "", started_s=0.0, recovered_s=1.0)


DRAINED = {"clickhouse": 0, "postgres": 0}


def test_every_acknowledged_event_once_passes_and_reports_its_figures() -> None:
    verdict = judge(ledger(["a", "b"], ["c"]), census({"a": 1, "b": 1, "c": 1}, {"a": 2}), {}, [done()], DRAINED, [])
    assert verdict.ok, verdict.lines
    figures = verdict.figures
    assert (figures["events_sent"], figures["events_acknowledged"]) == (3, 2)
    assert figures["stored_duplicate_rows"] == 1  # a copy FINAL collapses is reported, not failed
    assert figures["sent_not_acknowledged_but_present"] == 1  # a 503 whose events were stored after all
    assert figures["freshness_lag_worst_s"] == 0.5


def test_a_missing_or_doubled_acknowledged_event_fails() -> None:
    missing = judge(ledger(["a", "b"]), census({"a": 1}), {}, [done()], DRAINED, [])
    doubled = judge(ledger(["a", "b"]), census({"a": 1, "b": 2}), {}, [done()], DRAINED, [])
    assert not missing.ok and "1 acknowledged events are neither stored nor dead-lettered" in missing.lines[-1]
    assert not doubled.ok and "visible more than once" in doubled.lines[-1]


def test_a_dead_lettered_event_counts_only_with_a_reason() -> None:
    with_reason = judge(ledger(["a", "b"]), census({"a": 1}), {"b": "rejected by logs: bad"}, [done()], DRAINED, [])
    without = judge(ledger(["a", "b"]), census({"a": 1}), {"b": ""}, [done()], DRAINED, [])
    assert with_reason.ok, with_reason.lines
    assert not without.ok and "carry no reason" in without.lines[-1]


def test_a_fault_that_failed_or_never_ran_an_undrained_pipeline_or_a_crash_fails_the_run() -> None:
    good = (ledger(["a"]), census({"a": 1}), {})
    broken = done()
    broken.error = "RuntimeError: Redis never refused a write"
    never = Fault("stop PostgreSQL 20s", 500.0, lambda: "")
    assert not judge(*good, [broken], DRAINED, []).ok
    assert not judge(*good, [never], DRAINED, []).ok
    assert not judge(*good, [done()], {"clickhouse": 3, "postgres": 0}, []).ok
    assert not judge(*good, [done()], DRAINED, ["the pipeline exited by itself with status 1"]).ok
    assert not judge(ledger([]), census({}), {}, [done()], DRAINED, []).ok  # nothing acknowledged proves nothing


def test_the_schedule_hits_every_fault_once_a_minute_and_repeats_per_five_minutes() -> None:
    platform = Mock(spec=Platform)  # the actions are only called by the runner, not here
    smoke = schedule(platform, 60)
    ten = schedule(platform, 600)
    kinds = Counter(f.name.split(" ")[0] + f.name.split(" ")[1] for f in smoke)
    assert len(smoke) == 6 and kinds["SIGKILLpipeline"] == 2
    assert [f.at_s for f in smoke] == sorted(f.at_s for f in smoke) and smoke[-1].at_s < 60
    assert len(ten) == 12 and ten[6].at_s >= 300 and ten[-1].at_s < 600
    assert "stop PostgreSQL 9s" in [f.name for f in smoke]  # shorter outages in a short run
    assert "stop PostgreSQL 20s" in [f.name for f in ten]
