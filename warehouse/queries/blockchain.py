"""Blockchain events for the blockchain page: activity by type, contract and block, the latest events and the
gaps in each contract's blocks. Building each statement is pure; values travel as parameters. Every read
uses FINAL, so a re-delivered event is counted once (docs/architecture.md, "Delivery").

A **gap** is a pair of consecutive block numbers observed for one contract within the range, ``before`` <
``after``, with ``after - before > max_gap``: the blocks strictly between them are the ones missing (events
the indexer may have missed). Consecutive means no event of that contract, of any type, carried a block
number in between; events without a block number are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from warehouse.queries.frames import query_frame

MAX_GAPS = 200
MAX_CONTRACTS = 200
BLOCK_BARS = 60
_T = "{%s:DateTime64(3, 'UTC')}"


@dataclass(frozen=True)
class ChainQuery:
    start: datetime
    end: datetime
    contract: str | None = None
    event_type: str | None = None


def _where(query: ChainQuery) -> tuple[str, dict[str, Any]]:
    parts = [f"timestamp >= {_T % 'start'}", f"timestamp < {_T % 'end'}"]
    params: dict[str, Any] = {"start": query.start, "end": query.end}
    if query.contract:
        parts.append("contract_address = {contract:String}")
        params["contract"] = query.contract
    if query.event_type:
        parts.append("event_type = {event_type:String}")
        params["event_type"] = query.event_type
    return " AND ".join(parts), params


def build_over_time(query: ChainQuery, step_s: int) -> tuple[str, dict[str, Any]]:
    where, params = _where(query)
    sql = (
        "SELECT toStartOfInterval(timestamp, toIntervalSecond({step:UInt32})) AS bucket, event_type, "
        f"count() AS events FROM blockchain_events FINAL WHERE {where} "
        "GROUP BY bucket, event_type ORDER BY bucket, event_type"
    )
    return sql, {**params, "step": step_s}


def build_over_blocks(query: ChainQuery) -> tuple[str, dict[str, Any]]:
    """Events per block band (about BLOCK_BARS bands over the blocks seen) and contract."""
    where, params = _where(query)
    blocks = f"FROM blockchain_events FINAL WHERE {where} AND isNotNull(block_number)"
    sql = (
        f"WITH (SELECT intDiv(max(block_number) - min(block_number), {BLOCK_BARS}) + 1 {blocks}) AS width "
        "SELECT intDiv(assumeNotNull(block_number), width) * width AS band, width, contract_address, "
        f"count() AS events {blocks} GROUP BY band, width, contract_address ORDER BY band, contract_address"
    )
    return sql, params


def build_contracts(query: ChainQuery) -> tuple[str, dict[str, Any]]:
    where, params = _where(query)
    sql = (
        "SELECT contract_address, count() AS events, arraySort(groupUniqArray(event_type)) AS event_types, "
        "min(block_number) AS first_block, max(block_number) AS last_block, max(timestamp) AS last_seen "
        f"FROM blockchain_events FINAL WHERE {where} GROUP BY contract_address "
        "ORDER BY events DESC, contract_address LIMIT {limit:UInt32}"
    )
    return sql, {**params, "limit": MAX_CONTRACTS}


def build_latest(query: ChainQuery, limit: int) -> tuple[str, dict[str, Any]]:
    where, params = _where(query)
    sql = (
        "SELECT timestamp, event_id, contract_address, event_type, block_number, log_index, transaction_hash, "
        f"processed FROM blockchain_events FINAL WHERE {where} "
        "ORDER BY timestamp DESC, event_id DESC LIMIT {limit:UInt32}"
    )
    return sql, {**params, "limit": limit}


def build_gaps(query: ChainQuery, max_gap: int) -> tuple[str, dict[str, Any]]:
    """The newest MAX_GAPS gaps (see the module's definition), with when each side was seen."""
    where, params = _where(query)
    blocks = (
        "SELECT contract_address, assumeNotNull(block_number) AS block, min(timestamp) AS seen "
        f"FROM blockchain_events FINAL WHERE {where} AND isNotNull(block_number) "
        "GROUP BY contract_address, block"
    )
    window = "OVER (PARTITION BY contract_address ORDER BY block ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"
    sql = (
        "SELECT contract_address, before_block, block AS after_block, block - before_block - 1 AS missing, "
        "before_seen, seen AS after_seen FROM ("
        f"SELECT contract_address, block, seen, lagInFrame(block) {window} AS before_block, "
        f"lagInFrame(seen) {window} AS before_seen, row_number() {window} AS position FROM ({blocks})"
        ") WHERE position > 1 AND block - before_block > {max_gap:UInt64} "
        "ORDER BY after_seen DESC, contract_address LIMIT {limit:UInt32}"
    )
    return sql, {**params, "max_gap": max_gap, "limit": MAX_GAPS}


OVER_TIME_COLUMNS = ("bucket", "event_type", "events")
OVER_BLOCKS_COLUMNS = ("band", "width", "contract_address", "events")
CONTRACT_COLUMNS = ("contract_address", "events", "event_types", "first_block", "last_block", "last_seen")
LATEST_COLUMNS = (
    "timestamp", "event_id", "contract_address", "event_type", "block_number", "log_index", "transaction_hash",
    "processed",
)  # fmt: skip
GAP_COLUMNS = ("contract_address", "before_block", "after_block", "missing", "before_seen", "after_seen")


def over_time(client: Client, query: ChainQuery, step_s: int) -> pd.DataFrame:
    return query_frame(client, build_over_time(query, step_s), OVER_TIME_COLUMNS)


def over_blocks(client: Client, query: ChainQuery) -> pd.DataFrame:
    return query_frame(client, build_over_blocks(query), OVER_BLOCKS_COLUMNS)


def contracts(client: Client, query: ChainQuery) -> pd.DataFrame:
    return query_frame(client, build_contracts(query), CONTRACT_COLUMNS)


def latest(client: Client, query: ChainQuery, limit: int) -> pd.DataFrame:
    return query_frame(client, build_latest(query, limit), LATEST_COLUMNS)


def gaps(client: Client, query: ChainQuery, max_gap: int) -> pd.DataFrame:
    return query_frame(client, build_gaps(query, max_gap), GAP_COLUMNS)
