"""What the access layer takes from people before it reaches PostgreSQL: any text is a checked value or an
AccessError naming the problem, never a value PostgreSQL would refuse (NUL) or a 500."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from access.accounts import EMAIL_PATTERN, check_email
from access.errors import AccessError


@given(st.one_of(st.text(max_size=40), st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.[a-z]{2,3}", fullmatch=True)
                 .flatmap(lambda e: st.sampled_from([e, f" {e} ", e.replace("@", "\x00@"), e + "\x07"]))))
@example("a\x00@example.com")  # once 500 on POST /api/v1/accounts: PostgreSQL refuses NUL in text
@example("a\ud800@example.com")
def test_emails(text: str) -> None:
    try:
        email = check_email(text)
    except AccessError as exc:
        assert "email" in str(exc)
        return
    assert email.isprintable() and "\x00" not in email and len(email) <= 254
    assert re.match(EMAIL_PATTERN, text)  # what the OpenAPI document declares admits every accepted address
