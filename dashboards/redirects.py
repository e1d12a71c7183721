"""Where a sign-in may send the browser next: only to a path of this site. Pure."""

from __future__ import annotations

from urllib.parse import urlsplit

HOME = "/"


def safe_next(raw: str | None) -> str:
    """``raw`` if it is a local path (``/keys?x=1``), else the home page.

    Refused: absolute URLs, scheme-relative ``//host``, backslash tricks browsers read as ``//``,
    control characters, and anything that does not start with a single ``/``.
    """
    if not raw or len(raw) > 2000 or not raw.startswith("/"):
        return HOME
    if raw.startswith(("//", "/\\")) or any(ch in raw for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in raw):
        return HOME
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return HOME
    return raw
