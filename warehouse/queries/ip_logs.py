"""The logs that mention one IP address, for the security page's address history.

Two reads, newest first, merged: the explorer's own search (``ip_address:"X" OR "X"``: the log's address
column, or the address anywhere in its message), so the page can link to the same query in the explorer;
and the logs whose metadata holds the address as a JSON string value (any key), which the search language
cannot express (it matches metadata by key).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from warehouse.queries import explorer
from warehouse.queries.explorer import Search

COLUMNS = ("service", "instance", "level", "message", "ip_address", "endpoint", "request_id", "metadata")


def explorer_text(ip: str) -> str:
    """The explorer query for the address (``ip`` must be an address: it is quoted, never parsed as syntax)."""
    canonical = str(ipaddress.ip_address(ip))
    return f'ip_address:"{canonical}" OR "{canonical}"'


def build_metadata(ip: str, start: datetime, end: datetime, limit: int) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"start": explorer.ms(start), "end": explorer.ms(end), "needle": orjson.dumps(ip).decode()}
    sql = (
        f"SELECT timestamp, event_id, {', '.join(COLUMNS)} FROM logs FINAL "
        "WHERE timestamp >= fromUnixTimestamp64Milli({start:Int64}, 'UTC') "
        "AND timestamp < fromUnixTimestamp64Milli({end:Int64}, 'UTC') AND position(metadata, {needle:String}) > 0 "
        "ORDER BY timestamp DESC, event_id DESC LIMIT {limit:UInt32}"
    )
    return sql, {**params, "limit": limit}


def for_ip(client: Client, ip: str, start: datetime, end: datetime, limit: int = 100) -> list[dict[str, Any]]:
    """Up to ``limit`` logs mentioning ``ip`` in [start, end), newest first, each once."""
    canonical = str(ipaddress.ip_address(ip))
    found = explorer.search_page(client, Search.parse(explorer_text(canonical), start, end), COLUMNS, limit).rows
    sql, params = build_metadata(canonical, start, end, limit)
    result = client.query(sql, parameters=params, settings=explorer.SETTINGS)
    for values in result.result_rows:
        row = dict(zip(result.column_names, values, strict=True))
        found.append({**row, "timestamp": explorer.utc(row["timestamp"])})
    unique = {str(row["event_id"]): row for row in found}
    return sorted(unique.values(), key=lambda row: (row["timestamp"], str(row["event_id"])), reverse=True)[:limit]
