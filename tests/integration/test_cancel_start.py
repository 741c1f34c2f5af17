"""Cancelling a session while it starts, through the real hub: JupyterHub's DELETE of a
pending server cancels the start, gives it one second and then stops the server. A session
whose processes are slow to die (here: its server's parent ignores SIGTERM, so the clean-up
waits out its grace period) must still be stopped cleanly, never left "ready" without a server,
and the same named session must start again."""

from __future__ import annotations

import os
import shlex
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arcade_hub.local import cgroups, processes
from arcade_hub.spawners.local import ArcadeLocalSpawner
from tests.hub import (
    RunningHub,
    make_gate,
    processes_mentioning,
    release,
    running_hub,
    shared_tmp,
    wait_for,
)


@pytest.fixture(scope="module")
def held() -> Iterator[tuple[RunningHub, Path]]:
    """A hub whose sessions' servers wait, once started, until the test writes "go" to the
    FIFO; while they wait, they ignore SIGTERM (and SIGINT)."""
    tmp = shared_tmp()
    gate = make_gate(tmp)
    command = (f"trap '' INT TERM; read go < {shlex.quote(str(gate))} || exit 1; "
               "trap - INT TERM; exec \"$0\" \"$@\"")
    settings = {
        "ArcadeLocalSpawner": {
            "cmd": ["/bin/sh", "-c", command, ArcadeLocalSpawner.singleuser_command()]},
        "JupyterHub": {"slow_spawn_timeout": 0.5},  # answer a POST at once: 202, starting
    }
    try:
        with running_hub(tmp, hub_settings=settings) as hub:
            yield hub, gate
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def waiting_at(gate: Path) -> str | None:
    """The session id of the session whose server waits at the gate, once it does."""
    for pid in processes_mentioning(gate):
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        for item in env:
            if item.startswith(b"ARCADE_SESSION_ID="):
                return item.split(b"=", 1)[1].decode()
    return None


def session_left(hub: RunningHub, session_id: str) -> list[str]:
    """What is left of a session: its processes, cgroup, directory and scratch."""
    left = [f"process {p}" for p in processes.session_pids(session_id)]
    if cgroups.find(session_id) is not None:
        left.append("cgroup")
    left += [what for what in ("sessions", "scratch")
             if (hub.data_dir / what / session_id).exists()]
    return left


def cleaned_up(hub: RunningHub, session_id: str) -> int:
    """How often the hub's log says it cleaned up the session."""
    return hub.log.read_text(errors="replace").count(f"Cleaned up {session_id}\n")


def start_held(hub: RunningHub, gate: Path, user: str, name: str) -> str:
    """Start `user`'s session `name` with the hub REST API; return its session id once its
    server waits at the gate (the start still pending)."""
    hub.api("POST", f"/users/{user}")
    r = hub.api("POST", f"/users/{user}/servers/{name}", json={"cores": 0.25, "ram": 0.25})
    assert r.status_code == 202, r.text
    session = wait_for(lambda: waiting_at(gate), 60, f"{user}/{name}'s server at the gate")
    assert (hub.server(user, name) or {}).get("pending") == "spawn"
    return session


def stopped(hub: RunningHub, user: str, name: str, what: str) -> None:
    wait_for(lambda: not (hub.server(user, name) or {}).get("pending"), 30, what)


def test_a_session_cancelled_while_it_starts_stops_cleanly_and_starts_again(
    held: tuple[RunningHub, Path],
) -> None:
    hub, gate = held
    first = start_held(hub, gate, "una", "lab")

    # the user cancels: the answer is "stopping" or "stopped", never a 500
    began = time.monotonic()
    r = hub.api("DELETE", "/users/una/servers/lab")
    assert r.status_code in (202, 204), f"{r.status_code} {r.text}\n{hub.tail()}"

    # stopped within the clean-up's bound (5 s of grace, then SIGKILL), and everything gone
    stopped(hub, "una", "lab", "the cancelled session to stop")
    wait_for(lambda: not session_left(hub, first), 30, "the cancelled session's clean-up")
    assert time.monotonic() - began < 30
    # and it stays stopped: not "ready" with no server behind it
    assert not (hub.server("una", "lab") or {}).get("ready"), hub.server("una", "lab")
    assert session_left(hub, first) == []
    assert cleaned_up(hub, first) == 1  # once, not by the cancelled start and again by stop

    # the same named session starts again, and runs
    second = start_held(hub, gate, "una", "lab")
    assert second != first
    assert release(gate)
    hub.wait_ready("una", "lab")
    hub.stop_server("una", "lab")
    assert not session_left(hub, second)
    assert os.path.exists(hub.data_dir / "home" / "una")  # the home stays


def test_a_session_whose_server_fails_to_start_is_cleaned_up_before_it_says_so(
    held: tuple[RunningHub, Path],
) -> None:
    hub, gate = held
    session = start_held(hub, gate, "vic", "bad")
    assert release(gate, "")  # its server exits
    stopped(hub, "vic", "bad", "the failed start to end")
    # by the time the start has failed, nothing of the session is left, cleaned up once
    assert session_left(hub, session) == []
    assert cleaned_up(hub, session) == 1
    assert not (hub.server("vic", "bad") or {}).get("ready")
    assert "the session's server exited with status 1 while starting" in hub.tail(80)
