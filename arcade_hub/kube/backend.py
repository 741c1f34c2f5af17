"""The Kubernetes backend as a `arcade_hub.backend.Backend`: sessions are pods (the spawner
`arcade_hub.spawners.kube`), desktop apps pods drawing on the desktop pod through its X relay,
batch jobs Kubernetes Jobs; one Kubernetes client for the service's life."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client import CoreV1Api

from arcade_hub.backend import AppNotRunnable, PlatformSource
from arcade_hub.config import CatalogueEntry, Kind
from arcade_hub.jobs.base import Runner
from arcade_hub.jobs.store import JobStore
from arcade_hub.kube import apps
from arcade_hub.kube.availability import KubeAvailability
from arcade_hub.kube.client import API_ERRORS, KubeClient, api_error, connect
from arcade_hub.kube.jobs.runner import KubeJobRunner
from arcade_hub.launch.site import Site
from arcade_hub.launch.spec import LaunchSpec

LAUNCH_TIMEOUT = 60.0
"""The Kubernetes API calls of one app launch give up after this long (503)."""


@dataclass
class KubernetesBackend:
    platform: PlatformSource
    data_dir: Path
    kube: KubeClient
    name: str = "kubernetes"

    @classmethod
    async def connect(
        cls, platform: PlatformSource, data_dir: Path, kubeconfig: str | None = None
    ) -> KubernetesBackend:
        return cls(platform, data_dir, await connect(kubeconfig))

    def site(self) -> Site:
        availability = KubeAvailability.of(self.platform())
        return Site(data_dir=self.data_dir, availability=availability, datasets_on_host=False)

    def desktop_apps(self) -> list[tuple[CatalogueEntry, str | None]]:
        """Every desktop-app entry: each is an image, and a pod runs any image."""
        return [(e, None) for e in self.platform().catalogue if e.kind == Kind.desktop_app]

    async def launch_app(
        self, desktop: LaunchSpec, state: dict[str, Any], app: LaunchSpec
    ) -> dict[str, Any]:
        """The app as a pod drawing on the desktop pod, with the service's one client."""
        platform = self.platform()
        assert app.entry is not None
        entry = platform.entry(app.entry)
        session = apps.KubeDesktopSession.from_state(
            desktop, platform, state, default_namespace=self.kube.namespace
        )
        try:
            return await asyncio.wait_for(
                apps.launch_app(session, entry, CoreV1Api(self.kube.api)), LAUNCH_TIMEOUT
            )
        except API_ERRORS as e:
            status, message = api_error(e, f"start {entry.title}")
            raise AppNotRunnable(message, status) from None

    def job_runner(self, store: JobStore, data_dir: Path) -> Runner:
        return KubeJobRunner(store, self.platform, data_dir, self.kube)

    async def close(self) -> None:
        await self.kube.close()
