"""Alerts: rules, evaluation, incidents and notifications."""
