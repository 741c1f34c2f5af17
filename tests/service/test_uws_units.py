"""UWS without a hub: phases read from the job records, and jobs past their destruction time
archived by the service's periodic reaper (`uws_jobs.archive_due`), on a real job store and
the embedded backend's job runner."""

from __future__ import annotations

import time
from pathlib import Path

from vo_models.uws.types import ExecutionPhase

from arcade_hub.backends import open_backend
from arcade_hub.config.cache import platform_config
from arcade_hub.jobs.model import Instance, JobRecord, JobState, Status
from arcade_hub.jobs.store import JobStore
from arcade_hub.service import uws_jobs
from arcade_hub.service.hub_client import HubClient
from arcade_hub.service.sessions import Sessions
from arcade_hub.service.uws_jobs import UwsJob
from tests.hub import PLATFORM


def instance(job_id: str, status: Status, replica: int = 1) -> Instance:
    return Instance(f"{job_id}-{replica}", job_id, "alice", "fit", replica, 2, status,
                    time.time(), "{}", "/log")  # fmt: skip


def record(job_id: str, state: JobState, **changes: object) -> JobRecord:
    return JobRecord(job_id=job_id, owner="alice", name="fit", created=time.time(),
                     request="{}", state=state, **changes)  # type: ignore[arg-type]


def test_phases_follow_the_jobs_real_state() -> None:
    def phase(record_state: JobState | None, *statuses: Status) -> ExecutionPhase:
        rec = record("j", record_state) if record_state else None
        return UwsJob("j", "alice", rec, [instance("j", s, n) for n, s in enumerate(statuses)]
                      ).phase  # fmt: skip

    assert phase(JobState.held) == ExecutionPhase.PENDING
    assert phase(JobState.submitted, Status.pending, Status.pending) == ExecutionPhase.QUEUED
    assert phase(None, Status.succeeded, Status.running) == ExecutionPhase.EXECUTING
    assert phase(None, Status.terminating) == ExecutionPhase.EXECUTING
    assert phase(JobState.submitted, Status.succeeded) == ExecutionPhase.COMPLETED
    assert phase(None, Status.succeeded, Status.failed) == ExecutionPhase.ERROR
    assert phase(None, Status.error) == ExecutionPhase.ERROR
    assert phase(JobState.aborted, Status.failed) == ExecutionPhase.ABORTED
    assert phase(JobState.archived, Status.succeeded) == ExecutionPhase.ARCHIVED


async def test_jobs_past_their_destruction_time_are_archived(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    backend = await open_backend(lambda: platform_config(str(PLATFORM)), tmp_path, None)
    hub = HubClient("http://127.0.0.1:9/hub/api", "unused")  # archiving asks the hub nothing
    sessions = Sessions(hub, store, backend.job_runner(store, tmp_path), backend, tmp_path)
    try:
        await store.put_job(record("past0001", JobState.held, destruction=time.time() - 1))
        await store.put_job(record("later001", JobState.held, destruction=time.time() + 3600))
        await store.add([instance("done0001", Status.succeeded)])
        await store.put_job(record("done0001", JobState.submitted, destruction=time.time() - 1))
        await uws_jobs.archive_due(sessions)
        states = {k: r.state for k, r in (await store.jobs_of("alice")).items()}
        assert states == {"past0001": JobState.archived, "later001": JobState.held,
                          "done0001": JobState.archived}  # fmt: skip
        done = UwsJob("done0001", "alice", await store.get_job("done0001"),
                      await store.job("done0001"))  # fmt: skip
        assert done.phase == ExecutionPhase.ARCHIVED
        assert (await store.job("done0001"))[0].status == Status.succeeded  # records kept
    finally:
        await sessions.runner.close()
        await hub.aclose()
        await backend.close()
        store.close()
