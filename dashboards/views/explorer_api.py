"""The log explorer's JSON API under /api/v1/explore: search pages, histogram, facets, request pivot, one event,
context, tail (a read, or a Server-Sent Events stream), export (CSV or NDJSON, streamed) and saved views.

The explorer page reads exactly this API. Reads are open to viewers and to API keys with the query scope
(as /api/v1/logs); saved views are the signed-in account's own.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from flask import Blueprint, Response, current_app, stream_with_context

from access import db
from access.audit import Actor, Change, audited
from access.errors import AccessError, Conflict, NotFound
from dashboards import charts
from dashboards.api_spec import ApiSpec
from dashboards.models import explorer as models
from dashboards.models.panels import Figure
from dashboards.params import BadParameter
from dashboards.security import actor, json_error
from dashboards.views import explorer_state as state
from dashboards.views.common import me, services, settings
from lookout.settings import Settings
from warehouse import clickhouse
from warehouse.queries import explorer, saved_views
from warehouse.queries.explorer import Cursor
from warehouse.queries.search_language import SearchError

TAG = "explorer"
PIVOT_FROM = "now-7d"
TAIL_POLL_S = 0.5  # with the pipeline's batch wait, a new event shows within ~1 s of the collector's 202
TAIL_KEEPALIVE_S = 15.0  # a comment line now and then, so a closed tab is noticed and its thread freed
READ = {"role": "viewer", "api_key_scope": "query", "tag": TAG}


def register(bp: Blueprint, spec: ApiSpec) -> None:
    op = spec.operation
    bp.register_error_handler(SearchError, _search_error)

    @op(bp, "/explore/search", "GET", summary="One page of matching logs, newest first (keyset paging)",
        query=models.SearchQuery, response=models.SearchPage, **READ)  # fmt: skip
    def explore_search(query: models.SearchQuery) -> models.SearchPage:
        span = state.time_range(query.from_, query.to, datetime.now(UTC))
        search = state.search(query.q, span)
        chosen = state.columns(query.columns)
        older, newer = state.cursor("older", query.older), state.cursor("newer", query.newer)
        if older and newer:
            raise BadParameter("older: send older or newer, not both")
        page_size = state.limit("limit", query.limit, 100, explorer.MAX_PAGE)
        with clickhouse.translated():
            page = explorer.search_page(services().warehouse(), search, chosen, page_size, older, newer)
        return models.SearchPage(
            query=search.text,
            start=search.start,
            end=search.end,
            columns=["timestamp", "event_id", *[c for c in chosen if c not in ("timestamp", "event_id")]],
            rows=[jsonable(row) for row in page.rows],
            older=page.older.encode() if page.older else None,
            newer=page.newer.encode() if page.newer else None,
        )

    @op(bp, "/explore/histogram", "GET", summary="Matching logs over the range, per level, in 60-120 bars",
        query=models.Query, response=models.Histogram, **READ)  # fmt: skip
    def explore_histogram(query: models.Query) -> models.Histogram:
        search = state.search(query.q, state.time_range(query.from_, query.to, datetime.now(UTC)))
        with clickhouse.translated():
            found = explorer.histogram(services().warehouse(), search)
        return models.Histogram(
            step_s=found.step_s,
            from_rollups=found.from_rollups,
            total=found.total,
            bars=[models.Bar(start=bar.start, counts=bar.counts) for bar in found.bars],
            figure=Figure(**histogram_figure(found)),
        )

    @op(bp, "/explore/facets", "GET", summary="Top values of service, level, category, instance and pinned keys",
        query=models.FacetsQuery, response=models.Facets, **READ)  # fmt: skip
    def explore_facets(query: models.FacetsQuery) -> models.Facets:
        search = state.search(query.q, state.time_range(query.from_, query.to, datetime.now(UTC)))
        pins = state.pinned(query.pinned)
        top = state.limit("top", query.top, 10, 100)
        with clickhouse.translated():
            found = explorer.facets(services().warehouse(), search, [*explorer.FACETS, *pins], top)
        return models.Facets(
            facets=[
                models.Facet(
                    field=name, pinned=name in pins, values=[models.FacetValue(value=v, count=n) for v, n in values]
                )
                for name, values in found.items()
            ]
        )

    @op(bp, "/explore/pivot", "GET", summary="Every event of any kind carrying a request or correlation id",
        query=models.PivotQuery, response=models.Pivot, **READ)  # fmt: skip
    def explore_pivot(query: models.PivotQuery) -> models.Pivot:
        span = state.time_range(query.from_, query.to, datetime.now(UTC), PIVOT_FROM)
        with clickhouse.translated():
            from_logs = explorer.pivot_clickhouse(services().warehouse(), query.id, span.start, span.end)
        with db.transaction(settings()) as conn:
            from_records = explorer.pivot_postgres(conn, query.id, span.start, span.end)
        events = explorer.merge_timeline(from_logs, from_records)
        kinds: dict[str, int] = {}
        for event in events:
            kinds[event.kind] = kinds.get(event.kind, 0) + 1
        return models.Pivot(
            id=query.id,
            start=span.start,
            end=span.end,
            kinds=kinds,
            events=[
                models.TimelineEvent(
                    kind=e.kind,
                    timestamp=e.timestamp,
                    event_id=e.event_id,
                    service=e.service,
                    instance=e.instance,
                    summary=e.summary,
                    fields=jsonable(e.fields, cursor=False),
                )
                for e in events
            ],
        )

    @op(bp, "/explore/events/<string:cursor>", "GET", summary="Every field of one log event (by its row's cursor)",
        response=models.Event, **READ)  # fmt: skip
    def explore_event(cursor: str) -> models.Event:
        found = one_event(state.cursor("cursor", cursor))
        if found is None:
            raise NotFound("no such event (it may have passed its retention)")
        return models.Event(event=jsonable(found))

    @op(bp, "/explore/events/<string:cursor>/context", "GET",
        summary="The events before and after one, from its service and instance", query=models.ContextQuery,
        response=models.Context, **READ)  # fmt: skip
    def explore_context(cursor: str, query: models.ContextQuery) -> models.Context:
        anchor = state.cursor("cursor", cursor)
        assert anchor is not None  # the route needs a non-empty segment
        n = state.limit("n", query.n, 10, 100)
        with clickhouse.translated():
            found = explorer.context(services().warehouse(), anchor, state.columns(query.columns), n)
        if found is None:
            raise NotFound("no such event (it may have passed its retention)")
        return models.Context(
            before=[jsonable(r) for r in found.before],
            event=jsonable(found.event),
            after=[jsonable(r) for r in found.after],
        )

    @op(bp, "/explore/tail", "GET", summary="New matching events since a cursor, in order of arrival",
        query=models.TailQuery, response=models.Tail, **READ)  # fmt: skip
    def explore_tail(query: models.TailQuery) -> models.Tail:
        search = state.search(query.q, state.time_range(None, None, datetime.now(UTC)))
        chosen = state.columns(query.columns)
        with clickhouse.translated():
            read = explorer.tail(
                services().warehouse(), search.node, state.decode_tail(query.cursor, query.since), chosen,
                settings().tail_max_rows_per_s,
            )  # fmt: skip
        return models.Tail(
            columns=["timestamp", "event_id", *chosen],
            rows=[jsonable(r) for r in read.rows],
            cursor=state.encode_tail(started(read.cursor)),
            behind=read.behind,
        )

    @op(bp, "/explore/tail/stream", "GET",
        summary="A live tail as Server-Sent Events: 'rows' events (JSON like /explore/tail), 'behind' when more "
        "arrived than LOOKOUT_TAIL_MAX_ROWS_PER_S, 'end' after LOOKOUT_TAIL_IDLE_TIMEOUT_S without one; "
        "429 when LOOKOUT_TAIL_MAX_STREAMS are open",
        query=models.TailQuery, streams=("text/event-stream",), **READ)  # fmt: skip
    def explore_tail_stream(query: models.TailQuery) -> Response:
        search = state.search(query.q, state.time_range(None, None, datetime.now(UTC)))
        chosen = state.columns(query.columns)
        start = state.decode_tail(query.cursor, query.since)
        slots = tail_slots(current_app.extensions, settings().tail_max_streams)
        if not slots.acquire():
            return json_error(
                429, f"{settings().tail_max_streams} live tails are open already; close one or retry",
                {"Retry-After": "10"},
            )  # fmt: skip
        events = tail_events(search.node, start, chosen, settings(), slots)
        return Response(
            stream_with_context(events),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @op(bp, "/explore/export", "GET",
        summary="The matching logs as CSV or NDJSON, streamed, newest first, at most LOOKOUT_EXPORT_MAX_ROWS "
        "(audited: who exported which query and how many rows)",
        query=models.ExportQuery, streams=("text/csv", "application/x-ndjson"), **READ)  # fmt: skip
    def explore_export(query: models.ExportQuery) -> Response:
        cap = settings().export_max_rows
        span = state.time_range(query.from_, query.to, datetime.now(UTC))
        search = state.search(query.q, span)
        chosen = state.columns(query.columns, explorer.COLUMNS)
        rows = state.limit("limit", query.limit, cap, cap)
        described = {
            "query": search.text, "from": span.raw_from, "to": span.raw_to, "start": search.start.isoformat(),
            "end": search.end.isoformat(), "format": query.format, "columns": list(chosen), "limit": rows,
        }  # fmt: skip
        body = export_body(search, chosen, rows, query.format, settings(), actor(), described)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        media = "text/csv" if query.format == "csv" else "application/x-ndjson"
        return Response(
            stream_with_context(body),
            mimetype=media,
            headers={"Content-Disposition": f'attachment; filename="lookout-logs-{stamp}.{query.format}"'},
        )

    # ------------------------------------------------------------------------------------------ saved views

    @op(bp, "/explore/views", "GET", summary="Your saved views, the team's shared ones, and your last-used state",
        role="viewer", tag=TAG, response=models.SavedViews)  # fmt: skip
    def list_views() -> models.SavedViews:
        account = me()
        with db.transaction(settings()) as conn:
            views = saved_views.visible_to(conn, account.id)
            last = saved_views.last_state(conn, account.id)
        return models.SavedViews(views=[view_out(v, account.id) for v in views], last=last)

    @op(bp, "/explore/views", "POST", summary="Save the current state as a view", role="viewer",
        self_service=True, tag=TAG, body=models.SavedViewIn, response=models.SavedView, status=201)  # fmt: skip
    def create_view(body: models.SavedViewIn) -> models.SavedView:
        account, chosen = me(), state.canonical_state(body.state)
        name = check_name(body.name)

        def mutate(conn: psycopg.Connection) -> Change[saved_views.SavedView]:
            try:
                view = saved_views.insert(conn, account.id, name, chosen, body.shared)
            except psycopg.errors.UniqueViolation:
                raise Conflict(f"you already have a view named {name!r}") from None
            return Change(view, str(view.id), new={"name": name, "state": chosen, "shared": body.shared})

        view = audited(settings(), actor(), "saved_view.create", "saved_view", mutate)
        return view_out(view, account.id)

    @op(bp, "/explore/views/<int:view_id>", "PUT", summary="Rename, re-save or (un)share one of your views",
        role="viewer", self_service=True, tag=TAG, body=models.SavedViewIn, response=models.SavedView)  # fmt: skip
    def update_view(view_id: int, body: models.SavedViewIn) -> models.SavedView:
        account, chosen = me(), state.canonical_state(body.state)
        name = check_name(body.name)

        def mutate(conn: psycopg.Connection) -> Change[saved_views.SavedView]:
            before = saved_views.get(conn, view_id)
            try:
                after = saved_views.update(conn, view_id, account.id, name, chosen, body.shared)
            except psycopg.errors.UniqueViolation:
                raise Conflict(f"you already have a view named {name!r}") from None
            if before is None or after is None:
                raise NotFound(f"you have no saved view with id {view_id}")
            old = {"name": before.name, "state": before.state, "shared": before.shared}
            return Change(after, str(view_id), old=old, new={"name": name, "state": chosen, "shared": body.shared})

        view = audited(settings(), actor(), "saved_view.update", "saved_view", mutate, resource_id=str(view_id))
        return view_out(view, account.id)

    @op(bp, "/explore/views/<int:view_id>", "DELETE", summary="Delete one of your views", role="viewer",
        self_service=True, tag=TAG)  # fmt: skip
    def delete_view(view_id: int) -> None:
        account = me()

        def mutate(conn: psycopg.Connection) -> Change[None]:
            before = saved_views.get(conn, view_id)
            if before is None or before.account_id != account.id or not saved_views.delete(conn, view_id, account.id):
                raise NotFound(f"you have no saved view with id {view_id}")
            return Change(None, str(view_id), old={"name": before.name, "state": before.state, "shared": before.shared})

        audited(settings(), actor(), "saved_view.delete", "saved_view", mutate, resource_id=str(view_id))

    @op(bp, "/explore/last", "PUT", summary="Remember the state you use now (the explorer opens on it next time)",
        role="viewer", self_service=True, tag=TAG, body=models.LastState)  # fmt: skip
    def remember_state(body: models.LastState) -> None:
        chosen = state.canonical_state(body.state)
        with db.transaction(settings()) as conn:
            saved_views.remember(conn, me().id, chosen)


# ---------------------------------------------------------------------------------------------- helpers


def _search_error(exc: SearchError) -> Response:
    """400 with where the query went wrong, so the page can point at it under the search box."""
    body: dict[str, Any] = {"error": f"q: {exc.message} (at position {exc.position})", "position": exc.position}
    expected = getattr(exc, "expected", None)
    if expected:
        body["expected"] = expected
    return Response(orjson.dumps(body), status=400, mimetype="application/json")


def jsonable(row: dict[str, Any], cursor: bool = True) -> dict[str, Any]:
    """A row as JSON: times in RFC 3339 UTC, ids as text, metadata as an object, plus its cursor."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            value = explorer.utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        elif isinstance(value, uuid.UUID):
            value = str(value)
        elif key == "metadata" and isinstance(value, str):
            value = orjson.loads(value) if value else {}
        out[key] = value
    if cursor and "timestamp" in row and "event_id" in row:
        out["cursor"] = Cursor.of(row).encode()
    return out


def histogram_figure(found: explorer.Histogram) -> dict[str, Any]:
    levels = sorted({level for bar in found.bars for level in bar.counts}, key=_level_order)
    x = [bar.start for bar in found.bars]
    series = [
        charts.Series(
            level, x, [bar.counts.get(level, 0) for bar in found.bars], charts.LEVEL_COLOURS.get(level), "bar"
        )
        for level in levels
    ]
    if not series:  # an empty range still draws its axis, so the page shows where nothing happened
        series = [charts.Series("events", x, [0] * len(x), charts.LEVEL_COLOURS["info"], "bar")]
    figure = charts.figure(charts.Chart(series=series, stacked=True, unit=""))
    figure["layout"]["bargap"] = 0.02
    figure["layout"]["margin"] = {"l": 44, "r": 8, "t": 8, "b": 28}
    figure["layout"]["showlegend"] = len(series) > 1
    return orjson.loads(orjson.dumps(figure, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC))


_LEVELS = ("fatal", "critical", "error", "warn", "warning", "info", "debug", "trace")


def _level_order(level: str) -> tuple[int, str]:
    return (_LEVELS.index(level) if level in _LEVELS else len(_LEVELS), level)


def one_event(anchor: Cursor | None) -> dict[str, Any] | None:
    assert anchor is not None
    at = datetime.fromtimestamp(anchor.timestamp_ms / 1000, UTC)
    search = explorer.Search.parse(f"event_id:{anchor.event_id}", at, at + timedelta(milliseconds=1))
    with clickhouse.translated():
        page = explorer.search_page(services().warehouse(), search, explorer.COLUMNS, 1)
    return page.rows[0] if page.rows else None


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise AccessError("name: must not be blank")
    return name


def view_out(view: saved_views.SavedView, account_id: int) -> models.SavedView:
    return models.SavedView(
        id=view.id,
        name=view.name,
        owner=view.owner,
        mine=view.account_id == account_id,
        state=view.state,
        shared=view.shared,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


# ---------------------------------------------------------------------------------------------- live tail


class TailSlots:
    """At most ``limit`` open tails per process: each holds a server thread while it is open."""

    def __init__(self, limit: int) -> None:
        self._free = threading.BoundedSemaphore(limit)

    def acquire(self) -> bool:
        return self._free.acquire(blocking=False)

    def release(self) -> None:
        self._free.release()


_slots_lock = threading.Lock()


def tail_slots(extensions: dict[str, Any], limit: int) -> TailSlots:
    with _slots_lock:
        return extensions.setdefault("lookout_explorer_tails", TailSlots(limit))


def started(position: explorer.TailCursor | None) -> explorer.TailCursor:
    """Where a tail goes on from: a first read that found nothing starts from now, so the next read takes what
    arrives from then on in order (and says when it is behind) instead of reading a burst as a fresh start.
    The reads look TAIL_OVERLAP_MS back, which also covers clock skew between this host and ClickHouse's."""
    return position or explorer.TailCursor(int(time.time() * 1000))


def sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def tail_events(
    node: Any, start: explorer.TailCursor | None, columns: tuple[str, ...], configured: Settings, slots: TailSlots
) -> Iterator[bytes]:
    """The stream: a read every TAIL_POLL_S, at most tail_max_rows_per_s rows a second; holds a slot until the
    client leaves (the server's write fails, closing this generator) or the idle timeout ends it."""
    try:
        per_read = max(1, int(configured.tail_max_rows_per_s * TAIL_POLL_S))
        client, position = services().warehouse(), start
        last_row = last_write = time.monotonic()
        yield b"retry: 5000\n\n"
        while True:
            with clickhouse.translated():
                read = explorer.tail(client, node, position, columns, per_read)
            position = started(read.cursor)
            now = time.monotonic()
            if read.rows:
                yield sse("rows", {"rows": [jsonable(r) for r in read.rows], "since": position.since_ms})
                last_row = last_write = now
            if read.behind:
                # More arrive than a person can read: say so and skip ahead to the newest.
                yield sse("behind", {"message": f"more than {configured.tail_max_rows_per_s} events a second match; "
                                                "showing the newest"})  # fmt: skip
                position, last_write = None, now
            if now - last_row >= configured.tail_idle_timeout_s:
                idle = int(configured.tail_idle_timeout_s)
                yield sse("end", {"message": f"no new event for {idle} s: the live tail stopped"})
                return
            if now - last_write >= TAIL_KEEPALIVE_S:
                yield b": keep-alive\n\n"
                last_write = now
            time.sleep(TAIL_POLL_S)
    finally:
        slots.release()


# ---------------------------------------------------------------------------------------------- export

EXPORT_WRITE_BYTES = 256 * 1024


def coalesced(chunks: Iterable[bytes], size: int = EXPORT_WRITE_BYTES) -> Iterator[bytes]:
    """Row-sized pieces joined into writes of about ``size`` bytes: a write per row costs the server a
    flush (and a lock) each, which made a 100,000-row export several times slower."""
    pending: list[bytes] = []
    held = 0
    for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)


def export_body(
    search: explorer.Search,
    columns: tuple[str, ...],
    limit: int,
    fmt: str,
    configured: Settings,
    who: Actor,
    described: dict[str, Any],
) -> Iterator[bytes]:
    """The export, streamed in keyset pages; its audit row (with the rows actually sent) is written when it ends,
    also when the client leaves early (then marked incomplete)."""
    sent, complete = 0, False
    rows = explorer.export_rows(services().warehouse(), search, columns, limit)

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal sent
        for row in rows:
            sent += 1
            yield row

    try:
        with clickhouse.translated():
            if fmt == "csv":
                header = ["timestamp", "event_id", *[c for c in columns if c not in ("timestamp", "event_id")]]
                yield from coalesced(text.encode() for text in explorer.encode_csv(header, counted()))
            else:
                yield from coalesced(explorer.encode_ndjson(counted()))
        complete = True
    finally:
        metadata = {**described, "rows": sent, "complete": complete}
        audited(
            configured, who, "logs.export", "log_export", lambda _conn: Change(None, who.request_id, metadata=metadata)
        )
