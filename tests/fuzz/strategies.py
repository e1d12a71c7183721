"""Strategies shared by the fuzzing suites: JSON values, and text that is mostly the syntax a parser looks
for, so the search reaches past the first character a parser refuses."""

from __future__ import annotations

import json

from hypothesis import strategies as st

# Integers around every width a field or a column may hold, and far past them.
EDGE_INTS = st.sampled_from(
    [0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**400]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    EDGE_INTS,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.sampled_from(["", " ", "0", "-1", "1e999", "NaN", "Infinity", "null", "true", "\u0000", "²", "٣", "\ud7ff"]),
)


def json_values(leaves: st.SearchStrategy = SCALARS, max_leaves: int = 20) -> st.SearchStrategy:
    """Any JSON value: objects, arrays and the scalars above, integers of any width."""
    return st.recursive(
        leaves,
        lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(st.text(max_size=12), children,
                                                                                    max_size=5)),
        max_leaves=max_leaves,
    )


def dump(value: object) -> bytes:
    """JSON text of any value, integers of any width included (orjson refuses those past 64 bits)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def syntax_text(fragments: list[str], max_size: int = 20) -> st.SearchStrategy[str]:
    """Text built from ``fragments`` (the parser's syntax) and arbitrary characters."""
    return st.lists(st.one_of(st.sampled_from(fragments), st.text(max_size=4)), max_size=max_size).map("".join)
