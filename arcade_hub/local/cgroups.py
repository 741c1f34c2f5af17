"""Cores, RAM and process limits for a session through cgroups (v2, or v1 controllers), when
writable.

A session gets its own cgroup below the hub's; the preexec function moves the session's first
process into it, so everything the session starts is limited and can be found again at stop.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000
V2_CONTROLLERS = ("cpu", "memory", "pids")
V1_CONTROLLERS = ("memory", "cpu", "pids")


@dataclass(frozen=True)
class SessionCgroup:
    """The cgroup directories of one session (one for v2, one per controller for v1)."""

    version: int
    dirs: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for f in self.procs_files:
            with contextlib.suppress(OSError):
                found |= {int(p) for p in f.read_text().split()}
        return found

    def remove(self) -> None:
        for d in self.dirs:
            with contextlib.suppress(OSError):
                d.rmdir()


def _own_path(controller: str) -> str | None:
    """The hub's cgroup path for a v1 controller, or for v2 (`controller=""`)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(",") or (controller == "" and controllers == ""):
                return path
    return None


@dataclass(frozen=True)
class Limits:
    """What one session may use at most."""

    cores: float
    ram_bytes: int
    pids: int
    """Processes and threads at once (`pids.max`): a fork bomb stops there."""


def create(session_id: str, limits: Limits) -> SessionCgroup | None:
    """Create and configure the session's cgroup; None where cgroups cannot be used here."""
    try:
        return _create_v2(session_id, limits) or _create_v1(session_id, limits)
    except OSError:
        return None


def find(session_id: str) -> SessionCgroup | None:
    """The cgroup a session was given earlier (e.g. before a hub restart), if it still exists."""
    parent = _v2_parent()
    if parent is not None:
        d = parent / "arcade" / session_id
        return SessionCgroup(version=2, dirs=(d,)) if d.is_dir() else None
    dirs = tuple(d for d in (_v1_dir(c, session_id) for c in V1_CONTROLLERS) if d)
    return SessionCgroup(version=1, dirs=dirs) if any(d.is_dir() for d in dirs) else None


def _v2_parent() -> Path | None:
    own = _own_path("")
    if own is None or not (ROOT / "cgroup.controllers").exists():
        return None
    parent = ROOT / own.lstrip("/")
    with contextlib.suppress(OSError):
        if set(V2_CONTROLLERS) <= set((parent / "cgroup.controllers").read_text().split()):
            return parent
    return None


def _v1_dir(controller: str, session_id: str) -> Path | None:
    own = _own_path(controller)
    mount = ROOT / controller
    if own is None or not mount.is_dir():
        return None
    return mount / own.lstrip("/") / "arcade" / session_id


def _create_v2(session_id: str, limits: Limits) -> SessionCgroup | None:
    parent = _v2_parent()
    if parent is None:
        return None
    base = parent / "arcade"
    base.mkdir(exist_ok=True)
    enable = " ".join(f"+{c}" for c in V2_CONTROLLERS)
    (parent / "cgroup.subtree_control").write_text(enable)
    (base / "cgroup.subtree_control").write_text(enable)
    d = base / session_id
    d.mkdir(exist_ok=True)
    (d / "memory.max").write_text(str(limits.ram_bytes))
    (d / "cpu.max").write_text(f"{int(limits.cores * PERIOD_US)} {PERIOD_US}")
    (d / "pids.max").write_text(str(limits.pids))
    return SessionCgroup(version=2, dirs=(d,))


def _create_v1(session_id: str, limits: Limits) -> SessionCgroup | None:
    dirs: list[Path] = []
    quota = str(int(limits.cores * PERIOD_US))
    for controller, settings in (
        ("memory", {"memory.limit_in_bytes": str(limits.ram_bytes)}),
        ("cpu", {"cpu.cfs_period_us": str(PERIOD_US), "cpu.cfs_quota_us": quota}),
        ("pids", {"pids.max": str(limits.pids)}),
    ):
        d = _v1_dir(controller, session_id)
        if d is None:
            return None
        d.mkdir(parents=True, exist_ok=True)
        dirs.append(d)
        for name, value in settings.items():
            (d / name).write_text(value)
    return SessionCgroup(version=1, dirs=tuple(dirs))


def join(cgroup: SessionCgroup) -> None:
    """Move the calling process into the session's cgroup (called in the child before exec)."""
    pid = str(os.getpid())
    for f in cgroup.procs_files:
        f.write_text(pid)
