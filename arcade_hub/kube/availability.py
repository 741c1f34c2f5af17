"""Which catalogue entries the Kubernetes backend runs, and how a batch job starts there."""

from __future__ import annotations

from dataclasses import dataclass

from arcade_hub.config import CatalogueEntry, PlatformConfig


@dataclass(frozen=True)
class KubeAvailability:
    """On Kubernetes every catalogue entry runs: it is an image reference. A batch instance
    runs the image's own entrypoint with `backend.kubernetes.commands.headless` (the same for
    every batch image) followed by the job's `cmd`."""

    headless: tuple[str, ...] = ()
    runs_image_references: bool = True

    @classmethod
    def of(cls, config: PlatformConfig) -> KubeAvailability:
        return cls(tuple(config.backend.kubernetes.commands.get("headless", [])))

    def unavailable_reason(self, entry: CatalogueEntry) -> str | None:
        return None

    def job_prefix(self, entry: CatalogueEntry) -> tuple[str, ...]:
        return self.headless

    def job_command(self, entry: CatalogueEntry, cmd: tuple[str, ...]) -> tuple[str, ...]:
        """Only `cmd`: the pod builders put `commands.headless` before it."""
        return cmd

    def no_command_reason(self, entry: CatalogueEntry) -> str:
        return (
            f"{entry.title} has no command of its own here: give the command to run (for "
            "operators: on Kubernetes a batch image's entrypoint starts "
            "`backend.kubernetes.commands.headless` followed by `cmd`, and this platform "
            "configures no such command)"
        )
