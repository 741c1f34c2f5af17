"""A job instance that cannot start, for whatever reason, ends as Error and leaves nothing:
no Pending record counting against the user's jobs, no directories, no cgroup."""

from __future__ import annotations

import asyncio
import shutil

from arcade_hub.config import load_config
from arcade_hub.jobs.model import Status
from arcade_hub.jobs.store import JobStore
from arcade_hub.launch.choices import UserContext
from arcade_hub.launch.spec import LaunchSpec
from arcade_hub.local.backend import EmbeddedBackend
from arcade_hub.local.jobs import JobRunner
from tests.hub import PLATFORM, shared_tmp
from tests.planning import planned_job


async def test_an_instance_that_cannot_start_ends_as_error_and_leaves_nothing() -> None:
    tmp = shared_tmp()
    try:
        config = load_config(str(PLATFORM))
        store = JobStore(tmp / "jobs.sqlite")
        runner = JobRunner(store, lambda: config, tmp / "data")
        # A NUL byte cannot be passed to a process: exec fails after the session was prepared.
        request = {"image": "batch", "cmd": ["true"]}
        site = EmbeddedBackend(lambda: config, tmp / "data").site()
        planned = await planned_job(request, config, UserContext("alice"), site, "jobnul")
        # The request model refuses NUL bytes; a spec with one stands for any start error.
        specs = [LaunchSpec.model_validate({**s.model_dump(), "env": {"BAD": "a\0b"}})
                 for s in planned]  # fmt: skip
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
