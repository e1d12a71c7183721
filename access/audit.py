"""Every change to accounts, keys and tokens goes through :func:`audited`: the change and its audit row
commit together or not at all (and migration 0007 makes PostgreSQL refuse a change that skipped it).

A failed attempt is audited too, in its own transaction after the change's rollback, and so is a denied one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import psycopg

from access import db
from access.errors import AccessError
from lookout.settings import Settings
from warehouse.queries import audit
from warehouse.queries.audit import AuditEntry

T = TypeVar("T")

REDACTED = "[redacted]"
_SECRET_WORDS = ("password", "secret", "hash", "token_value", "api_key_value")


@dataclass(frozen=True)
class Actor:
    """Who asks for a change and through what: the CLI, a browser session, a token."""

    name: str
    account_id: int | None = None
    ip: str | None = None
    user_agent: str = ""
    session_ref: str = ""  # a digest of the session id: the id itself is a credential
    token_id: str = ""
    request_id: str = ""


@dataclass(frozen=True)
class Change(Generic[T]):
    """What a mutation did: its result for the caller, and the audit row's resource and values."""

    value: T
    resource_id: str
    old: Mapping[str, Any] | None = None
    new: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


def session_ref(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()[:16]


def redact(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A copy safe for the audit trail: values under secret-looking names are replaced, at any depth."""
    if values is None:
        return None
    out: dict[str, Any] = {}
    for key, value in values.items():
        if any(word in key.lower() for word in _SECRET_WORDS):
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = redact(value)
        else:
            out[key] = value
    return out


def entry(actor: Actor, action: str, resource_type: str, resource_id: str, **values: Any) -> AuditEntry:
    return AuditEntry(
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        actor=actor.name,
        actor_account_id=actor.account_id,
        ip_address=actor.ip,
        user_agent=actor.user_agent[:1024],
        session_id=actor.session_ref,
        token_id=actor.token_id,
        request_id=actor.request_id,
        **values,
    )


def audited(
    settings: Settings,
    actor: Actor,
    action: str,
    resource_type: str,
    mutate: Callable[[psycopg.Connection], Change[T]],
    *,
    resource_id: str = "",
) -> T:
    """Run ``mutate`` and write its audit row in one transaction; audit a refused attempt as a failure.

    ``resource_id`` names the target for the failure row when the mutation refuses before it knows more.
    """
    try:
        with db.transaction(settings) as conn:
            change = mutate(conn)
            audit.record(
                conn,
                entry(
                    actor,
                    action,
                    resource_type,
                    change.resource_id,
                    old_values=redact(change.old),
                    new_values=redact(change.new),
                    metadata=dict(change.metadata),
                ),
            )
    except AccessError as exc:
        record_attempt(settings, actor, action, resource_type, resource_id, "failure", str(exc))
        raise
    return change.value


def record_attempt(
    settings: Settings, actor: Actor, action: str, resource_type: str, resource_id: str, outcome: str, reason: str
) -> None:
    """An attempt that changed nothing (refused as invalid, or denied for the actor's role)."""
    with db.transaction(settings) as conn:
        audit.record(
            conn, entry(actor, action, resource_type, resource_id, outcome=outcome, metadata={"reason": reason})
        )
