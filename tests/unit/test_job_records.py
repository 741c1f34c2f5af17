"""A job besides its instances (arcade_hub.jobs: `JobRecord` in the job store): what UWS needs
of a job as a whole, in the one store the sessions API, the job list and the Batch page use."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from arcade_hub.jobs.base import job_lifetime
from arcade_hub.jobs.model import JobRecord, JobState
from arcade_hub.jobs.store import JobDatabase, JobStore


def record(job_id: str, **changes: object) -> JobRecord:
    base = JobRecord(job_id=job_id, owner="alice", name="fit", created=time.time(),
                     request='{"image": "batch"}')  # fmt: skip
    return JobRecord(**{**vars(base), **changes})


def test_job_records_are_kept_found_and_removed(tmp_path: Path) -> None:
    db = JobDatabase(tmp_path / "jobs.sqlite")
    held = record("held0001", state=JobState.held, run_id="survey", duration=60.0)
    db.put_job(held)
    db.put_job(record("done0001", owner="bob", destruction=time.time() - 1))
    assert db.get_job("held0001") == held
    assert db.exists("held0001")  # a held job's id is not given again
    assert set(db.jobs_of("alice")) == {"held0001"} and len(db.jobs_of()) == 2
    assert [r.job_id for r in db.past_destruction(time.time())] == ["done0001"]
    db.put_job(record("done0001", owner="bob", state=JobState.archived))
    assert db.past_destruction(time.time()) == []  # archived once
    db.remove_job("held0001")
    assert db.get_job("held0001") is None and not db.exists("held0001")
    db.close()
    assert JobDatabase(tmp_path / "jobs.sqlite").get_job("done0001") is not None  # kept


def test_a_jobs_own_lifetime_is_capped_by_the_platforms() -> None:
    assert job_lifetime(24, None) == 86400
    assert job_lifetime(24, record("a", duration=60.0)) == 60
    assert job_lifetime(1, record("a", duration=1e9)) == 3600


async def test_waiters_are_woken_by_a_change(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    try:
        changed = store.changed()
        assert not changed.is_set()
        await store.put_job(record("abcd1234"))
        await asyncio.wait_for(changed.wait(), 5)
        assert not store.changed().is_set()  # a new event for the next change
    finally:
        store.close()
    assert store.changed().is_set()  # closing wakes everyone
