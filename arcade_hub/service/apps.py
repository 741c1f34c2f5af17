"""Launch desktop apps into a running desktop session:

    GET  {prefix}api/v1/users/{user}/sessions/{server}/apps        what can be launched
    POST {prefix}api/v1/users/{user}/sessions/{server}/apps        {"app": NAME}

Authenticated with a JupyterHub token of the session's owner — typically the session's own
token, which is what `arcade-launch` inside the desktop uses.
"""

from __future__ import annotations

import asyncio
from typing import Any

from arcade_hub.backend import AppNotRunnable, app_listing
from arcade_hub.launch.choices import UserContext
from arcade_hub.launch.planner import (
    PlanContext,
    Purpose,
    desktop_refusal,
    plan,
    unknown_app,
)
from arcade_hub.launch.request import LaunchRequest, Refusal
from arcade_hub.launch.spec import UNNAMED_SESSION_ID, LaunchSpec
from arcade_hub.quoting import shorten
from arcade_hub.service.handlers import ApiError, ApiHandler
from arcade_hub.service.hub_client import spec_of
from arcade_hub.service.sessions import Sessions


class AppsHandler(ApiHandler):
    """The group policy that applies is the desktop owner's (an admin acts on their behalf)."""

    @property
    def sessions(self) -> Sessions:
        sessions: Sessions = self.settings["sessions"]
        return sessions

    async def get(self, user: str, server: str) -> None:
        self.require_user(user)
        _, desktop = await self._desktop(user, server)
        if not_desktop := desktop_refusal(desktop):
            raise ApiError(not_desktop.status, not_desktop.message)
        owner = await self._owner(user)
        # may ask podman which app images are stored: off the event loop
        apps = await asyncio.to_thread(self.sessions.backend.desktop_apps)
        listed = []
        for entry, reason in apps:  # why the planner refuses it, else why it cannot run here
            planned = await self._plan(owner, entry.name, desktop)
            listed.append((entry, planned.message if isinstance(planned, Refusal) else reason))
        self.write_json({"apps": app_listing(listed)})

    async def post(self, user: str, server: str) -> None:
        self.require_user(user)
        name = self.body().get("app")
        if not isinstance(name, str) or not name:
            raise ApiError(400, 'give the app to launch: {"app": NAME}')
        if not_an_app := unknown_app(self.platform, name):  # before the session is looked up
            raise ApiError(not_an_app.status, not_an_app.message)
        model, desktop = await self._desktop(user, server)
        planned = await self._plan(await self._owner(user), name, desktop)
        if isinstance(planned, Refusal):
            raise ApiError(planned.status, planned.message)
        try:
            launched = await self.sessions.backend.launch_app(
                desktop, model.get("state") or {}, planned
            )
        except AppNotRunnable as e:
            raise ApiError(e.status, str(e)) from None
        self.write_json(launched, status=201)

    async def _owner(self, user: str) -> UserContext:
        caller = await self.sessions.caller(user)
        return UserContext(name=caller.name, groups=caller.groups, admin=caller.admin)

    async def _plan(
        self, owner: UserContext, app: str, desktop: LaunchSpec
    ) -> LaunchSpec | Refusal:
        """The planner's answer for `app` on `desktop` (`Purpose.app`)."""
        context = PlanContext(
            self.platform, self.sessions.site(), desktop.server_name, desktop=desktop
        )
        return await plan(owner, LaunchRequest(image=app), Purpose.app, context)

    async def _desktop(self, user: str, server: str) -> tuple[dict[str, Any], LaunchSpec]:
        server = "" if server == UNNAMED_SESSION_ID else server
        model = await self.hub.server(user, server)
        label = shorten(f"{user}/{server}" if server else user)
        if model is None or not model.get("ready"):
            raise ApiError(404, f"session {label} is not running")
        spec = spec_of(model)
        if spec is None:
            raise ApiError(409, f"session {label} is not a desktop session")
        return model, spec
