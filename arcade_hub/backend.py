"""The `Backend` protocol: what runs sessions, desktop apps and batch jobs, as the rest of the
platform sees it. Two implement it, chosen once at start-up by `arcade_hub.backends`:
the embedded backend (`arcade_hub.local.backend`, local processes) and Kubernetes
(`arcade_hub.kube.backend`, pods and Jobs).

Sessions themselves start and stop through JupyterHub's spawner of each backend
(`arcade_hub.spawners.local`, `arcade_hub.spawners.kube`); the arcade service does everything
else through this interface and never asks which backend it has.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from arcade_hub.config import CatalogueEntry, PlatformConfig
from arcade_hub.jobs.base import Runner
from arcade_hub.jobs.store import JobStore
from arcade_hub.launch.site import Site
from arcade_hub.launch.spec import LaunchSpec

PlatformSource = Callable[[], PlatformConfig]
"""The platform document as it is now (reloaded when the file changes)."""


def app_listing(apps: list[tuple[CatalogueEntry, str | None]]) -> list[dict[str, Any]]:
    """Desktop apps as the desktop's menu and the apps API list them: each with why it cannot
    be opened (`reason`, and `available` false) where it cannot."""
    return [
        {"name": e.name, "title": e.title, "group": e.group,
         "version": next(iter(e.versions.values()), ""),
         "available": reason is None, "reason": reason or ""}
        for e, reason in apps
    ]  # fmt: skip


class AppNotRunnable(Exception):
    """A desktop app that cannot start on this desktop now; the message says why."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


class Backend(Protocol):
    name: str
    """`local` or `kubernetes`, for logs and messages only."""

    @property
    def platform(self) -> PlatformSource:
        """The platform document as it is now."""
        ...

    def site(self) -> Site:
        """Where launches run, for the planner: availability, data directory, datasets."""
        ...

    def desktop_apps(self) -> list[tuple[CatalogueEntry, str | None]]:
        """Every desktop-app entry and why a desktop here cannot open it (None: it can)."""
        ...

    async def launch_app(
        self, desktop: LaunchSpec, state: dict[str, Any], app: LaunchSpec
    ) -> dict[str, Any]:
        """Start the planned `app` on the running `desktop` (the spawner's `state`); what was
        started, for the apps API's answer. Raises `AppNotRunnable`."""
        ...

    def job_runner(self, store: JobStore, data_dir: Path) -> Runner:
        """The runner of batch jobs here, keeping its records in `store`."""
        ...

    async def close(self) -> None:
        """Release what the backend holds (its Kubernetes client)."""
        ...
