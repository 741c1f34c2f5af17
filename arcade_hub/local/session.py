"""A local session as the spawner and the arcade service both see it.

The spawner `prepare`s it (directories, cgroup) before starting the single-user server; the
service `reopen`s it to launch desktop apps into it as the same user, with the same storage,
limits and environment.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from arcade_hub import contract
from arcade_hub.backend import app_listing
from arcade_hub.config import CatalogueEntry, Kind, PlatformConfig
from arcade_hub.launch.spec import LaunchSpec, MountKind
from arcade_hub.launch.storage import expand, session_environment
from arcade_hub.local import cgroups, podman_apps
from arcade_hub.local.availability import local_search_path
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
from arcade_hub.local.safe_fs import Unreadable, make_dir, read_beneath, replace_file
from arcade_hub.local.sandbox import Sandbox, read_only_binds_supported
from arcade_hub.sizes import gib_to_bytes

BIN_DIR = Path(sys.executable).parent
JUPYTER_CONFIG = Path(__file__).parents[1] / "jupyter-config"
"""Jupyter configuration of every session (JUPYTER_CONFIG_PATH): JupyterLab neither prompts
for nor fetches news, nor checks for updates. Images copy it to `<sys.prefix>/etc/jupyter`."""
APPS_FILE = "desktop-apps.json"
DESKTOP_FILE = "desktop.json"
"""What the desktop publishes in the session's user directory (`arcade_hub.desktop.session`)."""
APP_XAUTHORITY = "app.xauth"
"""The desktop's FamilyWild cookie for X clients, in the user directory."""
X11_UNIX_DIR = Path("/tmp/.X11-unix")
DESKTOP_FILE_LIMIT = 64 * 1024
_DISPLAY = re.compile(r":([0-9]{1,5})")


@dataclass(frozen=True)
class Desktop:
    """A running desktop of a session, as root may use it: the display number is all that is
    taken from what the desktop published; every path is root's own."""

    number: int
    x_socket: Path
    user_xauthority: Path
    """The user's own cookie file: for apps running as the user, never read by root by path."""

    @property
    def display(self) -> str:
        return f":{self.number}"


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
        if spec.kind in (Kind.desktop, Kind.desktop_app):
            ensure_x11_unix_dir()
        tree = prepare_session_tree(spec, data_dir, ident, read_only_binds_supported())
        if not ident.is_hub_user and (reason := blocked_path(tree.session, ident)):
            raise SessionSetupError(unreachable_message(reason))
        menu = json.dumps(app_listing(desktop_apps(platform))).encode()
        replace_file(tree.session, APPS_FILE, menu, 0o644)
        project_groups = [m.name for m in spec.mounts_of(MountKind.project)]
        groups = dict(zip(project_groups, ident.groups, strict=False))
        write_nss_files(tree.session, spec.username, ident, tree.home, groups)
        limits = platform.backend.local.enforce_limits
        cg = None
        if limits and os.geteuid() == 0:
            cg = cgroups.create(
                spec.session_id,
                cgroups.Limits(
                    spec.cores, gib_to_bytes(spec.ram_gib), platform.backend.local.max_processes
                ),
            )
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
        """Host paths of every dataset of the platform this user may not use (the policy's
        `allowed_datasets`): covered inside the session, datasets added later included."""
        allowed = {*self.spec.allowed_datasets, self.spec.dataset}
        return tuple(
            str(path)
            for d in self.platform.datasets
            if d.id not in allowed and (path := expand(d.path, self.data_dir)).is_dir()
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
        env.update({
            contract.SESSION_DIR: str(tree.user_dir),
            contract.LIMITS: self.limits,
            contract.DESKTOP_APPS: str(tree.session / APPS_FILE),
            contract.DESKTOP_LAUNCH_COMMAND: str(BIN_DIR / "arcade-launch"),
        })
        env.update(
            HOME=str(tree.home),
            USER=spec.username,
            LOGNAME=spec.username,
            SHELL="/bin/bash",
            PATH=local_search_path(),
        )
        env.update(nss_environment(tree.session))
        env["JUPYTER_CONFIG_PATH"] = str(JUPYTER_CONFIG)
        if api_url:
            env[contract.API_URL] = api_url
        if spec.kind == Kind.desktop_app and spec.entry:
            env[contract.AUTOSTART] = spec.entry
        return env

    def desktop(self) -> Desktop | None:
        """The session's desktop once it runs: its display number, read from what the desktop
        published in the user's directory without following links or waiting on FIFOs;
        None when there is none (yet) or what is there is not a desktop's."""
        user_dir = self.tree.user_dir
        try:
            info = json.loads(read_beneath(user_dir, user_dir / DESKTOP_FILE, DESKTOP_FILE_LIMIT))
        except (Unreadable, ValueError):
            return None
        found = _DISPLAY.fullmatch(str(info.get("display", ""))) if isinstance(info, dict) else None
        if found is None:
            return None
        number = int(found[1])
        return Desktop(number, X11_UNIX_DIR / f"X{number}", user_dir / APP_XAUTHORITY)


def ensure_x11_unix_dir() -> None:
    """/tmp/.X11-unix, where every desktop's X server has its socket: made by root (sticky,
    1777) before a desktop starts. Made by a session's user, it would be theirs, and so would
    be every other display's socket entry in it."""
    try:
        make_dir(X11_UNIX_DIR, 0o1777, exist_ok=False)
        return
    except FileExistsError:
        pass
    st = os.lstat(X11_UNIX_DIR)
    sticky_dir = stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
    if os.geteuid() == 0 and not (sticky_dir and st.st_uid == 0):
        raise SessionSetupError(
            f"{X11_UNIX_DIR} is not root's sticky directory (owner uid {st.st_uid}, mode "
            f"{stat.S_IMODE(st.st_mode):o}): desktops cannot start safely. An administrator "
            f"should remove it (rm -r {X11_UNIX_DIR}) when no desktop runs."
        )


def desktop_apps(platform: PlatformConfig) -> list[tuple[CatalogueEntry, str | None]]:
    """Every desktop-app entry, and why it cannot run on this machine (None: it can, as its
    `local` command or, with `backend.local.app_containers: auto`, as a podman container of
    its image in local storage)."""
    found = []
    for e in platform.catalogue:
        if e.kind == Kind.desktop_app:
            choice, _ = podman_apps.app_choice(platform, e)
            found.append((e, choice.reason if choice.how is None else None))
    return found


def _pick_cpus(spec: LaunchSpec) -> frozenset[int] | None:
    available = sorted(os.sched_getaffinity(0))
    want = max(1, math.ceil(spec.cores))
    if want >= len(available):
        return None
    start = int(spec.session_id, 16) % len(available)
    return frozenset(available[(start + i) % len(available)] for i in range(want))
