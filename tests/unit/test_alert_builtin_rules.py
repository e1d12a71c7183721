"""The built-in rules seeded by migration 0011 are valid rules, with the interval column matching."""

from __future__ import annotations

import json
import re

from alerts.rules import parse_rule
from warehouse.migrate import MIGRATIONS_DIR

SEED = MIGRATIONS_DIR / "postgres" / "0011_builtin_alert_rules.sql"
ROW = re.compile(r"^\('([a-z0-9-]+)', '(.*)', (\d+), true, 'lookout'\),?$", re.MULTILINE)


def test_every_builtin_rule_is_valid_and_its_columns_agree():
    rows = ROW.findall(SEED.read_text())
    assert len(rows) == 8
    names = set()
    for name, definition, interval in rows:
        rule = parse_rule(json.loads(definition.replace("''", "'")), SEED.name, 0)
        assert rule.name == name
        assert rule.interval_s == int(interval)
        assert rule.enabled
        names.add(name)
    assert names == {
        "api-error-rate-high", "api-latency-p95-high", "security-critical-burst", "failed-logins-one-ip",
        "service-silent", "collector-rejecting-events", "pipeline-lag-growing", "dead-letters-appearing",
    }  # fmt: skip
