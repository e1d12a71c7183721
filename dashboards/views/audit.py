"""The audit trail: every change made to the platform, filterable, old and new values side by side."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, render_template, request

from access import db
from dashboards.models.access import AuditFilter
from dashboards.security import requires
from dashboards.timerange import parse_range
from dashboards.views.common import parse_form, settings
from warehouse.queries import audit
from warehouse.queries.audit import AuditQuery

bp = Blueprint("audit", __name__, url_prefix="/audit")


def audit_query(wanted: AuditFilter) -> AuditQuery:
    span = parse_range(wanted.from_, wanted.to, datetime.now(UTC))
    return AuditQuery(
        actor=wanted.actor,
        action=wanted.action,
        resource_type=wanted.resource_type,
        resource_id=wanted.resource_id,
        outcome=wanted.outcome,
        start=span.start,
        end=span.end,
        limit=wanted.limit,
    )


def search(wanted: AuditFilter) -> list[audit.AuditRow]:
    with db.transaction(settings()) as conn:
        return audit.search(conn, audit_query(wanted))


@bp.get("")
@requires("viewer")
def index() -> str:
    wanted = parse_form(AuditFilter, request.args.to_dict())
    span = parse_range(wanted.from_, wanted.to, datetime.now(UTC))
    return render_template("audit.html", entries=search(wanted), filters=wanted, span=span)
