"""A job instance that cannot start, for whatever reason, ends as Error and leaves nothing:
no Pending record counting against the user's jobs, no directories, no cgroup."""

from __future__ import annotations

import asyncio
import shutil

from arcade_hub.config import load_config
from arcade_hub.jobs.build import JobRequest, build_job_specs
from arcade_hub.jobs.model import Status
from arcade_hub.jobs.runner import JobRunner
from arcade_hub.jobs.store import JobStore
from arcade_hub.options import LaunchRequest
from arcade_hub.policy import UserContext
from tests.hub import PLATFORM, shared_tmp


async def test_an_instance_that_cannot_start_ends_as_error_and_leaves_nothing() -> None:
    tmp = shared_tmp()
    try:
        config = load_config(str(PLATFORM))
        store = JobStore(tmp / "jobs.sqlite")
        runner = JobRunner(store, lambda: config, tmp / "data")
        # A NUL byte cannot be passed to a process: exec fails after the session was prepared.
        request = JobRequest(name="nul", launch=LaunchRequest(image="batch"), cmd=("true",),
                             env={"BAD": "a\0b"})  # fmt: skip
        specs = build_job_specs(request, config, UserContext("alice"), runner.site(), "jobnul")
        await runner.submit("alice", "nul", "jobnul", specs)

        async def ended() -> None:
            while (i := await store.get("jobnul")) is None or i.status == Status.pending:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(ended(), 30)
        instance = await store.get("jobnul")
        assert instance is not None and instance.status == Status.error
        assert "could not start" in instance.message and "null" in instance.message
        assert await store.unfinished("alice") == []  # no longer counts against max_jobs
        session = specs[0].session_id  # cleaned up before the end was recorded
        assert not (tmp / "data" / "sessions" / session).exists()
        assert not (tmp / "data" / "scratch" / session).exists()
        await runner.close()
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
