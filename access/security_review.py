"""The security page's investigation workflow: an operator marks one event, or every open event a filter
matches, investigated or a false positive, with notes. Each change commits with its audit row
(:func:`access.audit.audited`), so the trail shows who closed which events, how and why.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

import psycopg

from access import db
from access.audit import Actor, Change, audited
from access.errors import AccessError, NotFound
from lookout.settings import Settings
from warehouse.queries import security_events
from warehouse.queries.security_events import Outcome, SecurityFilter

MAX_NOTES = 4000
# A bulk action's audit row names this many of the events it closed; the filter identifies the rest.
AUDITED_IDS = 200


def _check(outcome: str, notes: str) -> str:
    if outcome not in ("investigated", "false_positive"):
        raise AccessError("outcome: must be investigated or false_positive")
    notes = notes.strip()
    if len(notes) > MAX_NOTES:
        raise AccessError(f"notes: at most {MAX_NOTES} characters")
    return notes


def _state(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "investigated": row["investigated"],
        "false_positive": row["false_positive"],
        "investigated_by": row["investigated_by"],
        "investigation_notes": row["investigation_notes"],
    }


def mark(settings: Settings, event_id: uuid.UUID, outcome: Outcome, notes: str, actor: Actor) -> dict[str, Any]:
    """Mark one event (again, if it was: the new outcome and notes replace the old); the updated row."""
    notes = _check(outcome, notes)

    def mutate(conn: psycopg.Connection) -> Change[dict[str, Any]]:
        changed = security_events.mark(conn, event_id, outcome, notes, actor.name)
        if changed is None:
            raise NotFound(f"no security event with id {event_id}")
        before, after = changed
        return Change(after, str(event_id), old=_state(before), new=_state(after), metadata={"outcome": outcome})

    return audited(settings, actor, f"security_event.{outcome}", "security_event", mutate, resource_id=str(event_id))


def mark_matching(settings: Settings, wanted: SecurityFilter, outcome: Outcome, notes: str, actor: Actor) -> int:
    """Mark every open event matching ``wanted``; how many were marked (one audit row for the action)."""
    notes = _check(outcome, notes)
    described = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in asdict(wanted).items() if v}

    def mutate(conn: psycopg.Connection) -> Change[int]:
        ids = security_events.mark_matching(conn, wanted, outcome, notes, actor.name)
        metadata = {
            "outcome": outcome,
            "filter": described,
            "count": len(ids),
            "event_ids": [str(i) for i in ids[:AUDITED_IDS]],
        }
        new = {"investigated": True, "false_positive": outcome == "false_positive", "investigation_notes": notes}
        return Change(len(ids), "filter", old={"investigated": False}, new=new, metadata=metadata)

    return audited(settings, actor, f"security_event.bulk_{outcome}", "security_event", mutate, resource_id="filter")


def open_critical(settings: Settings) -> int:
    with db.transaction(settings) as conn:
        return security_events.open_critical(conn)
