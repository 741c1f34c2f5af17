"""`arcade-hub run &` from a shell: the hub starts with SIGINT ignored (as a shell starts
background jobs) and must not pass that on, or stopping its services and sessions (SIGINT
first) would wait out every interrupt timeout."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub import RunningHub, env_of, hub_with_document, wait_for

SIGINT_BIT = 1 << (signal.SIGINT - 1)


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture(scope="module")
def background_hub() -> Iterator[RunningHub]:
    with hub_with_document(preexec_fn=ignore_sigint) as hub:
        yield hub


def ignores_sigint(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & SIGINT_BIT)
    raise AssertionError(f"no SigIgn for {pid}")


def children(pid: int) -> dict[int, str]:
    """Direct children of `pid` and their command lines."""
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found[int(proc.name)] = cmdline
    return found


def test_services_and_sessions_can_be_interrupted(background_hub: RunningHub) -> None:
    hub = background_hub
    assert not ignores_sigint(hub.proc.pid)  # the hub put SIGINT back

    def services() -> dict[int, str] | None:
        kids = children(hub.proc.pid)
        wanted = {p: c for p, c in kids.items() if "idle_culler" in c or "arcade_hub.service" in c}
        return wanted if len(wanted) == 2 else None

    for pid, cmdline in wait_for(services, 60, "the hub's two services").items():
        assert not ignores_sigint(pid), cmdline

    hub.api("POST", "/users/ivy")
    r = hub.api("POST", "/users/ivy/servers/s", json={"cores": 0.25, "ram": 0.25})
    assert r.status_code in (201, 202), r.text
    try:
        hub.wait_ready("ivy", "s")
        session = int(env_of(hub, "ivy", "s")["_pid"])
        assert not ignores_sigint(session)
    finally:
        hub.stop_server("ivy", "s")
