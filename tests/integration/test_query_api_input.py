"""GET /api/v1/logs with hostile query strings: a 400 naming the parameter, never a 500."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"limit": "²"}, "limit"),
        ({"limit": "9" * 5000}, "limit"),
        ({"from": "0001-01-01T00:00:00+01:00"}, "from"),
        ({"to": "9999-12-31T23:59:59-01:00"}, "to"),
        # Valid for Python, out of the range of the timestamp column: ClickHouse refuses the parameter.
        ({"from": "0001-01-01T00:00:00Z"}, "start"),
    ],
    ids=["superscript-limit", "5000-digit-limit", "from-before-year-1-in-utc", "to-after-9999-in-utc",
         "from-out-of-clickhouse-range"],
)
def test_logs_api_answers_400_naming_the_parameter(dashboards_url, query_key, params, fragment):
    r = requests.get(
        f"{dashboards_url}/api/v1/logs", params=params, headers={"Authorization": f"Bearer {query_key}"}, timeout=30
    )
    assert r.status_code == 400, r.text
    assert fragment in r.json()["error"]
