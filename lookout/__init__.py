"""Lookout's shared package: settings, the event contract, the local stack and the CLI."""

__version__ = "0.1.0"
