"""Elasticsearch bulk parsing and answers, and where a key hides in other tools' credentials: pure logic."""

from __future__ import annotations

import base64
import re

import orjson
import pytest

from collector.body import BadItem, BodyTooLarge, MalformedBody
from collector.elastic import bulk_response, error_body, parse_bulk
from collector.packing import build_records
from collector.presented_key import presented_key
from lookout.contract.fields import check_uuid
from lookout.records import decode_events

NOW_MS = 1_764_583_200_000
UUID = "0b6a4a0e-6a55-4d0e-9b43-0d3c7c1c6f11"


def bulk(*values: object, default_index: str | None = "idx", max_items: int = 100) -> list:
    body = b"".join(orjson.dumps(v) + b"\n" for v in values)
    return parse_bulk(
        body,
        default_index=default_index,
        default_kind="log",
        received_ms=NOW_MS,
        max_items=max_items,
        max_event_bytes=1000,
    )


def test_index_and_create_become_mapped_events_with_the_index_as_service() -> None:
    items = bulk({"index": {}}, {"msg": "a"}, {"create": {"_index": "other", "_id": UUID}}, {"message": "b"})
    assert [(i.action, i.index, i.doc_id) for i in items] == [("index", "idx", None), ("create", "other", UUID)]
    assert items[0].event["service"] == "idx" and items[0].event["message"] == "a"
    assert items[1].event["service"] == "other" and items[1].event["event_id"] == UUID


def test_a_repeated_action_line_gives_each_document_its_own_item() -> None:
    items = bulk({"index": {"_index": "logs"}}, {"message": "a"}, {"index": {"_index": "logs", "_id": UUID}},
                 {"message": "b"}, {"index": {"_index": "logs"}}, {"message": "c"}, {"delete": {}}, {"delete": {}})
    assert [(i.action, i.index, i.doc_id) for i in items] == [
        ("index", "logs", None), ("index", "logs", UUID), ("index", "logs", None), ("delete", "idx", None),
        ("delete", "idx", None)]
    assert [i.event["message"] for i in items[:3]] == ["a", "b", "c"]
    assert [i.event.get("event_id") for i in items[:3]] == [None, UUID, None]  # validation draws the others
    assert all(isinstance(i.event, BadItem) for i in items[3:])


def test_a_non_uuid_id_is_kept_in_metadata() -> None:
    (item,) = bulk({"index": {"_id": "abc"}}, {"message": "m"})
    assert item.event["metadata"] == {"_id": "abc"} and "event_id" not in item.event


def test_per_item_refusals_keep_their_slot() -> None:
    items = bulk(
        {"delete": {"_id": "1"}},
        {"update": {}},
        {"doc": {}},
        {"index": {"_index": "i"}},
        [1],
        {"index": {}},
        {"message": "ok"},
        default_index=None,
    )
    assert [type(i.event) for i in items] == [BadItem, BadItem, BadItem, BadItem]
    assert "delete" in items[0].event.reason and "update" in items[1].event.reason
    assert "JSON object" in items[2].event.reason and "index is missing" in items[3].event.reason


def test_oversized_document_is_refused_alone() -> None:
    items = bulk({"index": {}}, {"message": "x" * 2000}, {"index": {}}, {"message": "y"})
    assert isinstance(items[0].event, BadItem) and "limit" in items[0].event.reason
    assert items[1].event["message"] == "y"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"nope\n", "line [1]"),
        (b'{"index":{}, "create":{}}\n{}\n', "expected one of"),
        (b'{"index":{}}\n', "no document line"),
        (b"\n\n", "no actions"),
        (b'{"index": 3}\n{}\n', "found [index]"),
    ],
)
def test_broken_action_lines_fail_the_request(body: bytes, error: str) -> None:
    with pytest.raises(MalformedBody, match=re.escape(error)):
        parse_bulk(body, default_index="i", default_kind="log", received_ms=NOW_MS, max_items=10, max_event_bytes=99)


def test_too_many_actions_is_413() -> None:
    with pytest.raises(BodyTooLarge):
        bulk(*([{"index": {}}, {"message": "m"}] * 3), max_items=2)


def test_bulk_response_has_one_entry_per_action_in_order() -> None:
    items = bulk({"index": {"_id": UUID}}, {"message": "a"}, {"delete": {"_id": "d"}}, {"index": {}},
                 {"message": "b"}, {"index": {}}, {"msg": 1})
    result = build_records([item.event for item in items], now_ms=NOW_MS, may_send=lambda _kind: True,
                           topic_for=str, max_event_bytes=10_000, keep_ids=True)
    answer = orjson.loads(bulk_response(items, result, took_ms=3))
    assert answer["took"] == 3 and answer["errors"] is True
    assert answer["items"][0]["index"]["status"] == 201 and answer["items"][0]["index"]["_id"] == UUID
    assert answer["items"][1] == {
        "delete": {
            "_index": "idx",
            "_id": "d",
            "status": 400,
            "error": {"type": "document_parsing_exception", "reason": items[1].event.reason},
        }
    }
    # Without an _id of its own, a document is answered with the id it was stored under.
    stored = {event["event_id"]: event["message"] for record in result.records for event in decode_events(record.value)}
    assert stored[answer["items"][2]["index"]["_id"]] == "b" and answer["items"][2]["index"]["status"] == 201
    refused = answer["items"][3]["index"]
    assert refused["status"] == 400 and "message" in refused["error"]["reason"]
    assert check_uuid(refused["_id"]) not in stored  # an id all the same, as Elasticsearch gives one


def test_error_body_shape() -> None:
    assert error_body(401, "nope") == {
        "error": {
            "root_cause": [{"type": "security_exception", "reason": "nope"}],
            "type": "security_exception",
            "reason": "nope",
        },
        "status": 401,
    }


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Bearer lk_abc", "lk_abc"),
        ("ApiKey lk_abc", "lk_abc"),
        (f"ApiKey {b64('id1:lk_abc')}", "lk_abc"),  # the client's (id, key) form
        (f"Basic {b64('user:lk_abc')}", "lk_abc"),
        (f"basic {b64(':lk_abc')}", "lk_abc"),
        (f"Basic {b64('user-only')}", None),
        ("Basic !!!", None),
        ("Digest x", None),
        ("Bearer ", None),
        ("", None),
        (None, None),
    ],
)
def test_presented_key(header: str | None, key: str | None) -> None:
    assert presented_key(header) == key
