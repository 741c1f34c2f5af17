"""Find and stop every process of a session.

Each session's processes carry `ARCADE_SESSION_ID` in their environment and, where cgroups are
used, live in the session's cgroup. Xvnc, window managers and dbus daemons that detach from the
single-user server are found either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import psutil

from arcade_hub import contract

MARKER = contract.SESSION_ID


def session_pids(session_id: str, extra: set[int] | None = None) -> set[int]:
    """Pids whose environment carries this session's marker, plus `extra` still alive."""
    found = {p for p in (extra or set()) if psutil.pid_exists(p)}
    for proc in psutil.process_iter(["pid", "environ"]):
        # another user's process whose environment root may not read has environ None
        if proc.info["pid"] != os.getpid() and (proc.info["environ"] or {}).get(
            MARKER
        ) == session_id:
            found.add(proc.info["pid"])
    return found


async def terminate(pids: set[int], grace: float = 5.0) -> set[int]:
    """SIGTERM, wait up to `grace` seconds for them to go, then SIGKILL. Returns survivors."""
    _signal_all(pids, signal.SIGTERM)
    alive = await _wait_gone(pids, grace)
    if alive:
        _signal_all(alive, signal.SIGKILL)
        alive = await _wait_gone(alive, 2.0)
    return alive


def _signal_all(pids: set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


async def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    alive = set(pids)
    while alive:
        alive = {p for p in alive if _alive(p)}
        if not alive or loop.time() > deadline:
            break
        await asyncio.sleep(0.05)
    return alive


def _alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
        return True
    except psutil.NoSuchProcess:
        return False
