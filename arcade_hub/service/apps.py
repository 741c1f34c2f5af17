"""Launch desktop apps into a running desktop session:

    GET  {prefix}api/v1/users/{user}/sessions/{server}/apps        what can be launched
    POST {prefix}api/v1/users/{user}/sessions/{server}/apps        {"app": NAME}

Authenticated with a JupyterHub token of the session's owner — typically the session's own
token, which is what `arcade-launch` inside the desktop uses.
"""

from __future__ import annotations

import asyncio
from typing import Any

from arcade_hub.config.models import CatalogueEntry, Kind, PlatformConfig
from arcade_hub.local.launch import AppNotRunnable, launch_app
from arcade_hub.local.session import LocalSession, desktop_apps
from arcade_hub.policy import UserContext, app_refusal
from arcade_hub.service.handlers import ApiError, ApiHandler
from arcade_hub.service.hub_client import spec_of
from arcade_hub.service.limits import shorten, shown
from arcade_hub.service.sessions import Sessions
from arcade_hub.spec import LaunchSpec


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
        spec = await self._desktop_spec(user, server)
        owner = await self._owner(user)
        # may ask podman which app images are stored: off the event loop
        apps = await asyncio.to_thread(launchable_apps, self.platform)
        self.write_json({"apps": [
            a for a in apps
            if app_refusal(self.platform, owner, self.platform.entry(a["name"]), spec.dataset)
            is None
        ]})  # fmt: skip

    async def _owner(self, user: str) -> UserContext:
        sessions: Sessions = self.settings["sessions"]
        caller = await sessions.caller(user)
        return UserContext(name=caller.name, groups=caller.groups, admin=caller.admin)

    async def post(self, user: str, server: str) -> None:
        self.require_user(user)
        name = self.body().get("app")
        if not isinstance(name, str) or not name:
            raise ApiError(400, 'give the app to launch: {"app": NAME}')
        try:
            entry = self.platform.entry(name)
        except KeyError:
            known = ", ".join(a["name"] for a in launchable_apps(self.platform))
            raise ApiError(
                404, f"no app {shown(name)} in the catalogue (available: {known})"
            ) from None
        if entry.kind != Kind.desktop_app:
            raise ApiError(400, f"{entry.title} is a {entry.kind.value}, not a desktop app")
        model, spec = await self._desktop(user, server)
        refused = app_refusal(self.platform, await self._owner(user), entry, spec.dataset)
        if refused is not None:
            raise ApiError(refused.status, str(refused))
        try:
            if self.platform.backend.kind == "kubernetes":
                launched = await self._launch_on_kubernetes(spec, model, entry)
            else:
                session = LocalSession.reopen(spec, self.platform, self.service.data_dir)
                launched = await launch_app(session, entry)
        except AppNotRunnable as e:
            raise ApiError(e.status, str(e)) from None
        self.write_json(launched, status=201)

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

    async def _desktop_spec(self, user: str, server: str) -> LaunchSpec:
        return (await self._desktop(user, server))[1]

    async def _desktop(self, user: str, server: str) -> tuple[dict[str, Any], LaunchSpec]:
        model = await self.hub.server(user, server)
        label = shorten(f"{user}/{server}" if server else user)
        if model is None or not model.get("ready"):
            raise ApiError(404, f"session {label} is not running")
        spec = spec_of(model)
        if spec is None or spec.kind not in (Kind.desktop, Kind.desktop_app):
            raise ApiError(409, f"session {label} is not a desktop session")
        return model, spec
