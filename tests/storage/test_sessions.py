"""Files written through VOSpace are in a running session at once, owned by its user, and
files a session writes are in VOSpace at once: one copy of every file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.hub import env_of
from tests.storage.conftest import VosPlatform

pytestmark = pytest.mark.integration


def session_identity(pid: str) -> tuple[int, int, list[int]]:
    """uid, gid and supplementary gids of a session's process."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    uid, gid = int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0])
    return uid, gid, [int(g) for g in fields["Groups"].split()]


def test_vospace_and_a_running_session_see_the_same_files(vos_platform: VosPlatform) -> None:
    p = vos_platform
    hub = p.hub
    r = hub.api("POST", "/users/alice/servers/nb", json={"image": "notebook"})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("alice", "nb")
    try:
        env = env_of(hub, "alice", "nb")
        uid, gid, groups = session_identity(env["_pid"])
        # the session's file browser shows the home as `home`, beside projects and datasets
        contents = f"{hub.url}/user/alice/nb/api/contents/home"
        auth = {"Authorization": f"token {p.token('alice')}"}

        (p.work / "to-session.txt").write_text("from vos\n")
        sent = p.vos("alice", "vcp", "to-session.txt", "arcade:home/alice/to-session.txt")
        assert sent.returncode == 0, sent.stderr
        seen = httpx.get(f"{contents}/to-session.txt", headers=auth, verify=hub.verify)
        assert seen.status_code == 200 and seen.json()["content"] == "from vos\n"
        assert (Path(env["ARCADE_HOME"]) / "to-session.txt").stat().st_uid == uid

        project = p.vos("alice", "vcp", "to-session.txt", "arcade:projects/survey-team/")
        assert project.returncode == 0, project.stderr
        in_session = Path(env["ARCADE_PROJECTS"]) / "survey-team" / "to-session.txt"
        read = subprocess.run(
            ["cat", str(in_session)],
            user=uid,
            group=gid,
            extra_groups=groups,
            capture_output=True,
            text=True,
        )
        assert read.returncode == 0 and read.stdout == "from vos\n", read.stderr

        put = httpx.put(
            f"{contents}/from-session.txt",
            headers=auth,
            verify=hub.verify,
            json={"type": "file", "format": "text", "content": "from the session"},
        )
        assert put.status_code in (200, 201), put.text
        got = p.vos("alice", "vcp", "arcade:home/alice/from-session.txt", "from-session.txt")
        assert got.returncode == 0, got.stderr
        assert (p.work / "from-session.txt").read_text() == "from the session"
        listing = p.vos("alice", "vls", "-l", "arcade:home/alice")
        assert "from-session.txt" in listing.stdout and " alice " in listing.stdout
    finally:
        hub.stop_server("alice", "nb")
