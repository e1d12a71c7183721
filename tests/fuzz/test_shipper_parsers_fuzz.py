"""The shippers' parsers: Elasticsearch's bulk NDJSON, Loki's push (JSON and snappy protobuf), the generic
JSON documents of /v1/json and the credentials they carry. Any body is items (each one a raw event or a
BadItem in its slot) or a BodyError for the whole request; the items then validate without surprises.
"""

from __future__ import annotations

import base64
import time

import cramjam
import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from collector import elastic, field_mapping, loki, packing
from collector.body import BadItem, BodyError, BodyLimits
from collector.field_mapping import map_document, map_native
from collector.json_documents import parse_documents
from collector.presented_key import presented_key
from lookout.contract import InvalidEvent, validate_event
from tests.fuzz.strategies import dump, json_values

NOW_MS = int(time.time() * 1000)
LIMITS = BodyLimits(max_body_bytes=64 * 1024, max_events=50, max_event_bytes=2048)
DOCUMENT_KEYS = st.sampled_from(["@timestamp", "timestamp", "message", "msg", "level", "severity", "service",
                                 "service.name", "host", "logger", "request_id", "event_id", "kind", "time", "x"])
DOCUMENTS = st.dictionaries(DOCUMENT_KEYS, json_values(max_leaves=4), max_size=6)


def validate(items: list[object]) -> packing.IngestResult:
    result = packing.build_records(items, now_ms=NOW_MS, may_send=lambda _kind: True, topic_for=lambda kind: kind,
                                   max_event_bytes=LIMITS.max_event_bytes, keep_ids=True)
    assert result.accepted + result.rejected == len(items)
    return result


def refused(exc: BodyError) -> None:
    assert exc.status in (400, 413, 415) and exc.reason


ACTIONS = st.one_of(
    st.builds(lambda action, meta: {action: meta}, st.sampled_from(["index", "create", "delete", "update", "x"]),
              st.fixed_dictionaries({}, optional={"_index": json_values(max_leaves=2),
                                                  "_id": json_values(max_leaves=2)})),
    json_values(max_leaves=3),
)


@given(st.lists(st.one_of(ACTIONS.map(dump), DOCUMENTS.map(dump), st.binary(max_size=40)), max_size=12),
       st.one_of(st.none(), st.text(max_size=8)))
@example([b'{"index":{}}', b'{"message":"m"}'], None)
@example([b'{"index":{"_id":{"a":1}}}', b'{"message":"m"}'], "logs")
def test_elastic_bulk(lines: list[bytes], index: str | None) -> None:
    try:
        items = elastic.parse_bulk(b"\n".join(lines), default_index=index, default_kind="log", received_ms=NOW_MS,
                                   max_items=LIMITS.max_events, max_event_bytes=LIMITS.max_event_bytes)
    except BodyError as exc:
        refused(exc)
        return
    result = validate([item.event for item in items])
    answer = orjson.loads(elastic.bulk_response(items, result, 1))
    errors = {error["index"]: error["error"] for error in result.errors}
    assert answer["took"] == 1 and answer["errors"] is bool(errors) and len(answer["items"]) == len(items)
    for position, (item, entry) in enumerate(zip(items, answer["items"], strict=True)):
        assert list(entry) == [item.action]
        written = entry[item.action]
        assert written["_index"] == item.index
        if item.doc_id is not None:
            assert written["_id"] == item.doc_id
        elif isinstance(item.event, dict):
            assert written["_id"] == (result.event_ids[position] or written["_id"]) and type(written["_id"]) is str
        else:
            assert written["_id"] is None
        if position in errors:
            assert written["status"] == 400 and written["error"] == {"type": "document_parsing_exception",
                                                                     "reason": errors[position]}
        else:
            assert written["status"] == 201 and written["_seq_no"] == position and written["result"] == "created"


LABELS = st.one_of(
    st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), st.text(max_size=10), max_size=3)
    .map(lambda labels: "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"),
    st.text(max_size=20),
    st.sampled_from(['{a="\\"}', "{", "{}", '{a="b",}', '{a="b" c="d"}', '{service_name="api"}']),
)
TIMESTAMPS = st.one_of(st.integers(0, 2**64).map(str), st.integers(-(2**70), 2**70), st.just(str(NOW_MS * 10**6)),
                       st.text(max_size=12), st.just("2026-11-26T10:00:00Z"))
LINES = st.one_of(st.text(max_size=30), DOCUMENTS.map(lambda d: dump(d).decode()))
ENTRIES = st.one_of(st.lists(st.one_of(TIMESTAMPS, LINES, st.dictionaries(st.text(max_size=5), st.text(max_size=5))),
                             max_size=3), json_values(max_leaves=3))
STREAMS = st.one_of(
    st.fixed_dictionaries({"stream": st.one_of(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
                                               json_values(max_leaves=3)),
                           "values": st.one_of(st.lists(ENTRIES, max_size=4), json_values(max_leaves=3))}),
    st.fixed_dictionaries({"labels": LABELS,
                           "entries": st.lists(st.fixed_dictionaries({"ts": TIMESTAMPS, "line": LINES}), max_size=3)}),
    json_values(max_leaves=3),
)


def _push(body: bytes, content_type: str) -> None:
    try:
        streams = loki.decode(body, content_type, LIMITS.max_body_bytes)
    except BodyError as exc:
        refused(exc)
        return
    validate(list(loki.events(streams, default_kind="log", received_ms=NOW_MS)))


@given(st.one_of(st.fixed_dictionaries({"streams": st.lists(STREAMS, max_size=3)}), json_values(max_leaves=5)))
@example({"streams": [{"stream": {"job": "api"}, "values": [[str(NOW_MS * 10**6), "hello"]]}]})
@example({"streams": [{"stream": {}, "values": [["9" * 400, "x"]]}]})
def test_loki_json_push(doc: object) -> None:
    _push(dump(doc), loki.JSON_TYPE)


@given(st.lists(st.tuples(LABELS, st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**31), 2**31 - 1),
                                                    st.text(max_size=30)), max_size=3)), max_size=3))
def test_loki_protobuf_push(streams: list[tuple[str, list[tuple[int, int, str]]]]) -> None:
    request = loki.PushRequest()
    for labels, entries in streams:
        stream = request.streams.add(labels=labels)
        for seconds, nanos, line in entries:
            entry = stream.entries.add(line=line)
            entry.timestamp.seconds, entry.timestamp.nanos = seconds, nanos
    _push(bytes(cramjam.snappy.compress_raw(request.SerializeToString())), loki.PROTOBUF_TYPE)


@given(st.binary(max_size=300))
@example(b"\xff\xff\xff\xff\x0f")  # declares a 4 GiB body: refused before it is inflated
def test_loki_any_snappy_bytes(body: bytes) -> None:
    _push(body, loki.PROTOBUF_TYPE)
    _push(bytes(cramjam.snappy.compress_raw(body)), loki.PROTOBUF_TYPE)


@given(st.one_of(st.binary(max_size=300), st.lists(DOCUMENTS, max_size=8).map(dump),
                 st.lists(DOCUMENTS.map(dump), max_size=8).map(b"\n".join),
                 st.lists(DOCUMENTS.map(dump), max_size=8).map(b"".join)))
@example(b'{"a":1}{"b":2} {"c":')
@example(b"[" + b"[" * 300 + b"]" * 300 + b"]" + b" " * 3000)
def test_json_documents(body: bytes) -> None:
    try:
        records = parse_documents(body, LIMITS)
    except BodyError as exc:
        refused(exc)
        return
    validate([map_document(r, default_kind="log", received_ms=NOW_MS) if type(r) is dict
              else r if isinstance(r, BadItem) else BadItem("not an object") for r in records])


NATIVE_DOCUMENTS = st.dictionaries(
    st.sampled_from(["message", "timestamp", "level", "instance", "service", "metadata", "kind", "x"]),
    st.one_of(json_values(max_leaves=3), st.sampled_from(["", "err", "40", "2026-12-01T11:00:00.5+01:00"]),
              st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
              st.integers(NOW_MS - 400 * 86_400_000, NOW_MS + 2 * 86_400_000)),
    max_size=6)


def _stored(event: dict[str, object]) -> dict[str, object] | str:
    try:
        wire = validate_event(event, NOW_MS).to_json_dict()
    except InvalidEvent as exc:
        return str(exc)
    del wire["event_id"]
    return wire


@given(NATIVE_DOCUMENTS, st.one_of(st.none(), st.sampled_from(["syslog", ""])))
@example({"timestamp": "1971-01-01T00:00:00Z", "message": "m", "service": "s"}, None)
@example({"message": None}, "syslog")
@example({"timestamp": 10**400, "message": "m"}, None)  # past a float's range: map_document raised OverflowError
def test_native_mapping_stores_what_the_general_mapping_stores(document: dict, fallback: str | None) -> None:
    mapped = {"default_kind": "log", "received_ms": NOW_MS, "fallback_service": fallback}
    assert _stored(map_native(document, **mapped)) == _stored(map_document(document, **mapped))


@given(st.one_of(
    st.text(max_size=40),
    st.tuples(st.sampled_from(["Bearer ", "Basic ", "ApiKey ", "bearer ", ""]),
              st.one_of(st.text(max_size=30), st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode())))
    .map("".join),
    st.none(),
))
@example("Basic \x80")  # once 500 on /_bulk, /loki/api/v1/push and /v1/json: a header byte past ASCII
@example("ApiKey \x80")
def test_presented_key(authorization: str | None) -> None:
    key = presented_key(authorization)
    assert key is None or (type(key) is str and key)


PLANNED_KEYS = st.sampled_from(["@timestamp", "timestamp", "ts", "message", "msg", "log", "level", "severity",
                                "levelname", "service", "app", "host", "hostname", "host.name", "request_id",
                                "trace_id", "event_id", "endpoint", "status_code", "kind", "metadata", "Message", "x"])
PLANNED_VALUES = st.one_of(json_values(max_leaves=3), st.sampled_from(["", "err", "30", "2026-12-01T11:00:00.5"]),
                           st.integers(NOW_MS - 86_400_000, NOW_MS))


@st.composite
def same_names(draw: st.DrawFn) -> list[dict]:
    """Documents with the same names in the same order, as one shipper sends them."""
    names = draw(st.lists(PLANNED_KEYS, unique=True, max_size=8))
    return draw(st.lists(st.fixed_dictionaries({name: PLANNED_VALUES for name in names}), min_size=1, max_size=4))


@given(same_names(), st.sampled_from(["log", "api_metric"]), st.one_of(st.none(), st.just("idx")))
@example([{"host": "web-1", "level": "warn"}, {"host": {"name": "web-2"}, "level": "warn"}], "log", None)
@example([{"log": "line", "levelname": "x"}], "log", None)
@example([{"message": "m", "level": 30}, {"message": "", "level": "warn"}], "log", "idx")
def test_planned_mapping_maps_as_the_walk_does(documents: list[dict], kind: str, fallback: str | None) -> None:
    # A later document takes the plan the first one made, whatever its values.
    for document in documents:
        mapped = map_document(document, default_kind=kind, received_ms=NOW_MS, fallback_service=fallback)
        walked = field_mapping._walk(document, field_mapping._shape(kind, tuple(document)), default_kind=kind,
                                     received_ms=NOW_MS, fallback_service=fallback)
        assert list(mapped.items()) == list(walked.items())
        assert list(mapped["metadata"].items()) == list(walked["metadata"].items())  # type: ignore[union-attr]
