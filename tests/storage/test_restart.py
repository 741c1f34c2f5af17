"""A restart of the storage service loses no job: the real service, started by the hub, is
stopped (SIGTERM, as an upgrade or the hub stopping it does; SIGKILL, as a crash does) and the
hub starts it again on the same data directory. Its jobs are still there for their owner,
still nobody else's, and a job it was running when it died says so."""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import subprocess
from typing import Any

import httpx
import psutil
import pytest

from arcade_hub.storage.jobs import jobs_path
from tests.hub import wait_for
from tests.storage.conftest import BIN, VosPlatform
from tests.storage.test_hostile import SERVICE, http

pytestmark = pytest.mark.integration
RESTART = 120
"""Seconds for the hub to notice its service stopped and start it again (it polls every
30 s or so)."""


def made(r: httpx.Response) -> str:
    """The job id a 303 to the job names."""
    assert r.status_code == 303, (r.status_code, r.text)
    return r.headers["location"].rstrip("/").rsplit("/", 1)[1]


def authority(p: VosPlatform) -> str:
    listing = http(p, "GET", f"{SERVICE}/nodes/home/alice")
    assert listing.status_code == 200, listing.text
    found = re.search(r'uri="vos://([^/"]+)/home/alice"', listing.text)
    assert found, listing.text
    return found.group(1)


def transfer(p: VosPlatform, target: str, direction: str, keep: bool = True) -> bytes:
    vos = f"vos://{authority(p)}"
    if not direction.startswith("pu"):
        direction = f"{vos}/{direction}"
    return (
        '<vos:transfer xmlns:vos="http://www.ivoa.net/xml/VOSpace/v2.0" version="2.1">'
        f"<vos:target>{vos}/{target}</vos:target><vos:direction>{direction}</vos:direction>"
        f"<vos:keepBytes>{str(keep).lower()}</vos:keepBytes></vos:transfer>"
    ).encode()


def put(p: VosPlatform, name: str, data: bytes = b"data") -> None:
    r = http(p, "PUT", f"{SERVICE}/files/home/alice/{name}", content=data)
    assert r.status_code == 201, r.text


def phase(p: VosPlatform, job: str, user: str = "alice") -> str:
    r = http(p, "GET", f"{SERVICE}/transfers/{job}/phase", user=user)
    return r.text if r.status_code == 200 else str(r.status_code)


def restarted(p: VosPlatform, old: psutil.Process, how: signal.Signals) -> psutil.Process:
    """Stop the service with `how`; the one the hub starts again, once it answers."""
    old.send_signal(how)
    wait_for(lambda: gone(old), 15, f"the storage service to exit on {how.name}")

    def answering() -> psutil.Process | None:
        try:
            new = p.service()
        except AssertionError:
            return None
        up = http(p, "GET", f"{SERVICE}/availability", user=None).status_code == 200
        return new if up and new.pid != old.pid else None

    return wait_for(answering, RESTART, "the hub to start the storage service again", 0.5)


def gone(proc: psutil.Process) -> bool:
    """Exited (the hub reaps its child only when it next polls it)."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def jobs_as_seen(p: VosPlatform, jobs: dict[str, str], user: str | None) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for name, path in jobs.items():
        r = http(p, "GET", f"{SERVICE}/{path}", user=user)
        seen[name] = (r.status_code, r.text)
    return seen


def test_jobs_outlive_a_restart(vos_platform: VosPlatform) -> None:
    p = vos_platform
    put(p, "restart-a.txt", b"a")
    put(p, "restart-b.txt", b"b")
    pull = http(
        p,
        "POST",
        f"{SERVICE}/synctrans",
        content=transfer(p, "home/alice/restart-a.txt", "pullFromVoSpace"),
    )
    sync = made(pull)
    missing = made(
        http(
            p,
            "POST",
            f"{SERVICE}/synctrans",
            content=transfer(p, "home/alice/nothing-here", "pullFromVoSpace"),
        )
    )
    move = made(
        http(
            p,
            "POST",
            f"{SERVICE}/transfers",
            content=transfer(p, "home/alice/restart-a.txt", "home/alice/restart-moved.txt", False),
        )
    )
    target = f"vos://{authority(p)}/home/alice/restart-b.txt"
    delete = made(http(p, "POST", f"{SERVICE}/async-delete", data={"target": target}))
    ran = http(p, "POST", f"{SERVICE}/async-delete/{delete}/phase", data={"PHASE": "RUN"})
    assert ran.status_code == 303 and not (p.home("alice") / "restart-b.txt").exists()
    jobs = {
        "sync": f"xfer/{sync}",
        "sync-error": f"transfers/{missing}/error",
        "move": f"transfers/{move}",
        "move-phase": f"transfers/{move}/phase",
        "delete": f"async-delete/{delete}",
    }
    before = jobs_as_seen(p, jobs, "alice")
    assert before["sync"][0] == 200 and "/files/home/alice/restart-a.txt" in before["sync"][1]
    assert before["sync-error"] == (200, "NodeNotFound")
    assert before["move-phase"] == (200, "PENDING")
    assert "COMPLETED" in before["delete"][1] and "successcount" in before["delete"][1]

    restarted(p, p.service(), signal.SIGTERM)

    assert jobs_as_seen(p, jobs, "alice") == before
    for stranger, status in (("bob", 404), (None, 401)):
        assert {s for s, _ in jobs_as_seen(p, jobs, stranger).values()} == {status}
    # a sync transfer is not run: RUN leaves it as it is, no error
    again = http(p, "POST", f"{SERVICE}/transfers/{sync}/phase", data={"PHASE": "RUN"})
    assert again.status_code == 303 and phase(p, sync) == "COMPLETED"
    # the move negotiated before the restart runs after it
    ran = http(p, "POST", f"{SERVICE}/transfers/{move}/phase", data={"PHASE": "RUN"})
    assert ran.status_code == 303 and phase(p, move) == "COMPLETED"
    assert (p.home("alice") / "restart-moved.txt").read_bytes() == b"a"
    assert not (p.home("alice") / "restart-a.txt").exists()


def executing(p: VosPlatform) -> list[str]:
    """Ids of the jobs the service is running, from its store (as root reads it)."""
    path = jobs_path(p.hub.data_dir)
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in db.execute("SELECT id FROM jobs WHERE phase = 'EXECUTING'")]
    finally:
        db.close()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_job_running_when_the_service_dies_says_so(
    vos_platform: VosPlatform, how: signal.Signals
) -> None:
    """The service is killed (a crash) or stopped (an upgrade) while `vmv` runs a move, held
    in EXECUTING by stopping the user's workers so that it cannot finish; after the restart
    the move is ERROR, with a message saying what happened and what to look at, and the
    file is where it was."""
    p = vos_platform
    (p.home("alice") / "ran.txt").unlink(missing_ok=True)
    put(p, "running.txt", b"r")
    service = p.service()
    uid = p.home("alice").stat().st_uid
    workers = [w for w in service.children() if w.uids().real == uid]
    assert workers, "alice's upload started a worker"
    for worker in workers:
        worker.send_signal(signal.SIGSTOP)
    vmv = subprocess.Popen(
        [
            str(BIN / "vmv"),
            "--token",
            p.token("alice"),
            "arcade:home/alice/running.txt",
            "arcade:home/alice/ran.txt",
        ],
        env=p.env("alice"),
        cwd=p.work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        (move,) = wait_for(lambda: executing(p), 60, "the move to be running")
        restarted(p, service, how)
    finally:
        for worker in workers:  # on SIGTERM the service stops them itself
            with contextlib.suppress(psutil.NoSuchProcess):
                worker.kill()
    try:
        out, err = vmv.communicate(timeout=300)
    finally:
        vmv.kill()
    # the client's RUN request died with the service: the hub's proxy answered 503 for it
    assert vmv.returncode != 0 and "503 : Service Unavailable" in err, (out, err)

    assert phase(p, move) == "ERROR"
    error = http(p, "GET", f"{SERVICE}/transfers/{move}/error")
    assert error.status_code == 200
    assert error.text.startswith("the storage service restarted while this job ran")
    assert "/home/alice/running.txt is either still where it was or already at" in error.text
    shown = http(p, "GET", f"{SERVICE}/transfers/{move}").text
    assert "ERROR" in shown and "restarted while this job ran" in shown
    assert phase(p, move, user="bob") == "404"
    assert (p.home("alice") / "running.txt").read_bytes() == b"r"
    # the service works as before: the user moves the file again
    again = p.vos("alice", "vmv", "arcade:home/alice/running.txt", "arcade:home/alice/ran.txt")
    assert again.returncode == 0, again.stderr
    assert (p.home("alice") / "ran.txt").read_bytes() == b"r"
