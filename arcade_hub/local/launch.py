"""Launch a desktop app into a running local desktop session, as its own process or container.

Where podman is installed and the entry's image is in local podman storage (and
`backend.local.app_containers` is `auto`), the app runs as a podman container
(`arcade_hub.local.podman_apps`). Otherwise it runs the entry's `local.cmd` as the session's
user, inside the session's cgroup and with the session's datasets bound read-only. Either way
it gets DISPLAY and a FamilyWild cookie for the session's X server and carries the session's
ARCADE_SESSION_ID, so it stops when the desktop stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arcade_hub.config.models import CatalogueEntry
from arcade_hub.local import podman_apps
from arcade_hub.local.availability import LocalAvailability, local_search_path
from arcade_hub.local.sandbox import make_preexec
from arcade_hub.local.session import LocalSession

log = logging.getLogger("arcade_hub.launch")


class AppNotRunnable(Exception):
    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


async def launch_app(session: LocalSession, entry: CatalogueEntry) -> dict[str, Any]:
    """Start `entry` on the session's desktop; return what was started."""
    containers = session.platform.backend.local.app_containers == "auto"
    podman_reason = podman_apps.podman_unavailable_reason() if containers else None
    image = None
    if containers and podman_reason is None:
        image = await asyncio.to_thread(podman_apps.image_labels_if_present, entry.image)
    choice = podman_apps.choose(
        entry,
        containers=containers,
        podman_reason=podman_reason,
        image_present=image is not None,
        local_reason=LocalAvailability(path=local_search_path()).unavailable_reason(entry),
    )
    if choice.how is None:
        raise AppNotRunnable(choice.reason, 400)
    desktop = session.desktop()
    if desktop is None:
        raise AppNotRunnable(
            "the desktop of this session is not running yet: open it in your browser first"
        )
    logs = _logs_dir(session)
    log_path = logs / f"{entry.name}-{int(time.time() * 1000)}.log"
    if choice.how == "container":
        assert image is not None
        return await _launch_container(session, entry, desktop, image, log_path)
    assert entry.local is not None and entry.local.cmd
    env = {
        **session.environment(),
        **entry.local.env,
        "DISPLAY": str(desktop["display"]),
        "XAUTHORITY": str(desktop["xauthority"]),
        "ARCADE_APP": entry.name,
    }
    preexec = make_preexec(session.sandbox())
    proc = await _spawn(session, entry, entry.local.cmd, env, log_path, preexec)
    log.info(
        "Launched %s (pid %d) into %s for %s",
        entry.name,
        proc.pid,
        session.spec.session_id,
        session.spec.username,
    )
    return _launched(session, entry, desktop, proc, log_path, "process")


async def _spawn(
    session: LocalSession,
    entry: CatalogueEntry,
    argv: list[str],
    env: dict[str, str],
    log_path: Path,
    preexec: Callable[[], None] | None = None,
) -> asyncio.subprocess.Process:
    """Start an app's process with its output in a log the user owns; reap it when it ends."""
    with open(log_path, "wb") as out:
        if os.geteuid() == 0:
            os.fchown(out.fileno(), session.identity.uid, session.identity.gid)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            preexec_fn=preexec,
            start_new_session=True,
        )
    asyncio.get_running_loop().create_task(_reap(proc, entry.name))
    return proc


def _launched(
    session: LocalSession,
    entry: CatalogueEntry,
    desktop: dict[str, str],
    proc: asyncio.subprocess.Process,
    log_path: Path,
    runs_as: str,
    **extra: str,
) -> dict[str, Any]:
    """What the apps API answers about a started app."""
    return {
        "app": entry.name,
        "title": entry.title,
        "pid": proc.pid,
        "display": desktop["display"],
        "session_id": session.spec.session_id,
        "log": str(log_path),
        "runs_as": runs_as,
        **extra,
    }


def _logs_dir(session: LocalSession) -> Path:
    logs = session.tree.session / "apps"
    logs.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        os.chown(logs, session.identity.uid, session.identity.gid)
    return logs


async def _launch_container(
    session: LocalSession,
    entry: CatalogueEntry,
    desktop: dict[str, str],
    image_labels: dict[str, str],
    log_path: Path,
) -> dict[str, Any]:
    spec = session.spec
    name = f"arcade-{spec.session_id}-{entry.name}-{secrets.token_hex(3)}"
    container = podman_apps.container_for(
        session,
        entry,
        desktop,
        command=podman_apps.app_command(image_labels, entry),
        name=name,
        rootless=os.geteuid() != 0,
        runtime=await asyncio.to_thread(podman_apps.oci_runtime),
    )
    # Recorded before it starts, so the session's clean-up removes it whatever happens.
    podman_apps.record_container(session.tree.session, name)
    proc = await _spawn(
        session,
        entry,
        podman_apps.podman_run_command(container),
        podman_apps.launch_environment(spec.session_id),
        log_path,
    )
    log.info(
        "Launched %s as container %s (podman pid %d) into %s for %s",
        entry.name,
        name,
        proc.pid,
        spec.session_id,
        spec.username,
    )
    return _launched(
        session, entry, desktop, proc, log_path, "container", container=name, image=entry.image
    )


async def _reap(proc: asyncio.subprocess.Process, name: str) -> None:
    code = await proc.wait()
    log.info("App %s (pid %d) exited with %s", name, proc.pid, code)
