"""The errors of access operations: each says what is wrong in words a person can act on."""

from __future__ import annotations


class AccessError(ValueError):
    """An operation cannot be done as asked (the CLI prints it on one line, the web app answers 4xx)."""

    status = 400


class NotFound(AccessError):
    status = 404


class Conflict(AccessError):
    status = 409
