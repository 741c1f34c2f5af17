"""Which catalogue entries the Kubernetes backend runs, and how a batch job starts there."""

from __future__ import annotations

from dataclasses import dataclass

from arcade_hub.config import CatalogueEntry, PlatformConfig
from arcade_hub.config.kubernetes import KubeBackend


@dataclass(frozen=True)
class KubeAvailability:
    """On Kubernetes every catalogue entry runs: it is an image reference. A batch instance
    runs the image's own entrypoint with the entry's command (`KubeBackend.headless_command`:
    its `kubernetes.cmd`, else `backend.kubernetes.commands.headless`) followed by the job's
    `cmd`."""

    kube: KubeBackend
    runs_image_references: bool = True

    @classmethod
    def of(cls, config: PlatformConfig) -> KubeAvailability:
        return cls(config.backend.kubernetes)

    def unavailable_reason(self, entry: CatalogueEntry) -> str | None:
        return None

    def job_prefix(self, entry: CatalogueEntry) -> tuple[str, ...]:
        return tuple(self.kube.headless_command(entry))

    def job_command(self, entry: CatalogueEntry, cmd: tuple[str, ...]) -> tuple[str, ...]:
        """Only `cmd`: the pod builders put the entry's command before it."""
        return cmd

    def no_command_reason(self, entry: CatalogueEntry) -> str:
        return (
            f"{entry.title} has no command of its own here: give the command to run (for "
            "operators: on Kubernetes a batch image's entrypoint starts the entry's "
            "`kubernetes.cmd` or `backend.kubernetes.commands.headless` followed by `cmd`, and "
            "this platform configures neither)"
        )
