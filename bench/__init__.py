"""Benchmarks: ``python -m bench.ingest`` and ``python -m bench.pipeline`` (results in docs/benchmarks.md)."""
