"""The OpenAPI document of what the sessions API serves (served at `skaha/v1/openapi.json`)."""

from __future__ import annotations

from typing import Any

STATUS = ["Pending", "Running", "Terminating", "Succeeded", "Failed", "Error"]
TYPES = ["notebook", "desktop", "desktop-app", "headless"]


def _q(name: str, description: str, schema: dict[str, Any] | None = None, **extra: Any) -> dict:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "required": False,
        "schema": schema or {"type": "string"},
        **extra,
    }


ERROR = {
    "description": "Refused, with a message saying why",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}
SESSION_ID = {
    "name": "sessionID",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
}


OWNER = {
    "name": "owner",
    "in": "query",
    "description": (
        "Admins: whose session this is (a session's id is unique per user only; a job's id "
        "is unique). Without it an admin's own session of that id is meant, else the one "
        "user's who has one (409 when several do)."
    ),
    "schema": {"type": "string"},
}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): ERROR for c in codes}


def document(server: str = "/") -> dict[str, Any]:
    session_schema = {"$ref": "#/components/schemas/Session"}
    return {
        "openapi": "3.0.3",
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
        "paths": {
            "/session": {
                "get": {
                    "summary": "List the caller's sessions and job instances",
                    "parameters": [
                        _q("type", "Only sessions of this type", {"type": "string", "enum": TYPES}),
                        _q(
                            "status",
                            "Only sessions with this status (`Completed` = `Succeeded`)",
                            {"type": "string", "enum": [*STATUS, "Completed"]},
                        ),
                        _q(
                            "view",
                            "`stats`: platform load and your limits; `all`: every user's "
                            "sessions (admins)",
                            {"type": "string", "enum": ["stats", "all"]},
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "Sessions (or statistics with view=stats)",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "oneOf": [
                                            {"type": "array", "items": session_schema},
                                            {"type": "object"},
                                        ]
                                    }
                                }
                            },
                        },
                        **_errors(400, 401, 403),
                    },
                },
                "post": {
                    "summary": "Start a session, or submit a batch job (type=headless)",
                    "parameters": [
                        _q("name", "Name of the session or job", required=True),
                        _q("image", "Catalogue name or image reference", required=True),
                        _q("cores", "Cores (default and limits: GET /context)"),
                        _q("ram", "RAM in GB (default and limits: GET /context)"),
                        _q("gpus", "GPUs"),
                        _q("type", "Session type", {"type": "string", "enum": TYPES}),
                        _q("cmd", "headless: the command to run"),
                        _q("args", "headless: arguments, separated by spaces (shell quoting)"),
                        _q(
                            "env",
                            "headless: KEY=VALUE, repeatable",
                            {"type": "array", "items": {"type": "string"}},
                            explode=True,
                        ),
                        _q("replicas", "headless: instances of the job", {"type": "integer"}),
                        _q(
                            "param",
                            "headless: one parameter line per instance, repeatable",
                            {"type": "array", "items": {"type": "string"}},
                            explode=True,
                        ),
                        _q("params", "headless: parameter lines, one per instance"),
                        _q("dataset", "Dataset to mount read-only"),
                    ],
                    "responses": {
                        "200": {"description": "The new session's (or job's) id", **TEXT},
                        **_errors(400, 401, 403),
                    },
                },
            },
            "/session/{sessionID}": {
                "parameters": [SESSION_ID, OWNER],
                "get": {
                    "summary": "A session, a job (with its instances), or its logs or events",
                    "parameters": [
                        _q(
                            "view",
                            "logs or events (text)",
                            {"type": "string", "enum": ["logs", "events"]},
                        )
                    ],
                    "responses": {
                        "200": {
                            "description": "The session, or text for view=logs|events",
                            "content": {
                                "application/json": {"schema": session_schema},
                                "text/plain": {"schema": {"type": "string"}},
                            },
                        },
                        **_errors(400, 401, 404, 409),
                    },
                },
                "post": {
                    "summary": "Renew: start a new lifetime from now",
                    "parameters": [
                        _q("action", "renew", {"type": "string", "enum": ["renew"]}, required=True)
                    ],
                    "responses": {
                        "200": {"description": "Renewed", **TEXT},
                        **_errors(400, 401, 404, 409),
                    },
                },
                "delete": {
                    "summary": "Stop and forget the session or job (job logs stay in the home)",
                    "responses": {
                        "200": {"description": "Deleted", **TEXT}, **_errors(401, 404, 409)
                    },
                },
            },
            "/image": {
                "get": {
                    "summary": "Images the caller can launch",
                    "parameters": [_q("type", "Only this type", {"type": "string", "enum": TYPES})],
                    "responses": {
                        "200": {
                            "description": "Images",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Image"},
                                    }
                                }
                            },
                        },
                        **_errors(400, 401),
                    },
                }
            },
            "/context": {
                "get": {
                    "summary": "Resource choices: cores, memoryGB, gpus",
                    "responses": {
                        "200": {
                            "description": "Choices and defaults",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **_errors(401),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["status", "message"],
                    "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
                },
                "Image": {
                    "type": "object",
                    "required": ["id", "types", "digest"],
                    "properties": {
                        "id": {"type": "string"},
                        "types": {"type": "array", "items": {"type": "string"}},
                        "digest": {"type": "string"},
                        "name": {"type": "string"},
                        "title": {"type": "string"},
                    },
                },
                "Session": {
                    "type": "object",
                    "required": ["id", "userid", "image", "type", "status", "name"],
                    "properties": {
                        "id": {"type": "string"},
                        "userid": {"type": "string"},
                        "image": {"type": "string"},
                        "type": {"type": "string", "enum": TYPES},
                        "status": {"type": "string", "enum": STATUS},
                        "name": {"type": "string"},
                        "startTime": {"type": "string", "nullable": True},
                        "expiryTime": {"type": "string", "nullable": True},
                        "connectURL": {"type": "string"},
                        "requestedRAM": {"type": "string"},
                        "requestedCPUCores": {"type": "string"},
                        "requestedGPUCores": {"type": "string"},
                        "jobId": {"type": "string"},
                        "replicaId": {"type": "integer", "nullable": True},
                        "replicaCount": {"type": "integer"},
                        "exitCode": {"type": "integer", "nullable": True},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    }
