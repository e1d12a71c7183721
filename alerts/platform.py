"""Lookout's own health for `platform` rules, from the Prometheus metrics its components already export.

Chosen because it is the cheapest source that exists in both deployment
modes: the collector's /metrics (rejected events, summed over gunicorn
workers) and the pipeline's (consumer lag per partition, dead letters) are
scraped over HTTP, no extra query against Kafka or the warehouse. Counters
become "increase since the previous evaluation" from the sample the rule
remembers; a counter that went down (a restart) counts from zero. Pure apart
from :func:`scrape`, which the rules (alerts/evaluation.py) and the overview's
platform-health panel share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import requests
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class PlatformMetric:
    family: str  # the metric family name as the parser reports it (counters without _total)
    counter: bool


PLATFORM = {
    "collector_rejected": PlatformMetric("lookout_collector_events_rejected", counter=True),
    "pipeline_lag": PlatformMetric("lookout_pipeline_consumer_lag", counter=False),
    "dead_letters": PlatformMetric("lookout_pipeline_dead_letters", counter=True),
}


def scrape(urls: Iterable[str], timeout_s: float = 2.0) -> tuple[list[str], list[str]]:
    """(the expositions that answered, one error per URL that did not)."""
    texts, errors = [], []
    for url in urls:
        try:
            response = requests.get(url, timeout=timeout_s)
            response.raise_for_status()
            texts.append(response.text)
        except requests.RequestException as exc:
            errors.append(f"{url}: {exc}")
    return texts, errors


def samples(texts: Iterable[str], family_name: str, counter: bool) -> list[tuple[dict[str, str], float]]:
    """Every sample (labels, value) of one family over every exposition."""
    found = []
    for text in texts:
        for family in text_string_to_metric_families(text):
            if family.name != family_name:
                continue
            for sample in family.samples:
                if counter and not sample.name.endswith("_total"):
                    continue  # a counter's _created sample is a timestamp, not a count
                found.append((dict(sample.labels), sample.value))
    return found


def total(texts: Iterable[str], metric: str) -> float | None:
    """The sum of a metric's samples over every scraped exposition; None when no exposition has it."""
    spec = PLATFORM[metric]
    found = samples(texts, spec.family, spec.counter)
    return sum(value for _, value in found) if found else None


def value_now(metric: str, current: float | None, memo: Mapping[str, float]) -> tuple[float | None, dict[str, float]]:
    """(the rule's value, the memo to keep): a gauge as it is, a counter as its increase since the memo."""
    if current is None:
        return None, dict(memo)
    if not PLATFORM[metric].counter:
        return current, {}
    previous = memo.get(metric)
    new_memo = {metric: current}
    if previous is None:
        return None, new_memo  # the first sample has nothing to compare with: no data yet
    return (current - previous if current >= previous else current), new_memo
