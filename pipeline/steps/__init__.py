"""The steps a sink's consumer is made of: batch -> write -> dead-letter -> commit.

Each step takes what the one before it hands on (``submit``), does its one thing and hands the
result to the next. The chain is assembled in one place (pipeline/runner.py: ``sink_consumer``)
and driven by pipeline/consumer.py, which alone talks to Kafka. The interface and what the steps
share are in :mod:`pipeline.steps.base`.
"""
