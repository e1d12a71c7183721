"""Alerts: the scheduler that evaluates threshold rules and notifies on-call people."""
