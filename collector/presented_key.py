"""Finding a Lookout API key in the credentials other tools send. Pure: no I/O.

Elasticsearch and Loki clients, syslog daemons and shippers authenticate the way their own servers
expect, so a key may arrive as ``Bearer <key>``, as ``ApiKey <key>`` (or Elasticsearch's
``ApiKey base64(id:key)``, the form clients build from an id and a key), or as the password of
HTTP basic auth with any user name.
"""

from __future__ import annotations

import base64

from access.credentials import API_KEY_PREFIX


def presented_key(authorization: str | None) -> str | None:
    """The API key in an ``Authorization`` header, or None when it carries none in a form we take."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    credentials = credentials.strip()
    if not credentials:
        return None
    scheme = scheme.lower()
    if scheme == "bearer":
        return credentials
    if scheme == "apikey":
        if credentials.startswith(API_KEY_PREFIX):
            return credentials
        return _second_half(credentials) or credentials
    if scheme == "basic":
        return _second_half(credentials)
    return None


def _second_half(encoded: str) -> str | None:
    """The part after the first ':' of base64 ``a:b`` (basic auth's password, an ES API key's secret)."""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except ValueError:  # binascii.Error, UnicodeDecodeError, and b64decode's refusal of a non-ASCII header
        return None
    _, colon, secret = decoded.partition(":")
    return secret if colon and secret else None
