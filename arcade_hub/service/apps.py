"""Launch desktop apps into a running desktop session:

    GET  {prefix}api/v1/users/{user}/sessions/{server}/apps        what can be launched
    POST {prefix}api/v1/users/{user}/sessions/{server}/apps        {"app": NAME}

Authenticated with a JupyterHub token of the session's owner — typically the session's own
token, which is what `arcade-launch` inside the desktop uses.
"""

from __future__ import annotations

import asyncio
from typing import Any

from arcade_hub.config import CatalogueEntry, Kind, PlatformConfig
from arcade_hub.launch.choices import UserContext
from arcade_hub.launch.planner import PlanContext, Purpose, desktop_refusal, plan
from arcade_hub.launch.request import LaunchRequest, Refusal
from arcade_hub.launch.spec import LaunchSpec
from arcade_hub.local.launch import AppNotRunnable, launch_app
from arcade_hub.local.session import LocalSession, desktop_apps
from arcade_hub.service.handlers import ApiError, ApiHandler
from arcade_hub.service.hub_client import spec_of
from arcade_hub.service.sessions import Sessions


def launchable_apps(platform: PlatformConfig) -> list[dict[str, str]]:
    """The desktop apps a desktop of this platform can open: on Kubernetes every desktop-app
    entry (each is an image), on the embedded backend those this machine can run."""
    if platform.backend.kind != "kubernetes":
        return desktop_apps(platform)
    return [
        {"name": e.name, "title": e.title, "group": e.group,
         "version": next(iter(e.versions.values()), "")}
        for e in platform.catalogue
        if e.kind == Kind.desktop_app
    ]


LAUNCH_TIMEOUT = 60.0
"""The Kubernetes API calls of one app launch give up after this long (503)."""


class AppsHandler(ApiHandler):
    """The group policy that applies is the desktop owner's (an admin acts on their behalf)."""

    async def get(self, user: str, server: str) -> None:
        self.require_user(user)
        _, desktop = await self._desktop(user, server)
        if not_desktop := desktop_refusal(desktop):
            raise ApiError(not_desktop.status, not_desktop.message)
        owner = await self._owner(user)
        # may ask podman which app images are stored: off the event loop
        apps = await asyncio.to_thread(launchable_apps, self.platform)
        allowed = [a for a in apps if isinstance(await self._plan(owner, a["name"], desktop),
                                                 LaunchSpec)]  # fmt: skip
        self.write_json({"apps": allowed})

    async def post(self, user: str, server: str) -> None:
        self.require_user(user)
        name = self.body().get("app")
        if not isinstance(name, str) or not name:
            raise ApiError(400, 'give the app to launch: {"app": NAME}')
        model, desktop = await self._desktop(user, server)
        planned = await self._plan(await self._owner(user), name, desktop)
        if isinstance(planned, Refusal):
            raise ApiError(planned.status, planned.message)
        entry = self.platform.entry(name)
        spec = desktop
        try:
            if self.platform.backend.kind == "kubernetes":
                launched = await self._launch_on_kubernetes(spec, model, entry)
            else:
                session = LocalSession.reopen(spec, self.platform, self.service.data_dir)
                launched = await launch_app(session, entry)
        except AppNotRunnable as e:
            raise ApiError(e.status, str(e)) from None
        self.write_json(launched, status=201)

    async def _owner(self, user: str) -> UserContext:
        sessions: Sessions = self.settings["sessions"]
        caller = await sessions.caller(user)
        return UserContext(name=caller.name, groups=caller.groups, admin=caller.admin)

    async def _plan(
        self, owner: UserContext, app: str, desktop: LaunchSpec
    ) -> LaunchSpec | Refusal:
        """The planner's answer for `app` on `desktop` (`Purpose.app`)."""
        sessions: Sessions = self.settings["sessions"]
        context = PlanContext(self.platform, sessions.site(), desktop.server_name, desktop=desktop)
        return await plan(owner, LaunchRequest(image=app), Purpose.app, context)

    async def _launch_on_kubernetes(
        self, spec: LaunchSpec, model: dict[str, Any], entry: CatalogueEntry
    ) -> dict[str, Any]:
        """The same interface on Kubernetes: the app runs as a pod drawing on the desktop pod,
        created with the service's one Kubernetes client."""
        from kubernetes_asyncio.client import CoreV1Api

        from arcade_hub.kube import launch as kube_launch
        from arcade_hub.kube.client import API_ERRORS, KubeClient, api_error

        kube: KubeClient | None = self.settings.get("kube")
        if kube is None:
            raise ApiError(
                503,
                "the arcade service started without a Kubernetes client (the platform's "
                "backend was not `kubernetes` then): restart the service",
            )
        session = kube_launch.KubeDesktopSession.from_state(
            spec, self.platform, model.get("state") or {}, default_namespace=kube.namespace
        )
        try:
            return await asyncio.wait_for(
                kube_launch.launch_app(session, entry, CoreV1Api(kube.api)), LAUNCH_TIMEOUT)
        except API_ERRORS as e:
            status, message = api_error(e, f"start {entry.title}")
            raise ApiError(status, message) from None

    async def _desktop(self, user: str, server: str) -> tuple[dict[str, Any], LaunchSpec]:
        model = await self.hub.server(user, server)
        label = f"{user}/{server}" if server else user
        if model is None or not model.get("ready"):
            raise ApiError(404, f"session {label} is not running")
        spec = spec_of(model)
        if spec is None:
            raise ApiError(409, f"session {label} is not a desktop session")
        return model, spec
