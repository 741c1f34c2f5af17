"""Launch desktop apps into a running desktop session:

    GET  {prefix}api/v1/users/{user}/sessions/{server}/apps        what can be launched
    POST {prefix}api/v1/users/{user}/sessions/{server}/apps        {"app": NAME}

Authenticated with a JupyterHub token of the session's owner — typically the session's own
token, which is what `arcade-launch` inside the desktop uses.
"""

from __future__ import annotations

import asyncio
from typing import Any

from arcade_hub.config.models import CatalogueEntry, Kind
from arcade_hub.local.launch import AppNotRunnable, launch_app
from arcade_hub.local.session import LocalSession, desktop_apps
from arcade_hub.service.handlers import ApiError, ApiHandler
from arcade_hub.service.hub_client import spec_of
from arcade_hub.spec import LaunchSpec


class AppsHandler(ApiHandler):
    async def get(self, user: str, server: str) -> None:
        self.require_user(user)
        await self._desktop_spec(user, server)
        # may ask podman which app images are stored: off the event loop
        self.write_json({"apps": await asyncio.to_thread(desktop_apps, self.platform)})

    async def post(self, user: str, server: str) -> None:
        self.require_user(user)
        name = self.body().get("app")
        if not isinstance(name, str) or not name:
            raise ApiError(400, 'give the app to launch: {"app": NAME}')
        try:
            entry = self.platform.entry(name)
        except KeyError:
            known = ", ".join(a["name"] for a in desktop_apps(self.platform))
            raise ApiError(404, f"no app {name!r} in the catalogue (available: {known})") from None
        if entry.kind != Kind.desktop_app:
            raise ApiError(400, f"{entry.title} is a {entry.kind.value}, not a desktop app")
        model, spec = await self._desktop(user, server)
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
        """The same interface on Kubernetes: the app runs as a pod drawing on the desktop pod."""
        from kubernetes_asyncio import client, config

        from arcade_hub.kube import launch as kube_launch

        config.load_incluster_config()
        session = kube_launch.KubeDesktopSession.from_state(
            spec, self.platform, model.get("state") or {}
        )
        async with client.ApiClient() as api_client:
            return await kube_launch.launch_app(session, entry, client.CoreV1Api(api_client))

    async def _desktop_spec(self, user: str, server: str) -> LaunchSpec:
        return (await self._desktop(user, server))[1]

    async def _desktop(self, user: str, server: str) -> tuple[dict[str, Any], LaunchSpec]:
        model = await self.hub.server(user, server)
        label = f"{user}/{server}" if server else user
        if model is None or not model.get("ready"):
            raise ApiError(404, f"session {label} is not running")
        spec = spec_of(model)
        if spec is None or spec.kind not in (Kind.desktop, Kind.desktop_app):
            raise ApiError(409, f"session {label} is not a desktop session")
        return model, spec
