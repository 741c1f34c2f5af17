"""A local session as the spawner and the arcade service both see it.

The spawner `prepare`s it (directories, cgroup) before starting the single-user server; the
service `reopen`s it to launch desktop apps into it as the same user, with the same storage,
limits and environment.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from arcade_hub.config.models import CatalogueEntry, Kind, PlatformConfig
from arcade_hub.local import cgroups, podman_apps
from arcade_hub.local.availability import LocalAvailability, local_search_path
from arcade_hub.local.identity import Identity, IdentityRegistry, hub_identity
from arcade_hub.local.nss import nss_environment, write_nss_files
from arcade_hub.local.paths import (
    SessionTree,
    blocked_path,
    prepare_session_tree,
    session_layout,
    unreachable_message,
    unreachable_reason,
)
from arcade_hub.local.sandbox import Sandbox, read_only_binds_supported
from arcade_hub.sizes import gib_to_bytes
from arcade_hub.spec import LaunchSpec, MountKind
from arcade_hub.storage import expand, session_environment

BIN_DIR = Path(sys.executable).parent
APPS_FILE = "desktop-apps.json"


class SessionSetupError(Exception):
    """The machine cannot run this session as configured; the message says why and what to do."""


def per_user(platform: PlatformConfig) -> bool:
    run_as = platform.backend.local.run_as
    return run_as == "per-user" or (run_as == "auto" and os.geteuid() == 0)


def identity_for(spec: LaunchSpec, platform: PlatformConfig, data_dir: Path) -> Identity:
    if not per_user(platform):
        return hub_identity()
    registry = IdentityRegistry(data_dir / "identities.json", platform.backend.local.uid_range)
    groups = frozenset(m.name for m in spec.mounts_of(MountKind.project))
    return registry.identity(spec.username, groups)


@dataclass(frozen=True)
class LocalSession:
    spec: LaunchSpec
    platform: PlatformConfig
    data_dir: Path
    identity: Identity
    tree: SessionTree
    cgroup: cgroups.SessionCgroup | None
    cpus: frozenset[int] | None

    @classmethod
    def prepare(cls, spec: LaunchSpec, platform: PlatformConfig, data_dir: Path) -> LocalSession:
        """Create the session's directories and cgroup (before the server starts)."""
        ident = identity_for(spec, platform, data_dir)
        if not ident.is_hub_user:
            reason = unreachable_reason(str(BIN_DIR / "jupyterhub-singleuser"), ident)
            if reason:
                raise SessionSetupError(unreachable_message(reason))
        tree = prepare_session_tree(spec, data_dir, ident, read_only_binds_supported())
        if not ident.is_hub_user and (reason := blocked_path(tree.session, ident)):
            raise SessionSetupError(unreachable_message(reason))
        _write_apps_file(tree.session / APPS_FILE, platform, ident)
        project_groups = [m.name for m in spec.mounts_of(MountKind.project)]
        groups = dict(zip(project_groups, ident.groups, strict=False))
        write_nss_files(tree.session, spec.username, ident, tree.home, groups)
        limits = platform.backend.local.enforce_limits
        cg = None
        if limits and os.geteuid() == 0:
            cg = cgroups.create(spec.session_id, spec.cores, gib_to_bytes(spec.ram_gib))
        cpus = None if cg or not limits else _pick_cpus(spec)
        return cls(spec, platform, data_dir, ident, tree, cg, cpus)

    @classmethod
    def reopen(cls, spec: LaunchSpec, platform: PlatformConfig, data_dir: Path) -> LocalSession:
        """The running session's layout, identity and cgroup (creates nothing)."""
        ident = identity_for(spec, platform, data_dir)
        tree = session_layout(spec, data_dir, read_only_binds_supported())
        return cls(spec, platform, data_dir, ident, tree, cgroups.find(spec.session_id), None)

    @property
    def limits(self) -> str:
        if self.cgroup:
            return f"cgroup v{self.cgroup.version}"
        return "CPU affinity (RAM not enforced)" if self.cpus else "not enforced"

    def sandbox(self) -> Sandbox:
        return Sandbox(
            identity=self.identity,
            home=str(self.tree.home),
            cgroup=self.cgroup,
            cpus=self.cpus,
            read_only_binds=self.tree.read_only_binds,
            hidden=self.hidden_datasets() if read_only_binds_supported() else (),
            umask=0o007 if per_user(self.platform) else 0o022,
        )

    def hidden_datasets(self) -> tuple[str, ...]:
        """Host paths of datasets this user may not use: covered inside the session."""
        groups = {m.name for m in self.spec.mounts_of(MountKind.project)}
        return tuple(
            str(path)
            for d in self.platform.datasets
            if d.groups
            and not groups & set(d.groups)
            and (path := expand(d.path, self.data_dir)).is_dir()
        )

    def environment(self, api_url: str = "") -> dict[str, str]:
        """ARCADE_* plus what the desktop and `arcade-launch` need, identical for the server
        and for every app launched into the session."""
        spec, tree = self.spec, self.tree
        env: dict[str, str] = {}
        # Catalogue entries may add variables; the contract's own always win.
        for name in (spec.desktop, spec.entry):
            local = self.platform.entry(name).local if name else None
            if local is not None:
                env.update(local.env)
        env |= session_environment(
            spec,
            home=str(tree.home),
            projects=str(tree.projects),
            datasets=str(tree.datasets),
            scratch=str(tree.scratch),
        )
        env.update(
            ARCADE_SESSION_DIR=str(tree.session),
            ARCADE_LIMITS=self.limits,
            ARCADE_DESKTOP_APPS=str(tree.session / APPS_FILE),
            ARCADE_DESKTOP_LAUNCH_COMMAND=str(BIN_DIR / "arcade-launch"),
            HOME=str(tree.home),
            USER=spec.username,
            LOGNAME=spec.username,
            SHELL="/bin/bash",
            PATH=local_search_path(),
        )
        env.update(nss_environment(tree.session))
        if api_url:
            env["ARCADE_API_URL"] = api_url
        if spec.kind == Kind.desktop_app and spec.entry:
            env["ARCADE_AUTOSTART"] = spec.entry
        return env

    def desktop(self) -> dict[str, str] | None:
        """What the desktop published about its display, once it runs."""
        try:
            info = json.loads((self.tree.session / "desktop.json").read_text())
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None


def desktop_apps(platform: PlatformConfig) -> list[dict[str, str]]:
    """The desktop-app entries this machine can run, as the desktop menu lists them: those
    with a runnable `local` block, and those whose image is in local podman storage."""
    availability = LocalAvailability(path=local_search_path())
    containers = (
        platform.backend.kind == "local"
        and platform.backend.local.app_containers == "auto"
        and podman_apps.podman_unavailable_reason() is None
    )

    def runnable(e: CatalogueEntry) -> bool:
        if availability.unavailable_reason(e) is None:
            return True
        return containers and podman_apps.image_labels_if_present(e.image) is not None

    return [
        {
            "name": e.name,
            "title": e.title,
            "group": e.group,
            "version": next(iter(e.versions.values()), ""),
        }
        for e in platform.catalogue
        if e.kind == Kind.desktop_app and runnable(e)
    ]


def _write_apps_file(path: Path, platform: PlatformConfig, ident: Identity) -> None:
    path.write_text(json.dumps(desktop_apps(platform), indent=1))
    if os.geteuid() == 0:
        os.chown(path, ident.uid, ident.gid)


def _pick_cpus(spec: LaunchSpec) -> frozenset[int] | None:
    available = sorted(os.sched_getaffinity(0))
    want = max(1, math.ceil(spec.cores))
    if want >= len(available):
        return None
    start = int(spec.session_id, 16) % len(available)
    return frozenset(available[(start + i) % len(available)] for i in range(want))
