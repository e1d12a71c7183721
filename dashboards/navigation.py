"""The top bar's links, in one place. An entry shows once its blueprint is registered and the signed-in role
may open it, so an area adds its pages without touching the template. Badges (a count beside a link, such as
uninvestigated critical security events) come from providers an area registers with ``badge``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask


@dataclass(frozen=True)
class Link:
    endpoint: str
    label: str
    role: str = "viewer"
    secondary: bool = False  # admin housekeeping, drawn smaller at the right


LINKS: tuple[Link, ...] = (
    Link("overview.index", "Overview"),
    Link("explorer.index", "Explorer"),
    Link("api_metrics.index", "API"),
    Link("system_metrics.index", "System"),
    Link("blockchain.index", "Blockchain"),
    Link("security_events.index", "Security"),
    Link("alerts.oncall", "Alerts"),
    Link("audit.index", "Audit trail", secondary=True),
    Link("keys.index", "API keys", secondary=True),
    Link("tokens.index", "Personal tokens", secondary=True),
    Link("accounts.index", "Accounts", role="admin", secondary=True),
)

BadgeProvider = Callable[[], int]


def badge(app: Flask, endpoint: str, provider: BadgeProvider) -> None:
    """Show ``provider()`` beside the link to ``endpoint`` (it must be cheap: it runs on every page)."""
    app.extensions.setdefault("lookout_badges", {})[endpoint] = provider


def links(app: Flask, allows: Callable[[str], bool]) -> list[Link]:
    return [link for link in LINKS if link.endpoint in app.view_functions and allows(link.role)]


def badges(app: Flask) -> dict[str, int]:
    counts: dict[str, int] = {}
    for endpoint, provider in app.extensions.get("lookout_badges", {}).items():
        try:
            counts[endpoint] = provider()
        except Exception:  # a badge is a hint: a backing service being down must not break every page
            counts[endpoint] = -1
    return counts
