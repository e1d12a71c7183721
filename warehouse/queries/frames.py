"""Query results as pandas frames (clickhouse-connect's ``query_df``) for the dashboards' panels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client


def query_frame(client: Client, built: tuple[str, dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """The rows of ``built`` (sql, parameters); an empty answer still has ``columns``, which chDB leaves out."""
    found = client.query_df(built[0], parameters=built[1])
    return found if len(found.columns) else pd.DataFrame(columns=list(columns))
