"""The storage service's job store on its own: the bounds (per caller, in all, how long), who
sees a job, what a restart keeps, and where the file is and whose it is."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from arcade_hub.storage.fsops import Refused
from arcade_hub.storage.jobs import RESTARTED, Job, Jobs, JobTable, jobs_path


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return jobs_path(tmp_path / "state")


@pytest.fixture
def table(path: Path, clock: Clock) -> Iterator[JobTable]:
    t = JobTable(path, keep=100, limit=5, per_caller=3, clock=clock)
    yield t
    t.close()


def refused(call: object, *args: object) -> Refused:
    with pytest.raises(Refused) as e:
        call(*args)  # type: ignore[operator]
    return e.value


def test_one_caller_makes_at_most_per_caller_jobs_in_keep_seconds(
    table: JobTable, clock: Clock
) -> None:
    for _ in range(3):
        table.create("alice", "delete", {"path": ["home", "alice", "x"]})
    too_many = refused(table.create, "alice", "delete", {})
    assert too_many.status == 429 and "3 transfers" in too_many.message
    table.create("bob", "delete", {})  # others are not held up
    table.create(None, "sync", {})  # nor anonymous callers
    clock.now += 101
    table.create("alice", "delete", {})  # an hour (here 100 s) later, again


def test_at_most_limit_jobs_the_oldest_go_first(table: JobTable, clock: Clock) -> None:
    made = []
    for n in range(7):
        clock.now += 1
        made.append(table.create(f"user{n}", "sync", {}))
    for job in made[:2]:
        assert refused(table.get, job.id, job.owner).status == 404
    for job in made[2:]:
        assert table.get(job.id, job.owner).id == job.id


def test_jobs_are_forgotten_after_keep_seconds(table: JobTable, clock: Clock) -> None:
    job = table.create("alice", "move", {"source": [], "dest": []})
    clock.now += 100
    assert table.get(job.id, "alice").phase == "PENDING"
    clock.now += 1
    assert refused(table.get, job.id, "alice").status == 404


def test_a_job_is_only_its_owners_and_ids_are_unguessable(table: JobTable) -> None:
    job = table.create("alice", "delete", {})
    other = table.create("alice", "delete", {})
    assert len(job.id) >= 24 and job.id != other.id
    for caller in ("bob", None, "Alice"):
        assert refused(table.get, job.id, caller).status == 404
    anonymous = table.create(None, "sync", {})
    assert refused(table.get, anonymous.id, "alice").status == 404
    assert table.get(anonymous.id, None).owner is None


def test_a_job_runs_once(table: JobTable) -> None:
    job = table.create("alice", "delete", {})
    first, second = table.get(job.id, "alice"), table.get(job.id, "alice")
    assert table.move_on(first, "PENDING", "EXECUTING") and first.phase == "EXECUTING"
    assert not table.move_on(second, "PENDING", "EXECUTING") and second.phase == "PENDING"
    assert not table.move_on(second, "PENDING", "ABORTED")
    assert table.get(job.id, "alice").phase == "EXECUTING"


def test_a_restart_keeps_every_job_and_ends_the_running_ones(path: Path) -> None:
    table = JobTable(path)
    pending = table.create("alice", "move", {"source": ["home", "alice", "a"], "dest": []})
    done = table.create("alice", "props", {})
    done.phase, done.results = "COMPLETED", {"successcount": "final:7"}
    table.save(done)
    failed = table.create("alice", "sync", {})
    failed.phase, failed.error, failed.document = "ERROR", "PermissionDenied", b"<transfer/>"
    table.save(failed)
    running = {}
    for kind, payload in (
        ("move", {"source": ["home", "alice", "a"], "dest": ["home", "alice", "b"]}),
        ("delete", {"path": ["home", "alice", "big"]}),
        ("props", {"path": ["projects", "team", "data"]}),
    ):
        job = table.create("alice", kind, payload)
        assert table.move_on(job, "PENDING", "EXECUTING")
        running[kind] = job.id
    negotiating = table.create("alice", "sync", {})  # the service died during its checks
    table.close()  # as after SIGKILL: nothing more was written

    jobs = Jobs(path)
    try:
        assert jobs.interrupted == 4

        def get(job_id: str, caller: str | None = "alice") -> Job:
            return asyncio.run(jobs.get(job_id, caller))

        cut = get(negotiating.id)
        assert cut.phase == "ERROR" and "start the transfer again" in (cut.error or "")
        assert get(pending.id).phase == "PENDING"
        kept = get(done.id)
        assert (kept.phase, kept.results) == ("COMPLETED", {"successcount": "final:7"})
        kept = get(failed.id)
        assert (kept.phase, kept.error, kept.document) == (
            "ERROR",
            "PermissionDenied",
            b"<transfer/>",
        )
        errors = {kind: get(job_id).error for kind, job_id in running.items()}
        assert {get(i).phase for i in running.values()} == {"ERROR"}
        assert all(e.startswith(RESTARTED) for e in errors.values())
        assert (
            "/home/alice/a is either still where it was or already at /home/alice/b"
            in (errors["move"])
        )
        assert "part of /home/alice/big may already be deleted" in errors["delete"]
        assert "/projects/team/data" in errors["props"] and "safe to repeat" in errors["props"]
        with pytest.raises(Refused):
            get(pending.id, "bob")
    finally:
        jobs.close()


def test_the_store_is_the_services_own(path: Path) -> None:
    JobTable(path).close()
    for what in (path.parent, path):
        st = os.lstat(what)
        assert st.st_uid == os.geteuid()
    assert stat.S_IMODE(os.lstat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600


def test_a_link_or_anothers_directory_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    (state / "vospace").symlink_to(elsewhere)
    with pytest.raises(PermissionError, match="not a link"):
        JobTable(jobs_path(state))
    assert not list(elsewhere.iterdir())
    (state / "vospace").unlink()
    (state / "vospace").mkdir()
    (state / "vospace" / "jobs.sqlite").symlink_to(elsewhere / "jobs.sqlite")
    with pytest.raises(OSError):
        JobTable(jobs_path(state))
    assert not list(elsewhere.iterdir())
    if os.geteuid() == 0:
        (state / "vospace" / "jobs.sqlite").unlink()
        os.chown(state / "vospace", 4242, 4242)
        with pytest.raises(PermissionError, match="another's"):
            JobTable(jobs_path(state))
