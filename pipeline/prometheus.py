"""Prometheus metrics of the pipeline, read from each consumer's live status."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipeline.consumer import StreamDriver


class PipelineCollector(Collector):
    def __init__(self, consumers: Iterable[StreamDriver]) -> None:
        self._consumers = list(consumers)

    def collect(self) -> Iterator[Metric]:
        rows = CounterMetricFamily("lookout_pipeline_rows_written", "Rows durably written, by sink", labels=["sink"])
        dead = CounterMetricFamily(
            "lookout_pipeline_dead_letters", "Events sent to the dead-letter topic, by sink", labels=["sink"]
        )
        retries = CounterMetricFamily("lookout_pipeline_retries", "Failed writes retried, by sink", labels=["sink"])
        paused = GaugeMetricFamily(
            "lookout_pipeline_sink_paused", "1 while the sink is unavailable and consumption is paused", labels=["sink"]
        )
        lag = GaugeMetricFamily(
            "lookout_pipeline_consumer_lag",
            "Records not yet consumed, per partition",
            labels=["sink", "topic", "partition"],
        )
        for consumer in self._consumers:
            status = consumer.status
            rows.add_metric([status.name], status.rows_written)
            dead.add_metric([status.name], status.dead_lettered)
            retries.add_metric([status.name], status.retries)
            paused.add_metric([status.name], 1.0 if status.paused else 0.0)
            for key, behind in dict(status.lag).items():
                topic, _, partition = key.rpartition(":")
                lag.add_metric([status.name, topic, partition], behind)
        yield from (rows, dead, retries, paused, lag)
