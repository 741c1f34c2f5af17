"""Find and stop every process of a session by its ``ARCADE_SESSION_ID`` environment marker."""

from __future__ import annotations

import contextlib

import psutil

from .session import ENV_SESSION_ID


def session_processes(session_id: str) -> list[psutil.Process]:
    """Processes whose initial environment has ``ARCADE_SESSION_ID=session_id``.

    Reading another user's environment needs root (or the same uid); others are skipped.
    """
    marker = f"{ENV_SESSION_ID}={session_id}".encode()
    found = []
    for proc in psutil.process_iter():
        with (
            contextlib.suppress(OSError, psutil.Error),
            open(f"/proc/{proc.pid}/environ", "rb") as f,
        ):
            if marker in f.read().split(b"\0"):
                found.append(proc)
    return found


def kill_session(session_id: str, timeout: float = 5.0) -> list[int]:
    """SIGTERM the session's processes, SIGKILL survivors after ``timeout``; return their pids."""
    procs = [p for p in session_processes(session_id) if p.pid != psutil.Process().pid]
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=timeout)
    return [p.pid for p in procs]
