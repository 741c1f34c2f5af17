"""A restart of the service or of the whole hub loses no job and no log, and the job's final
state is right: instances run on, are re-attached, and their exit codes are read."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import shared_tmp
from tests.hub import processes_mentioning, running_hub, wait_for
from tests.service.conftest import FINAL, Api

pytestmark = pytest.mark.integration

WAIT_FOR_GO = 'while [ ! -e "$HOME/go-$REPLICA_ID" ]; do sleep 0.05; done; echo done $REPLICA_ID'
"""The job's own loop waits for a file the test creates: the test itself never sleeps."""


@pytest.fixture
def tmp() -> Iterator[Path]:
    path = shared_tmp()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def service_pid(data_dir: Path) -> int | None:
    for pid in processes_mentioning(str(data_dir)):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"arcade_hub.service" in cmdline:
            return pid
    return None


def go(data_dir: Path, replica: int) -> None:
    (data_dir / "home" / "alice" / f"go-{replica}").touch()


def test_killed_service_is_restarted_and_reattaches_to_running_jobs(tmp: Path) -> None:
    with running_hub(tmp) as hub:
        alice = Api(hub, "alice")
        job = alice.create(
            name="long",
            image="batch",
            type="headless",
            cmd="sh",
            args=f"-c '{WAIT_FOR_GO}'",
            replicas=2,
        )
        wait_for(
            lambda: (
                alice.session(job)["status"] == "Running"
                and all(i["status"] == "Running" for i in alice.session(job)["instances"])
            ),
            30,
            "both instances to run",
        )
        go(hub.data_dir, 1)  # instance 1 ends while the service is down
        old = wait_for(lambda: service_pid(hub.data_dir), 10, "the service process")
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: (p := service_pid(hub.data_dir)) and p != old, 90, "a new service")
        wait_for(lambda: _answers(alice, job), 30, "the restarted service to answer")
        go(hub.data_dir, 2)
        done = alice.wait_status(job, FINAL)
        assert done["status"] == "Succeeded", done
        assert [i["exitCode"] for i in done["instances"]] == [0, 0]
        logs = alice.request("GET", f"session/{job}", params={"view": "logs"}).text
        assert "done 1" in logs and "done 2" in logs
        alice.request("DELETE", f"session/{job}")
        alice.wait_gone(job)


def test_hub_restart_keeps_jobs_records_and_logs(tmp: Path) -> None:
    with running_hub(tmp) as first:
        alice = Api(first, "alice")
        token = alice.token
        job = alice.create(
            name="across",
            image="batch",
            type="headless",
            cmd="sh",
            args=f"-c '{WAIT_FOR_GO}; exit 3'",
        )
        queued = alice.create(
            name="finished", image="batch", type="headless", cmd="echo", args="kept"
        )
        alice.wait_status(queued, FINAL)
        alice.wait_status(job, ("Running",))
        first.proc.send_signal(signal.SIGTERM)
        first.proc.wait(timeout=60)
        log = first.data_dir / "home" / "alice" / "arcade-jobs" / job
        assert processes_mentioning(str(log)), "the instance runs on while the hub is down"
        with running_hub(tmp) as second:
            alice = Api.__new__(Api)
            alice.hub, alice.user, alice.token = second, "alice", token
            alice.base = f"{second.url}/services/arcade/skaha/v1"
            wait_for(lambda: _answers(alice, job), 30, "the new service to answer")
            assert alice.session(job)["status"] == "Running"
            assert alice.session(queued)["status"] == "Succeeded"
            go(second.data_dir, 1)
            done = alice.wait_status(job, FINAL)
            assert done["status"] == "Failed" and done["exitCode"] == 3, done
            logs = alice.request("GET", f"session/{job}", params={"view": "logs"}).text
            assert logs.strip() == "done 1"
            kept = alice.request("GET", f"session/{queued}", params={"view": "logs"}).text
            assert kept.strip() == "kept"
            for sid in (job, queued):
                alice.request("DELETE", f"session/{sid}")


def _answers(api: Api, sid: str) -> bool:
    return api.request("GET", f"session/{sid}").status_code == 200
