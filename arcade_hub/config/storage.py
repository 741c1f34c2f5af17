"""Where homes, project spaces and scratch live on the embedded backend."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from pydantic import Field

from arcade_hub.config.base import Model


class StorageRoots(Model):
    """Where homes, project spaces and scratch live. `{data_dir}` expands to the data directory."""

    home: str = Field(
        "{data_dir}/home",
        title="Home root",
        description="Each user's home is `<home>/<username>`, the same in every session.",
    )
    projects: str = Field(
        "{data_dir}/projects",
        title="Project spaces root",
        description="Group project spaces live at `<projects>/<group>`.",
    )
    scratch: str = Field(
        "{data_dir}/scratch",
        title="Scratch root",
        description="Per-session scratch at `<scratch>/<session id>`, removed when it stops.",
    )
    home_mount: str = Field(
        "/home/{username}",
        title="Home path in containers",
        description="Where container backends mount the user's home (`{username}` expands).",
    )
    projects_mount: str = Field(
        "/arcade/projects",
        title="Project spaces path in containers",
        description="Where container backends mount project spaces, one folder per group.",
    )
    datasets_mount: str = Field(
        "/arcade/datasets",
        title="Datasets path in containers",
        description="Where container backends mount datasets, one folder per dataset id.",
    )
    scratch_mount: str = Field(
        "/arcade/scratch",
        title="Scratch path in containers",
        description="Where container backends mount the session's scratch space.",
    )


def expand(template: str, data_dir: Path) -> Path:
    """A path of the document with `{data_dir}` put in."""
    return Path(template.replace("{data_dir}", str(data_dir)))


def default_data_dir() -> Path:
    """/var/lib/arcade-hub for root (sessions of other uids must reach it), else per user."""
    if os.geteuid() == 0:
        return Path("/var/lib/arcade-hub")
    return Path(platformdirs.user_data_dir("arcade-hub"))
