"""Launch a desktop app into a running local desktop session, as its own process.

The app runs as the session's user, inside the session's cgroup and with the session's
datasets bound read-only, with DISPLAY and a FamilyWild cookie for the session's X server.
It carries the session's ARCADE_SESSION_ID, so it stops when the desktop stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from arcade_hub.config.models import CatalogueEntry
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
    reason = LocalAvailability(path=local_search_path()).unavailable_reason(entry)
    if reason or entry.local is None or not entry.local.cmd:
        raise AppNotRunnable(f"{entry.title} cannot run here: {reason or 'no command'}", 400)
    desktop = session.desktop()
    if desktop is None:
        raise AppNotRunnable(
            "the desktop of this session is not running yet: open it in your browser first"
        )
    env = {
        **session.environment(),
        **entry.local.env,
        "DISPLAY": str(desktop["display"]),
        "XAUTHORITY": str(desktop["xauthority"]),
        "ARCADE_APP": entry.name,
    }
    logs = session.tree.session / "apps"
    logs.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        os.chown(logs, session.identity.uid, session.identity.gid)
    log_path = logs / f"{entry.name}-{int(time.time() * 1000)}.log"
    with open(log_path, "wb") as out:
        if os.geteuid() == 0:
            os.fchown(out.fileno(), session.identity.uid, session.identity.gid)
        proc = await asyncio.create_subprocess_exec(
            *entry.local.cmd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            preexec_fn=make_preexec(session.sandbox()),
            start_new_session=True,
        )
    log.info(
        "Launched %s (pid %d) into %s for %s",
        entry.name,
        proc.pid,
        session.spec.session_id,
        session.spec.username,
    )
    asyncio.get_running_loop().create_task(_reap(proc, entry.name))
    return {
        "app": entry.name,
        "title": entry.title,
        "pid": proc.pid,
        "display": desktop["display"],
        "session_id": session.spec.session_id,
        "log": str(log_path),
    }


async def _reap(proc: asyncio.subprocess.Process, name: str) -> None:
    code = await proc.wait()
    log.info("App %s (pid %d) exited with %s", name, proc.pid, code)
