"""Syslog over TCP: framing and message parsing (pure), and the listener that feeds the collector's intake."""
