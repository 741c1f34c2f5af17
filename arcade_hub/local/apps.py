"""Launch a desktop app into a running local desktop session, as its own process or container.

Where podman is installed and the entry's image is in local podman storage (and
`backend.local.app_containers` is `auto`), the app runs as a podman container
(`arcade_hub.local.podman_apps`). Otherwise it runs the entry's `local.cmd` as the session's
user, inside the session's cgroup and with the session's datasets bound read-only. Either way
it gets DISPLAY and a FamilyWild cookie for the session's X server and carries the session's
ARCADE_SESSION_ID, so it stops when the desktop stops.

Root works here in a session its user controls: the display number is all it takes from what
the desktop published (`LocalSession.desktop`); the app's log is a new file root creates in the
root-owned `apps/` directory of the session (the user reads it through the session's group);
a container gets root's own copy of the desktop's cookie, never a path the user names.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arcade_hub import contract
from arcade_hub.backend import AppNotRunnable
from arcade_hub.config import CatalogueEntry
from arcade_hub.desktop.xauth import MIT_MAGIC_COOKIE, parse_xauthority, xauth_entry
from arcade_hub.local import podman_apps
from arcade_hub.local.safe_fs import Unreadable, create_file, read_beneath, replace_file
from arcade_hub.local.sandbox import make_preexec
from arcade_hub.local.session import Desktop, LocalSession

CONTAINER_XAUTHORITY = "app.xauth"
"""Root's copy of the desktop's cookie, in the root-owned session directory."""
XAUTHORITY_LIMIT = 4096

log = logging.getLogger("arcade_hub.launch")


async def launch_app(
    session: LocalSession, entry: CatalogueEntry, api_url: str = ""
) -> dict[str, Any]:
    """Start `entry` on the session's desktop; return what was started. `api_url`: the
    arcade service's API, so the app's processes can launch apps too (`arcade-launch`)."""
    choice, image = await asyncio.to_thread(podman_apps.app_choice, session.platform, entry)
    if choice.how is None:
        raise AppNotRunnable(choice.reason, 400)
    _check_layout(session)
    desktop = session.desktop()
    if desktop is None:
        raise AppNotRunnable(
            "the desktop of this session is not running yet: open it in your browser first"
        )
    log_path = session.tree.app_logs / f"{entry.name}-{int(time.time() * 1000)}.log"
    if choice.how == "container":
        assert image is not None
        return await _launch_container(session, entry, desktop, image, log_path)
    assert entry.local is not None and entry.local.cmd
    env = {
        **session.environment(api_url),
        **entry.local.env,
        "DISPLAY": desktop.display,
        "XAUTHORITY": str(desktop.user_xauthority),
        contract.APP: entry.name,
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
    """Start an app's process with its output in a new log the session's group may read; reap
    it when it ends."""
    out = create_file(log_path.parent, log_path.name, 0o640, gid=session.identity.gid)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            preexec_fn=preexec,
            start_new_session=True,
        )
    finally:
        os.close(out)
    asyncio.get_running_loop().create_task(_reap(proc, entry.name))
    return proc


def _launched(
    session: LocalSession,
    entry: CatalogueEntry,
    desktop: Desktop,
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
        "display": desktop.display,
        "session_id": session.spec.session_id,
        "log": str(log_path),
        "runs_as": runs_as,
        **extra,
    }


def _check_layout(session: LocalSession) -> None:
    """Sessions started before the session directory became root's cannot take apps safely."""
    if os.geteuid() == 0 and os.lstat(session.tree.session).st_uid != 0:
        raise AppNotRunnable(
            "this session was started by an older version of Arcade Hub: stop it and start "
            "a new one to open apps on its desktop"
        )


def container_cookie(session: LocalSession, desktop: Desktop) -> Path:
    """Root's copy of the desktop's cookie for app containers: the cookie is read from the
    user's directory without following links (`read_beneath`), and written as a fresh
    FamilyWild entry for the desktop's display into the root-owned session directory, readable
    by the session's group."""
    user_dir = session.tree.user_dir
    try:
        data = read_beneath(user_dir, desktop.user_xauthority, XAUTHORITY_LIMIT)
        entries = parse_xauthority(data)
    except (Unreadable, struct.error):
        entries = []
    cookies = [cookie for _, _, _, name, cookie in entries if name == MIT_MAGIC_COOKIE]
    if not cookies or len(cookies[0]) != 16:
        raise AppNotRunnable(
            "the desktop of this session has no X cookie: reload the desktop in your browser"
        )
    replace_file(
        session.tree.session,
        CONTAINER_XAUTHORITY,
        xauth_entry(desktop.number, cookies[0]),
        0o640,
        gid=session.identity.gid,
    )
    return session.tree.session / CONTAINER_XAUTHORITY


async def _launch_container(
    session: LocalSession,
    entry: CatalogueEntry,
    desktop: Desktop,
    image_labels: dict[str, str],
    log_path: Path,
) -> dict[str, Any]:
    spec = session.spec
    name = f"arcade-{spec.session_id}-{entry.name}-{secrets.token_hex(3)}"
    container = podman_apps.container_for(
        session,
        entry,
        desktop,
        xauthority=container_cookie(session, desktop),
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
