"""bench.ingest's pure parts: the load generator's reading of a _bulk answer."""

from __future__ import annotations

import orjson

from bench.ingest import _bulk_accepted


def _answer(errors: bool, statuses: list[int], first: str = "took") -> bytes:
    items = [{"create": {"_index": "logs", "status": status}} for status in statuses]
    body = {"took": 3, "errors": errors, "items": items}
    if first == "items":  # another server's key order: the head says nothing about errors
        body = {"items": items, "errors": errors, "took": 3}
    return orjson.dumps(body)


def test_an_answer_without_errors_accepts_every_event_sent() -> None:
    assert _bulk_accepted(_answer(False, [201] * 3), 3) == 3


def test_an_answer_with_errors_counts_the_items_stored() -> None:
    assert _bulk_accepted(_answer(True, [201, 400, 429, 200]), 4) == 2


def test_errors_after_the_items_are_still_read() -> None:
    assert _bulk_accepted(_answer(True, [201, 400], first="items"), 2) == 1
    assert _bulk_accepted(_answer(False, [201, 201], first="items"), 2) == 2
