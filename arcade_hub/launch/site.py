"""What the planner needs to know of the backend that will run a launch, as plain interfaces:
which catalogue entries can run there, how a batch job's command starts, and where the data
is. Each backend provides its own (`arcade_hub.local.availability`,
`arcade_hub.kube.availability`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from arcade_hub.config import CatalogueEntry


class Availability(Protocol):
    """Whether the backend can run an entry here, and how it starts a batch job of it."""

    @property
    def runs_image_references(self) -> bool:
        """Whether any image reference can run (containers), not only configured entries."""
        ...

    def unavailable_reason(self, entry: CatalogueEntry) -> str | None:
        """Why `entry` cannot run here, in a user's words; None when it can."""
        ...

    def job_prefix(self, entry: CatalogueEntry) -> tuple[str, ...]:
        """What runs before a batch job's own `cmd` for `entry` here (empty: only `cmd`)."""
        ...

    def job_command(self, entry: CatalogueEntry, cmd: tuple[str, ...]) -> tuple[str, ...]:
        """The command a batch instance's spec carries for `cmd` (a backend that starts the
        image's entrypoint adds its prefix when it builds the workload)."""
        ...

    def no_command_reason(self, entry: CatalogueEntry) -> str:
        """Why a job of `entry` without `cmd` cannot run here."""
        ...


@dataclass(frozen=True)
class Site:
    """What the policy needs besides the document: the data directory and the backend."""

    data_dir: Path
    availability: Availability
    datasets_on_host: bool = True
    """Whether dataset paths are host directories that must exist (the embedded backend)."""
    discovered: frozenset[str] = frozenset()
    """Names of catalogue entries found in registries (always checked and pinned at launch)."""
