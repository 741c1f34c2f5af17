"""Service handlers: token authentication through the hub, JSON errors, never a traceback."""

from __future__ import annotations

import json
from typing import Any

from jupyterhub.services.auth import HubAuth, HubAuthenticated
from tornado import web

from arcade_hub.config import PlatformConfig
from arcade_hub.service.hub_client import HubClient
from arcade_hub.service.limits import MESSAGE_LIMIT, shorten, shown
from arcade_hub.service.settings import ServiceSettings
from arcade_hub.spawners.mixin import platform_config


class ApiError(web.HTTPError):
    """An error for the API client: its message is shown as is."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, "%s", message)
        self.message = message


def as_sent(arguments: dict[str, list[bytes]]) -> dict[str, list[str]]:
    """Query or form arguments as the client sent them. Tornado's `get_argument` turns control
    characters into spaces, which would silently change a command; a NUL is refused instead
    (`arcade_hub.service.skaha_params`)."""
    return {k: [v.decode(errors="replace") for v in values] for k, values in arguments.items()}


class ApiHandler(HubAuthenticated, web.RequestHandler):
    """Base for API handlers: JSON in and out, authenticated with a JupyterHub token."""

    @property
    def hub_auth(self) -> HubAuth:
        auth: HubAuth = self.settings["hub_auth"]
        return auth

    @property
    def service(self) -> ServiceSettings:
        settings: ServiceSettings = self.settings["arcade"]
        return settings

    @property
    def hub(self) -> HubClient:
        client: HubClient = self.settings["hub_client"]
        return client

    @property
    def platform(self) -> PlatformConfig:
        return platform_config(self.service.config_file)

    def check_xsrf_cookie(self) -> None:
        """Token-authenticated API: no cookies, so no cross-site request forgery."""

    def require_user(self, owner: str) -> dict[str, Any]:
        """The caller's hub model; 403 unless it is `owner` (or an admin)."""
        user: dict[str, Any] | None = self.get_current_user()
        if user is None:
            raise ApiError(
                403, "authentication required: send 'Authorization: token <JupyterHub token>'"
            )
        if user.get("name") != owner and not user.get("admin"):
            raise ApiError(403, f"you may not act on sessions of {shown(owner)}")
        return user

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise ApiError(400, "the request body must be JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return data

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "message", None) or self._reason
        if status_code >= 500 and not isinstance(exc, ApiError):
            message = "internal error in the arcade service; see its log"
        message = shorten(str(message), MESSAGE_LIMIT)  # whatever it quotes, never megabytes
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": status_code, "message": message}))
