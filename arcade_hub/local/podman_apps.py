"""Desktop apps as podman containers on the embedded backend.

A desktop-app whose catalogue image is in local podman storage runs as a container that draws
on the session's desktop through the X unix sockets' directory and the session's FamilyWild app
cookie, both mounted read-only. Both paths are root's own: podman (root) never mounts a path
the session's user could have changed (the cookie is a copy root made in the root-owned session
directory, `arcade_hub.local.apps`). The container runs as the session's uid, with no network, no
capabilities, a read-only root filesystem, and the session's home, projects, datasets
(read-only) and scratch at the same paths as in the desktop, so `ARCADE_*` mean the same.
It is held to the session's cores and RAM by its own limits (podman puts it in a cgroup of its
own, outside the session's).

Stopping: every container is named in `<data_dir>/sessions/<session id>.containers` (beside
the session directory, so not writable by the session's user) and labelled with the session id;
the spawner's clean-up removes them (`remove_session_containers`) before it stops the session's
remaining processes. The podman client and the app inside the container also carry
`ARCADE_SESSION_ID` in their environment (podman's `conmon` does not, which is why the
containers are removed by name).

The command builder and the choice rule are pure; the functions at the end run podman.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from arcade_hub import contract
from arcade_hub.config import CatalogueEntry, PlatformConfig
from arcade_hub.images import labels as image_labels
from arcade_hub.launch.spec import MountKind
from arcade_hub.launch.storage import path_name
from arcade_hub.local.availability import LocalAvailability, local_search_path

if TYPE_CHECKING:
    from arcade_hub.local.session import Desktop, LocalSession

log = logging.getLogger("arcade_hub.launch")

PODMAN = "podman"
LABEL_SESSION = "org.arcade-hub.session-id"
LABEL_APP = "org.arcade-hub.app"
LABEL_USER = "org.arcade-hub.user"
CONTAINER_XAUTHORITY = "/run/arcade/xauthority"
CONTAINERS_SUFFIX = ".containers"
"""Beside the session directory: one container name a line, removed at stop."""
HOST_ONLY_ENV = frozenset(
    {contract.SESSION_DIR, contract.DESKTOP_APPS, contract.DESKTOP_LAUNCH_COMMAND, contract.API_URL}
)
"""Embedded-backend variables naming things the container does not see."""
PASSED_ENV = ("HOME", "USER", "LOGNAME")
HYBRID_CGROUPS_MOUNT = "/sys/fs/cgroup/unified"


@dataclass(frozen=True)
class Bind:
    source: str
    target: str
    read_only: bool = False

    def volume(self) -> str:
        return f"{self.source}:{self.target}:{'ro' if self.read_only else 'rw'}"


@dataclass(frozen=True)
class AppContainer:
    """Everything `podman run` needs to start one app into one desktop (plain data)."""

    name: str
    image: str
    command: tuple[str, ...]
    """Empty: the image's own entrypoint and cmd."""
    session_id: str
    app: str
    username: str
    uid: int
    gid: int
    display: str
    x11_dir: str
    """Host directory of the X servers' unix sockets (root's, sticky)."""
    xauthority: str
    """Host path of root's copy of the session's FamilyWild app cookie."""
    workdir: str
    binds: tuple[Bind, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    groups: tuple[int, ...] = ()
    rootless: bool = False
    runtime: str | None = None
    cores: float | None = None
    """At most the session's cores and RAM (the container is outside the session's cgroup)."""
    ram_bytes: int | None = None


def podman_run_command(c: AppContainer, podman: str = PODMAN) -> list[str]:
    """The `podman run` command line for `c` (foreground, removed when it exits)."""
    cmd = [podman]
    if c.runtime:
        cmd += ["--runtime", c.runtime]
    cmd += [
        "run", "--rm", "--pull=never",
        "--name", c.name,
        "--user", f"{c.uid}:{c.gid}",
        "--network=none",
        "--read-only",
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--label", f"{LABEL_SESSION}={c.session_id}",
        "--label", f"{LABEL_APP}={c.app}",
        "--label", f"{LABEL_USER}={c.username}",
        "--workdir", c.workdir,
        "-v", Bind(c.x11_dir, c.x11_dir, read_only=True).volume(),
        "-v", Bind(c.xauthority, CONTAINER_XAUTHORITY, read_only=True).volume(),
    ]  # fmt: skip
    if c.cores is not None:
        cmd.append(f"--cpus={c.cores:g}")
    if c.ram_bytes is not None:
        cmd += [f"--memory={c.ram_bytes}", f"--memory-swap={c.ram_bytes}"]
    if c.rootless:
        cmd.append("--userns=keep-id")
    else:
        for gid in c.groups:
            if gid != c.gid:
                cmd += ["--group-add", str(gid)]
    for bind in c.binds:
        cmd += ["-v", bind.volume()]
    env = {
        **c.env,
        contract.SESSION_ID: c.session_id,
        contract.APP: c.app,
        "DISPLAY": c.display,
        "XAUTHORITY": CONTAINER_XAUTHORITY,
    }
    for key, value in sorted(env.items()):
        cmd += ["-e", f"{key}={value}"]
    if c.command:
        cmd += ["--entrypoint", c.command[0], c.image, *c.command[1:]]
    else:
        cmd.append(c.image)
    return cmd


def app_command(image_label_map: Mapping[str, str], entry: CatalogueEntry) -> tuple[str, ...]:
    """The image's `org.arcade-hub.command` label, else the entry's `local.cmd`, else empty
    (the image's own entrypoint and cmd)."""
    label = image_label_map.get(image_labels.COMMAND, "").split()
    if label:
        return tuple(label)
    if entry.local is not None and entry.local.cmd:
        return tuple(entry.local.cmd)
    return ()


def container_env(session_env: Mapping[str, str]) -> dict[str, str]:
    """The session's `ARCADE_*` (minus host-only ones) plus HOME, USER and LOGNAME."""
    env = {
        k: v
        for k, v in session_env.items()
        if k.startswith(contract.PREFIX) and k not in HOST_ONLY_ENV
    }
    env.update({k: session_env[k] for k in PASSED_ENV if k in session_env})
    return env


def session_binds(session: LocalSession) -> tuple[Bind, ...]:
    """Home, projects and scratch read-write, datasets read-only, where the desktop has them."""
    spec, tree = session.spec, session.tree
    binds = [Bind(str(tree.home), str(tree.home)), Bind(str(tree.scratch), str(tree.scratch))]
    binds += [
        Bind(m.source, str(tree.projects / path_name(m.name)))
        for m in spec.mounts_of(MountKind.project)
    ]
    binds += [
        Bind(m.source, str(tree.datasets / m.name), read_only=True)
        for m in spec.mounts_of(MountKind.dataset)
    ]
    return tuple(binds)


def container_for(
    session: LocalSession,
    entry: CatalogueEntry,
    desktop: Desktop,
    *,
    xauthority: Path,
    command: tuple[str, ...],
    name: str,
    rootless: bool,
    runtime: str | None,
) -> AppContainer:
    """The container of `entry` on the session's `desktop`, with root's copy of its cookie."""
    ident = session.identity
    return AppContainer(
        name=name,
        image=entry.image,
        command=command,
        session_id=session.spec.session_id,
        app=entry.name,
        username=session.spec.username,
        uid=ident.uid,
        gid=ident.gid,
        groups=tuple(ident.groups),
        display=desktop.display,
        x11_dir=str(desktop.x_socket.parent),
        xauthority=str(xauthority),
        workdir=str(session.tree.home),
        binds=session_binds(session),
        env=container_env(session.environment()),
        rootless=rootless,
        runtime=runtime,
        cores=session.spec.cores,
        ram_bytes=int(session.spec.ram_gib * 2**30),
    )


@dataclass(frozen=True)
class Choice:
    """How an app runs here: `container`, `local`, or not at all (`how` None, with `reason`)."""

    how: Literal["container", "local"] | None
    reason: str = ""


def choose(
    entry: CatalogueEntry,
    *,
    containers: bool,
    podman_reason: str | None,
    image_present: bool,
    local_reason: str | None,
) -> Choice:
    """Container when enabled, podman works and the image is in local storage; else the entry's
    `local` block when it is runnable; else why neither works."""
    if containers and podman_reason is None and image_present:
        return Choice("container")
    if local_reason is None and entry.local is not None and entry.local.cmd:
        return Choice("local")
    if not containers:
        why_not_container = "app containers are off (backend.local.app_containers)"
    elif podman_reason:
        why_not_container = podman_reason
    else:
        why_not_container = (
            f"its image {entry.image} is not in this machine's podman storage "
            f"(an administrator can add it with `podman pull {entry.image}`)"
        )
    if entry.local is None:
        why_not_local = "it has no `local` block"
    elif local_reason:
        why_not_local = local_reason
    else:
        why_not_local = "its `local` block names no command"
    return Choice(
        None,
        f"{entry.title} is not available on this machine (for operators: not as a container, "
        f"as {why_not_container}; not as a local command, as {why_not_local})",
    )


def app_choice(
    platform: PlatformConfig, entry: CatalogueEntry
) -> tuple[Choice, dict[str, str] | None]:
    """How `entry` runs on this machine's desktops (the one decision, for the menu and for a
    launch), and the labels of its image when it is in local podman storage. Asks podman:
    call it off the event loop."""
    containers = platform.backend.local.app_containers == "auto"
    podman_reason = podman_unavailable_reason() if containers else None
    labels = image_labels_if_present(entry.image) if containers and not podman_reason else None
    choice = choose(
        entry,
        containers=containers,
        podman_reason=podman_reason,
        image_present=labels is not None,
        local_reason=LocalAvailability(path=local_search_path()).unavailable_reason(entry),
    )
    return choice, labels


# --- running podman -------------------------------------------------------------------------


def podman_unavailable_reason(podman: str = PODMAN) -> str | None:
    if shutil.which(podman) is None:
        return "podman is not installed"
    return None


def image_labels_if_present(image: str, podman: str = PODMAN) -> dict[str, str] | None:
    """The labels of `image` if it is in local podman storage, else None (never pulls)."""
    try:
        done = subprocess.run(
            [podman, "image", "inspect", "--format", "{{json .Labels}}", image],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("podman image inspect %s failed: %s", image, exc)
        return None
    if done.returncode != 0:
        return None
    try:
        found = json.loads(done.stdout.strip() or "null")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in (found or {}).items()}


def oci_runtime() -> str | None:
    """`runc` on hybrid cgroup hosts (crun refuses them), else podman's default."""
    if os.path.ismount(HYBRID_CGROUPS_MOUNT) and shutil.which("runc"):
        return "runc"
    return None


def containers_file(session_dir: Path) -> Path:
    """In the root-owned `sessions` directory, not in the user's own session directory: the
    user must not name other containers for the clean-up to remove."""
    return session_dir.with_name(session_dir.name + CONTAINERS_SUFFIX)


def record_container(session_dir: Path, name: str) -> None:
    with open(containers_file(session_dir), "a") as f:
        f.write(name + "\n")


def recorded_containers(session_dir: Path) -> list[str]:
    try:
        text = containers_file(session_dir).read_text()
    except OSError:
        return []
    return [line for line in text.split() if line]


async def remove_session_containers(
    session_dir: Path, podman: str = PODMAN, timeout: float = 60
) -> list[str]:
    """Remove (stop at once) every app container the session started; return their names."""
    names = recorded_containers(session_dir)
    if not names or shutil.which(podman) is None:
        containers_file(session_dir).unlink(missing_ok=True)
        return []
    args = [podman]
    if runtime := oci_runtime():
        args += ["--runtime", runtime]
    proc = await asyncio.create_subprocess_exec(
        *args, "rm", "--force", "--ignore", "--time", "0", *names,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        log.warning("podman rm of %s took longer than %gs", names, timeout)
        return names
    if proc.returncode != 0:
        log.warning("podman rm of %s failed: %s", names, err.decode(errors="replace")[-500:])
        return names
    containers_file(session_dir).unlink(missing_ok=True)
    return names


def launch_environment(session_id: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The podman client's own environment: the hub's, marked with the session id."""
    return {**(os.environ if base is None else base), contract.SESSION_ID: session_id}
