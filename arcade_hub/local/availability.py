"""Which catalogue entries the embedded backend can run on this machine."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from arcade_hub.config import CatalogueEntry


@dataclass
class LocalAvailability:
    """Entries need a `local` block whose required executables are on PATH."""

    path: str | None = None
    runs_image_references: bool = False

    def unavailable_reason(self, entry: CatalogueEntry) -> str | None:
        """Why `entry` cannot run here, in words for the person choosing it (with what the
        platform's operators could do, in parentheses), or None."""
        if entry.local is None:
            return (
                f"{entry.title} is not offered on this platform: it runs from its own container "
                "image, and sessions here run without containers (for operators: the "
                "Kubernetes backend runs it)"
            )
        missing = [c for c in entry.local.requires if shutil.which(c, path=self.path) is None]
        if missing:
            hint = entry.local.missing_hint or "Ask your platform's operators to install it."
            return (
                f"{entry.title} is not available on this machine: it needs "
                f"{', '.join(missing)}, which is not installed. {hint}"
            )
        return None

    def job_prefix(self, entry: CatalogueEntry) -> tuple[str, ...]:
        """The entry's `local.cmd`: the embedded backend runs no image."""
        return tuple(entry.local.cmd) if entry.local and entry.local.cmd else ()

    def job_command(self, entry: CatalogueEntry, cmd: tuple[str, ...]) -> tuple[str, ...]:
        return (*self.job_prefix(entry), *cmd)

    def no_command_reason(self, entry: CatalogueEntry) -> str:
        return (
            f"{entry.title} has no command of its own here: give the command to run "
            "(for operators: its catalogue entry has no `local.cmd`)"
        )


def local_search_path() -> str:
    """PATH for sessions: this installation's bin directory first, then the hub's PATH."""
    path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    return f"{Path(sys.executable).parent}{os.pathsep}{path}"
