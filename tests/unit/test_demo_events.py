"""The demo's events: valid under the contract, and machines whose gauges drift within their bounds."""

import itertools
import random
import time
import uuid
from collections import Counter, defaultdict

from app.demo import GAUGES, events
from lookout.contract.event import validate_event


def _sample(n: int) -> list[dict]:
    out = []
    for event in itertools.islice(events(random.Random(7)), n):
        # The shipper adds an id and a timestamp to each event it sends.
        out.append({**event, "event_id": str(uuid.uuid4()), "timestamp": int(time.time() * 1000)})
    return out


def test_every_demo_event_passes_the_contract():
    now_ms = int(time.time() * 1000)
    kinds = Counter(validate_event(event, now_ms).kind for event in _sample(20_000))
    assert set(kinds) == {"api_metric", "log", "system_metric", "blockchain_event", "security_event", "admin_audit"}


def test_each_instance_reports_every_gauge_and_its_values_drift_within_bounds():
    series: dict[tuple[str, str], list[float]] = defaultdict(list)
    for event in _sample(20_000):
        if event["kind"] == "system_metric":
            assert event["instance"].startswith(event["service"] + "-")
            series[(event["instance"], event["metric_name"])].append(event["value"])
    bounds = {name: limits for _, name, _, _, _, limits in GAUGES}
    assert {name for _, name in series} == set(bounds)
    assert len({instance for instance, _ in series}) == 12
    for (_, name), values in series.items():
        low, high = bounds[name]
        assert all(low <= v <= high for v in values)
        # A walk: consecutive samples stay near each other (a uniform draw over the range would not).
        steps = [abs(b - a) for a, b in itertools.pairwise(values)]
        assert max(steps, default=0) < (high - low) / 3, (name, steps)


def test_blocks_follow_each_other_with_an_occasional_gap_in_every_contract():
    chain = [e for e in _sample(40_000) if e["kind"] == "blockchain_event"]
    by_contract: dict[str, list[int]] = defaultdict(list)
    for event in chain:
        by_contract[event["contract_address"]].append(event["block_number"])
    assert len(by_contract) == 3 and len({tuple(blocks) for blocks in by_contract.values()}) == 1
    blocks = next(iter(by_contract.values()))
    steps = Counter(b - a for a, b in itertools.pairwise(blocks))
    assert min(steps) == 1 and steps[1] > 0.9 * len(blocks) and sum(n for step, n in steps.items() if step > 1) > 0
