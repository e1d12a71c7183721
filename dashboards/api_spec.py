"""The JSON API's declarations: each operation names its request and response models once, and the same
declaration validates the request, serialises the response and writes the OpenAPI 3.1 document, so the
document cannot drift from the code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ValidationError

from dashboards.security import requires

_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


# Server-Sent Events are described event by event (as API fuzzers and the SSE readers check them): each has a
# name and a JSON text as its data.
_STREAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "text/event-stream": {
        "type": "object",
        "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"}},
    }
}


class ErrorBody(BaseModel):
    error: str


class BadRequest(ValueError):
    """The request does not match its declaration; the message names the fields."""


@dataclass(frozen=True)
class Operation:
    rule: str
    method: str
    endpoint: str
    summary: str
    role: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    tag: str
    streams: tuple[str, ...] = ()


def describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors())


class ApiSpec:
    def __init__(self, title: str, version: str) -> None:
        self.title = title
        self.version = version
        self.operations: list[Operation] = []

    def operation(
        self,
        bp: Blueprint,
        rule: str,
        method: str,
        *,
        summary: str,
        role: str,
        tag: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        self_service: bool = False,
        api_key_scope: str | None = None,
        streams: tuple[str, ...] = (),
    ) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
        """Register ``view(**path_params, body=..., query=...)`` returning a ``response`` model (or None).

        A view declaring ``streams`` (media types, e.g. text/event-stream) returns its own streamed Response."""

        def register(view: Callable[..., Any]) -> Callable[..., Response]:
            @wraps(view)
            def handle(**path_params: Any) -> Response:
                kwargs: dict[str, Any] = dict(path_params)
                try:
                    if body is not None:
                        payload = request.get_json(silent=True)
                        if not isinstance(payload, dict):
                            raise BadRequest("the body must be a JSON object (Content-Type: application/json)")
                        field = _nul_field(payload)  # PostgreSQL text cannot store NUL: a 400 here, not a 500 there
                        if field is not None:
                            raise BadRequest(f"{field}: holds a NUL character (\\u0000), which no field accepts")
                        kwargs["body"] = body.model_validate(payload)
                    if query is not None:
                        kwargs["query"] = query.model_validate(request.args.to_dict())
                except ValidationError as exc:
                    raise BadRequest(describe(exc)) from None
                result = view(**kwargs)
                if streams and isinstance(result, Response):
                    return result
                if result is None:
                    return Response(status=204)
                if isinstance(result, Response):  # already serialised (e.g. a cached panel answer)
                    return result
                out = jsonify(result.model_dump(mode="json"))
                out.status_code = status
                return out

            guarded = requires(role, self_service=self_service, api_key_scope=api_key_scope)(handle)
            bp.add_url_rule(rule, endpoint=view.__name__, view_func=guarded, methods=[method])
            prefix = bp.url_prefix or ""
            self.operations.append(
                Operation(
                    prefix + rule,
                    method,
                    f"{bp.name}.{view.__name__}",
                    summary,
                    role,
                    body,
                    query,
                    response,
                    status,
                    tag,
                    streams,
                )
            )
            return guarded

        return register

    def document(self) -> dict[str, Any]:
        schemas: dict[str, Any] = {"ErrorBody": ErrorBody.model_json_schema()}
        paths: dict[str, dict[str, Any]] = {}

        def ref(model: type[BaseModel]) -> dict[str, str]:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
            return {"$ref": f"#/components/schemas/{model.__name__}"}

        for op in self.operations:
            path = _PATH_PARAM.sub(r"{\2}", op.rule)
            parameters = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer" if conv == "int" else "string"},
                }
                for conv, name in _PATH_PARAM.findall(op.rule)
            ]
            if op.query is not None:
                for name, field in op.query.model_fields.items():
                    prop = op.query.model_json_schema()["properties"][field.alias or name]
                    # An optional parameter is absent, never null: a query string cannot say null.
                    branches = [branch for branch in prop.get("anyOf", ()) if branch != {"type": "null"}]
                    if "anyOf" in prop and len(branches) == 1:
                        kept = {k: v for k, v in prop.items() if k != "anyOf" and (k, v) != ("default", None)}
                        prop = {**kept, **branches[0]}
                    parameters.append(
                        {
                            "name": field.alias or name,
                            "in": "query",
                            "required": field.is_required(),
                            "description": field.description or "",
                            "schema": {k: v for k, v in prop.items() if k != "title"},
                        }
                    )
            error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
            responses: dict[str, Any] = {
                "400": {"description": "invalid request", **error},
                "401": {"description": "not signed in, or a bad token", **error},
                "403": {"description": f"needs the {op.role} role (or the route's API-key scope)", **error},
            }
            if op.streams:
                streamed = {media: {"schema": _STREAM_SCHEMAS.get(media, {"type": "string"})} for media in op.streams}
                responses[str(op.status)] = {"description": "success, streamed", "content": streamed}
            elif op.response is not None:
                success: dict[str, Any] = {"content": {"application/json": {"schema": ref(op.response)}}}
                if op.query is not None and _offers_csv(op.query):
                    success["content"]["text/csv"] = {"schema": {"type": "string"}}
                responses[str(op.status)] = {"description": "success", **success}
            else:
                responses["204"] = {"description": "done"}
            if "<" in op.rule:
                responses["404"] = {"description": "no such resource", **error}
            if op.method in ("POST", "PATCH"):
                responses["409"] = {"description": "conflicts with the current state", **error}
            operation: dict[str, Any] = {
                "operationId": op.endpoint.replace(".", "_"),
                "summary": op.summary,
                "tags": [op.tag],
                "parameters": parameters,
                "responses": responses,
                "x-required-role": op.role,
            }
            if op.body is not None:
                body_schema = {"content": {"application/json": {"schema": ref(op.body)}}}
                operation["requestBody"] = {"required": True, **body_schema}
            paths.setdefault(path, {})[op.method.lower()] = operation
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer", "description": "a personal token or an API key"},
                    "session": {"type": "apiKey", "in": "cookie", "name": "lookout_session"},
                },
            },
            "security": [{"bearer": []}, {"session": []}],
        }


def _offers_csv(model: type[BaseModel]) -> bool:
    """A panel whose query takes ``format=csv`` also answers text/csv (its data as a download)."""
    return any(
        (field.alias or name) == "format" and "csv" in str(field.annotation)
        for name, field in model.model_fields.items()
    )



def _nul_field(value: Any, path: str = "body") -> str | None:
    """The path of the first string holding NUL, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _nul_field(key, path) or _nul_field(item, str(key) if path == "body" else f"{path}.{key}")
        if found:
            return found
    return None
