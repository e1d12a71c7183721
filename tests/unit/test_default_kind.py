"""A key's default kind: one of the contract's kinds, and one the key may send."""

from __future__ import annotations

import pytest

from access.errors import AccessError
from access.keys import check_default_kind


def test_a_kind_within_the_scopes_is_kept() -> None:
    assert check_default_kind("api_metric", ["log", "api_metric"]) == "api_metric"


@pytest.mark.parametrize(
    ("kind", "scopes", "message"),
    [
        ("logs", ["log"], "unknown default kind 'logs'"),
        ("query", ["query"], "unknown default kind 'query'"),
        ("security_event", ["log"], "not among the key's scopes (log)"),
    ],
)
def test_refused(kind: str, scopes: list[str], message: str) -> None:
    with pytest.raises(AccessError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_default_kind(kind, scopes)
