"""The embedded backend as a `arcade_hub.backend.Backend`: sessions are local processes (the
spawner `arcade_hub.spawners.local`), desktop apps processes or podman containers on the
session's desktop, batch jobs local processes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arcade_hub.backend import PlatformSource
from arcade_hub.config import CatalogueEntry
from arcade_hub.jobs.base import Runner
from arcade_hub.jobs.store import JobStore
from arcade_hub.launch.site import Site
from arcade_hub.launch.spec import LaunchSpec
from arcade_hub.local.apps import launch_app
from arcade_hub.local.availability import LocalAvailability, local_search_path
from arcade_hub.local.jobs import JobRunner
from arcade_hub.local.session import LocalSession, desktop_apps


@dataclass
class EmbeddedBackend:
    platform: PlatformSource
    data_dir: Path
    api_url: str = ""
    """The arcade service's API, for the apps' own `arcade-launch` (ARCADE_API_URL)."""
    name: str = "local"

    def site(self) -> Site:
        return Site(data_dir=self.data_dir, availability=LocalAvailability(local_search_path()))

    def desktop_apps(self) -> list[tuple[CatalogueEntry, str | None]]:
        """Runnable: a `local` block that runs here, or an image in podman's storage."""
        return desktop_apps(self.platform())

    async def launch_app(
        self, desktop: LaunchSpec, state: dict[str, Any], app: LaunchSpec
    ) -> dict[str, Any]:
        platform = self.platform()
        assert app.entry is not None
        session = LocalSession.reopen(desktop, platform, self.data_dir)
        return await launch_app(session, platform.entry(app.entry), self.api_url)

    def job_runner(self, store: JobStore, data_dir: Path) -> Runner:
        return JobRunner(store, self.platform, data_dir)

    async def close(self) -> None:
        await asyncio.sleep(0)  # nothing held
