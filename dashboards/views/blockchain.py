"""Blockchain events: activity by event type over time and by contract over block numbers, the latest events
with their transaction hashes, and the gaps in each contract's blocks (warehouse/queries/blockchain.py
defines a gap). The page (/blockchain) and its JSON twins under /api/v1/blockchain (``register``)."""

from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
from flask import Blueprint, render_template, request

from dashboards.api_spec import ApiSpec
from dashboards.charts import PALETTE, Chart, Series, figure
from dashboards.models import health as models
from dashboards.models.panels import Cell, Column, Table
from dashboards.security import requires
from dashboards.shaping import fill_gaps
from dashboards.views.common import services, settings
from dashboards.views.health_panels import (
    answer,
    chart_query,
    page_filter,
    page_query,
    span_of,
    stacked_events,
    step_of,
    utc,
)
from warehouse.queries import blockchain
from warehouse.queries.blockchain import ChainQuery

bp = Blueprint("blockchain", __name__, url_prefix="/blockchain")


def _query(wanted: models.ChainFilter) -> ChainQuery:
    span = span_of(wanted)
    return ChainQuery(span.start, span.end, wanted.contract, wanted.event_type)


def _short(text: str, keep: int = 10) -> str:
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-6:]}"


def _page_link(**args: str) -> str:
    """The page filtered on one contract or type (the range stays as the page's)."""
    keep = {k: v for k, v in request.args.items() if k in ("from", "to")}
    return f"/blockchain?{urlencode({**keep, **args})}"


def _gap_counts(frame: pd.DataFrame) -> dict[str, tuple[int, int]]:
    if frame.empty:
        return {}
    grouped = frame.groupby("contract_address")["missing"].agg(["count", "sum"])
    return {contract: (int(row["count"]), int(row["sum"])) for contract, row in grouped.iterrows()}


def register(api: Blueprint, spec: ApiSpec) -> None:
    op = spec.operation

    @op(
        api, "/blockchain/activity", "GET", summary="Events per event type over time", role="viewer",
        tag="blockchain", query=models.ChainSeriesQuery, response=models.ChainActivity,
    )  # fmt: skip
    def blockchain_activity(query: models.ChainSeriesQuery) -> models.ChainActivity:
        span = span_of(query)
        step = step_of(query.step, span)

        def compute() -> tuple[models.ChainActivity, pd.DataFrame]:
            raw = blockchain.over_time(services().warehouse(), _query(query), step)
            frame = fill_gaps(raw, span.start, span.end, step, by=("event_type",), zero=("events",))
            drawn = stacked_events(frame, "event_type")
            data = [
                models.ActivityPoint(bucket=utc(r["bucket"]), event_type=r["event_type"], events=int(r["events"]))
                for r in frame.to_dict("records")
            ]
            return models.ChainActivity(figure=models.Figure(**drawn), step=step, data=data), frame

        answer("blockchain.activity", query, compute)

    @op(
        api, "/blockchain/blocks", "GET", summary="Events per block band and contract", role="viewer",
        tag="blockchain", query=models.ChainFilter, response=models.ChainBlocks,
    )  # fmt: skip
    def blockchain_blocks(query: models.ChainFilter) -> models.ChainBlocks:
        def compute() -> tuple[models.ChainBlocks, pd.DataFrame]:
            frame = blockchain.over_blocks(services().warehouse(), _query(query))
            # astype: an empty answer comes back as object columns, which nlargest refuses.
            top = frame.groupby("contract_address")["events"].sum().astype("int64").nlargest(len(PALETTE) - 1).index
            shown = frame.assign(
                contract=frame["contract_address"].where(frame["contract_address"].isin(top), "other contracts")
            )
            series = []
            for i, (name, group) in enumerate(shown.groupby("contract", sort=True)):
                summed = group.groupby("band")["events"].sum()
                bands, counts = [int(b) for b in summed.index], [int(v) for v in summed.tolist()]
                colour = PALETTE[i % len(PALETTE)]
                series.append(Series(name=_short(str(name)), x=bands, y=counts, kind="bar", colour=colour))
            chart = Chart(series=series, y_title="events", stacked=True, x_is_time=False, x_title="block number")
            drawn = figure(chart)
            drawn["layout"]["xaxis"]["tickformat"] = ",d"  # 19,000,020 rather than 19.00002M
            data = [
                models.BlockBand(band=int(r["band"]), width=int(r["width"]), contract_address=r["contract_address"],
                                 events=int(r["events"]))
                for r in frame.to_dict("records")
            ]  # fmt: skip
            return models.ChainBlocks(figure=models.Figure(**drawn), data=data), frame

        answer("blockchain.blocks", query, compute)

    @op(
        api, "/blockchain/contracts", "GET", summary="Per contract: events, types, blocks and gaps",
        role="viewer", tag="blockchain", query=models.ChainFilter, response=models.ChainContracts,
    )  # fmt: skip
    def blockchain_contracts(query: models.ChainFilter) -> models.ChainContracts:
        def compute() -> tuple[models.ChainContracts, pd.DataFrame]:
            client, wanted = services().warehouse(), _query(query)
            frame = blockchain.contracts(client, wanted)
            gaps = _gap_counts(blockchain.gaps(client, wanted, settings().blockchain_max_block_gap))
            rows = [
                models.ContractRow(
                    contract_address=r["contract_address"], events=int(r["events"]),
                    event_types=list(r["event_types"]), first_block=_int(r["first_block"]),
                    last_block=_int(r["last_block"]), last_seen=utc(r["last_seen"]),
                    gaps=gaps.get(r["contract_address"], (0, 0))[0],
                    missing_blocks=gaps.get(r["contract_address"], (0, 0))[1],
                )
                for r in frame.to_dict("records")
            ]  # fmt: skip
            columns = [
                Column(key="contract", label="Contract"), Column(key="types", label="Event types"),
                Column(key="events", label="Events", align="right"), Column(key="blocks", label="Blocks"),
                Column(key="gaps", label="Gaps", align="right"),
            ]  # fmt: skip
            cells = [
                {
                    "contract": Cell(text=_short(r.contract_address), title=r.contract_address,
                                     href=_page_link(contract=r.contract_address)),
                    "types": Cell(text=", ".join(r.event_types)),
                    "events": Cell(text=f"{r.events:,}"),
                    "blocks": Cell(text=f"{r.first_block:,} – {r.last_block:,}" if r.first_block is not None else "–"),
                    "gaps": Cell(text=f"{r.gaps} ({r.missing_blocks:,} blocks)" if r.gaps else "0",
                                 tone="danger" if r.gaps else "ok"),
                }
                for r in rows
            ]  # fmt: skip
            table = Table(columns=columns, rows=cells, empty="No blockchain events in this range.")
            return models.ChainContracts(table=table, data=rows), frame.assign(
                event_types=frame["event_types"].map(lambda types: " ".join(types))
            )

        answer("blockchain.contracts", query, compute)

    @op(
        api, "/blockchain/latest", "GET", summary="The latest events with their transaction hashes",
        role="viewer", tag="blockchain", query=models.ChainLatestQuery, response=models.ChainLatest,
    )  # fmt: skip
    def blockchain_latest(query: models.ChainLatestQuery) -> models.ChainLatest:
        def compute() -> tuple[models.ChainLatest, pd.DataFrame]:
            frame = blockchain.latest(services().warehouse(), _query(query), query.limit)
            rows = [
                models.ChainEvent(
                    timestamp=utc(r["timestamp"]), event_id=str(r["event_id"]), contract_address=r["contract_address"],
                    event_type=r["event_type"], block_number=_int(r["block_number"]), log_index=_int(r["log_index"]),
                    transaction_hash=r["transaction_hash"], processed=bool(r["processed"]),
                )
                for r in frame.to_dict("records")
            ]  # fmt: skip
            columns = [
                Column(key="time", label="Time (UTC)"), Column(key="type", label="Event"),
                Column(key="contract", label="Contract"), Column(key="block", label="Block", align="right"),
                Column(key="tx", label="Transaction"),
            ]  # fmt: skip
            cells = [
                {
                    "time": Cell(text=r.timestamp.strftime("%Y-%m-%d %H:%M:%S")),
                    "type": Cell(text=r.event_type, tone=None if r.processed else "muted",
                                 title=None if r.processed else "not processed yet"),
                    "contract": Cell(text=_short(r.contract_address), title=r.contract_address,
                                     href=_page_link(contract=r.contract_address)),
                    "block": Cell(text="–" if r.block_number is None else f"{r.block_number:,}"),
                    "tx": Cell(text=_short(r.transaction_hash, 14), title=r.transaction_hash),
                }
                for r in rows
            ]  # fmt: skip
            table = Table(columns=columns, rows=cells, empty="No blockchain events in this range.")
            return models.ChainLatest(table=table, data=rows), frame

        answer("blockchain.latest", query, compute)

    @op(
        api, "/blockchain/gaps", "GET", summary="Gaps in each contract's block numbers (missed events)",
        role="viewer", tag="blockchain", query=models.ChainFilter, response=models.ChainGaps,
    )  # fmt: skip
    def blockchain_gaps(query: models.ChainFilter) -> models.ChainGaps:
        max_gap = settings().blockchain_max_block_gap

        def compute() -> tuple[models.ChainGaps, pd.DataFrame]:
            frame = blockchain.gaps(services().warehouse(), _query(query), max_gap)
            rows = [
                models.Gap(
                    contract_address=r["contract_address"], before_block=int(r["before_block"]),
                    after_block=int(r["after_block"]), missing=int(r["missing"]),
                    before_seen=utc(r["before_seen"]), after_seen=utc(r["after_seen"]),
                )
                for r in frame.to_dict("records")
            ]  # fmt: skip
            columns = [
                Column(key="contract", label="Contract"), Column(key="between", label="Between blocks"),
                Column(key="missing", label="Missing", align="right"), Column(key="seen", label="Seen (UTC)"),
            ]  # fmt: skip
            cells = [
                {
                    "contract": Cell(text=_short(r.contract_address), title=r.contract_address,
                                     href=_page_link(contract=r.contract_address)),
                    "between": Cell(text=f"{r.before_block:,} → {r.after_block:,}"),
                    "missing": Cell(text=f"{r.missing:,}", tone="danger"),
                    "seen": Cell(text=f"{r.before_seen:%H:%M:%S} → {r.after_seen:%H:%M:%S}",
                                 title=f"{r.before_seen:%Y-%m-%d %H:%M:%S} → {r.after_seen:%Y-%m-%d %H:%M:%S}"),
                }
                for r in rows
            ]  # fmt: skip
            empty = f"No gaps: every contract's consecutive blocks are at most {max_gap} apart in this range."
            table = Table(columns=columns, rows=cells, empty=empty)
            return models.ChainGaps(table=table, max_gap=max_gap, data=rows), frame

        answer("blockchain.gaps", query, compute)


def _int(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)  # type: ignore[arg-type]


@bp.get("")
@requires("viewer")
def index() -> str:
    wanted, step = page_filter(models.ChainFilter)
    span = span_of(wanted)
    shared = page_query(span, contract=wanted.contract, event_type=wanted.event_type)
    return render_template(
        "blockchain.html", span=span, filters=wanted, shared=shared, activity_args=chart_query(shared, step),
        max_gap=settings().blockchain_max_block_gap,
    )  # fmt: skip
