"""The OpenAPI document of the sessions API (served at `skaha/v1/openapi.json`), generated from
the request and answer models of `arcade_hub.service.skaha_models` and one table of its
operations: a model changed is a document changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from arcade_hub.service.skaha_models import (
    ActionQuery,
    ContextView,
    CreateQuery,
    ErrorView,
    ImageQuery,
    ImageView,
    InstanceView,
    JobView,
    ListQuery,
    SessionQuery,
    SessionView,
    StatsView,
)

REF = "#/components/schemas/{model}"
TEXT = "text"
ANSWERS: tuple[type[BaseModel], ...] = (
    SessionView, InstanceView, JobView, ImageView, ContextView, StatsView, ErrorView,
)  # fmt: skip


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def array(model: type[BaseModel]) -> dict[str, Any]:
    return {"type": "array", "items": ref(model)}


ONE_SESSION = {"oneOf": [ref(SessionView), ref(InstanceView), ref(JobView)]}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    query: type[BaseModel] | None
    answer: str
    """What a 200 says."""
    json: dict[str, Any] | None = None
    """The 200's JSON schema; None: text."""
    text: bool = False
    """Whether the 200 may be text too (`view=logs`)."""
    errors: tuple[int, ...] = (400, 401)


OPERATIONS = (
    Operation("get", "/session", "List the caller's sessions and batch jobs' instances",
              ListQuery, "Sessions, or statistics with view=stats",
              {"oneOf": [{"type": "array", "items": ONE_SESSION}, ref(StatsView)]},
              errors=(400, 401, 403)),
    Operation("post", "/session", "Start a session, or submit a batch job (type=headless)",
              CreateQuery, "The new session's or job's id", errors=(400, 401, 403, 413)),
    Operation("get", "/session/{sessionID}",
              "A session, a job (with its instances), or its logs or events", SessionQuery,
              "The session, or text for view=logs|events", ONE_SESSION, text=True,
              errors=(400, 401, 404, 409)),
    Operation("post", "/session/{sessionID}", "Renew: start a new lifetime from now",
              ActionQuery, "Renewed", errors=(400, 401, 404, 409)),
    Operation("delete", "/session/{sessionID}",
              "Stop and forget the session or job (job logs stay in the home)", None, "Deleted",
              errors=(401, 404, 409)),
    Operation("get", "/image", "Images the caller can launch", ImageQuery, "Images",
              array(ImageView)),
    Operation("get", "/context", "Resource choices: cores, memoryGB, gpus", None,
              "Choices and defaults", ref(ContextView), errors=(401,)),
)  # fmt: skip
SESSION_ID = {
    "name": "sessionID",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
}


def parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """A query model's fields as OpenAPI query parameters (lists repeat the parameter)."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    found = []
    for name, prop in schema["properties"].items():
        prop = {k: v for k, v in prop.items() if k not in ("title", "description", "default")}
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": model.model_fields[name].description or "",
            "schema": prop,
        }
        if prop.get("type") == "array":
            parameter["explode"] = True
        found.append(parameter)
    return found


def operation(op: Operation) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if op.json is not None:
        content["application/json"] = {"schema": op.json}
    if op.json is None or op.text:
        content["text/plain"] = {"schema": {"type": "string"}}
    error = {
        "description": "Refused, with a message saying why",
        "content": {"application/json": {"schema": ref(ErrorView)}},
    }
    result: dict[str, Any] = {
        "summary": op.summary,
        "responses": {
            "200": {"description": op.answer, "content": content},
            **{str(code): error for code in op.errors},
        },
    }
    params = parameters(op.query) if op.query is not None else []
    if "{sessionID}" in op.path:
        params.insert(0, SESSION_ID)
    if params:
        result["parameters"] = params
    return result


def document(server: str = "/") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = operation(op)
    _, schemas = models_json_schema(
        [(m, "serialization") for m in ANSWERS], ref_template=REF
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Arcade Hub sessions API (skaha-compatible)",
            "version": "1.0.0",
            "description": (
                "Compatible with CANFAR's skaha sessions API, so that the `canfar` client "
                "works with `CANFAR_URL` set to this base URL. Authenticate with a JupyterHub "
                "API token: `Authorization: Bearer <token>`."
            ),
        },
        "servers": [{"url": server}],
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas.get("$defs", {}),
        },
    }
