"""Stop a local session or job instance and remove what it left: the one teardown of the
embedded backend, for the spawner (sessions) and the job runner (instances).

In order: the app containers it started (by the names recorded in the root-owned record), every
process of the session (its cgroup and its `ARCADE_SESSION_ID` marker), its cgroup, its scratch
and its session directory. Trees are removed without following links and off the event loop
(`arcade_hub.local.safe_fs.remove_tree`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path

from arcade_hub.local import cgroups, podman_apps, processes
from arcade_hub.local.safe_fs import remove_tree

LOG = logging.getLogger("arcade_hub.local")
Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


async def stop_processes(
    session_id: str, cgroup: cgroups.SessionCgroup | None = None, log: Logger = LOG
) -> set[int]:
    """Terminate every process of the session; return those that would not stop."""
    cg = cgroup or cgroups.find(session_id)
    pids = await asyncio.to_thread(processes.session_pids, session_id, cg.pids() if cg else None)
    if not pids:
        return set()
    log.info("Stopping %d processes of %s", len(pids), session_id)
    survivors = await processes.terminate(pids)
    if survivors:
        log.warning("Processes %s of %s did not stop", sorted(survivors), session_id)
    return survivors


async def tear_down(
    session_id: str,
    data_dir: Path,
    scratch: Iterable[str],
    cgroup: cgroups.SessionCgroup | None = None,
    log: Logger = LOG,
) -> None:
    """Everything of the session, gone: containers, processes, cgroup, scratch, directory.
    `log`: the caller's logger (the spawner's goes to the hub's log)."""
    session_dir = data_dir / "sessions" / session_id
    removed = await podman_apps.remove_session_containers(session_dir)
    if removed:
        log.info("Removed app containers %s of %s", removed, session_id)
    cg = cgroup or cgroups.find(session_id)
    await stop_processes(session_id, cg, log)
    if cg:
        cg.remove()
    for path in scratch:
        await remove_tree(Path(path))
    await remove_tree(session_dir)
    log.info("Cleaned up %s", session_id)
