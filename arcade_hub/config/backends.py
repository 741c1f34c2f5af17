"""Which backend runs sessions, and the embedded backend's settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from arcade_hub.config.base import Model
from arcade_hub.config.kubernetes import KubeBackend


class LocalBackend(Model):
    """Settings of the embedded backend (sessions are local processes)."""

    run_as: Literal["auto", "per-user", "hub-user"] = Field(
        "auto",
        title="Run sessions as",
        description=(
            "`per-user`: each Arcade user gets an unprivileged uid of its own (needs root); "
            "`hub-user`: sessions run as the hub's own user (single-user laptops); "
            "`auto`: `per-user` when the hub runs as root, else `hub-user`."
        ),
    )
    uid_range: tuple[int, int] = Field(
        (200000, 299999),
        title="uid range",
        description="uids handed out to users with `per-user` (persisted in the data directory).",
    )
    enforce_limits: bool = Field(
        True,
        title="Enforce cores and RAM",
        description="Use cgroups (as root) or CPU affinity to enforce the chosen cores and RAM.",
    )
    max_processes: int = Field(
        4096,
        ge=16,
        title="Processes per session",
        description=(
            "The most processes and threads one session or job instance may run at once "
            "(cgroup `pids.max`, as root): a fork bomb stops there instead of taking the machine."
        ),
    )
    start_timeout: int = Field(
        60, title="Start timeout (s)", description="Seconds a session may take to answer."
    )
    app_containers: Literal["auto", "off"] = Field(
        "auto",
        title="Desktop apps in podman containers",
        description=(
            "`auto`: a desktop-app whose image is in this machine's podman storage runs as a "
            "podman container drawing on the desktop; other apps run their `local` command. "
            "`off`: desktop apps always run their `local` command."
        ),
    )


class Backend(Model):
    """Which backend runs sessions."""

    kind: Literal["local", "kubernetes"] = Field(
        "local",
        title="Backend",
        description="`local` runs sessions as processes on this machine; `kubernetes` as pods.",
    )
    local: LocalBackend = Field(
        default_factory=LocalBackend,
        title="Embedded backend",
        description="Settings for `kind: local`.",
    )
    kubernetes: KubeBackend = Field(
        default_factory=KubeBackend,
        title="Kubernetes backend",
        description="Settings for `kind: kubernetes`.",
    )
