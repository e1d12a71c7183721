"""Lookout's base: settings, the event contract, Kafka records and topics, logging set-up.

Imports nothing of Lookout's above it (tests/unit/test_layers.py holds that).
"""

__version__ = "0.1.0"
