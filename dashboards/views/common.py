"""What the page blueprints share: the services, the signed-in account, form parsing."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import current_app
from flask_login import current_user
from pydantic import BaseModel, ValidationError

from access.errors import AccessError
from dashboards.api_spec import describe
from lookout.settings import Settings

M = TypeVar("M", bound=BaseModel)


def settings() -> Settings:
    return current_app.config["LOOKOUT_SETTINGS"]


def services() -> Any:
    return current_app.extensions["lookout"]


def me() -> Any:
    """The signed-in account (a route's access declaration guarantees there is one)."""
    return current_user.account


def parse_form(model: type[M], data: dict[str, Any]) -> M:
    """A form through the same model as its JSON twin; AccessError naming the fields when it does not fit."""
    try:
        return model.model_validate({k: v for k, v in data.items() if v not in ("", None)})
    except ValidationError as exc:
        raise AccessError(describe(exc)) from None
