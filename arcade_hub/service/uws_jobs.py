"""Jobs as UWS sees them, from the one job model: the job store's records (`JobRecord` and
its instances) and the user's interactive sessions (read-only, their connect URL a result).

A UWS job's phase is read from what the job really is: held → PENDING; its instances'
overall status Pending → QUEUED, Running or Terminating → EXECUTING, Succeeded → COMPLETED,
Failed or Error → ERROR; aborted → ABORTED; past its destruction time → ARCHIVED. Sessions:
starting → QUEUED, running or stopping → EXECUTING.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from vo_models.uws.types import ExecutionPhase

from arcade_hub.jobs.base import ABORTED, JobBackendError, job_lifetime
from arcade_hub.jobs.model import Instance, JobRecord, JobState, Status, overall
from arcade_hub.service.handlers import ApiError
from arcade_hub.service.job_views import parse_iso
from arcade_hub.service.sessions import Caller, Found, Server, Sessions

ACTIVE = (ExecutionPhase.PENDING, ExecutionPhase.QUEUED, ExecutionPhase.EXECUTING)
STATUS_PHASES = {
    Status.pending: ExecutionPhase.QUEUED,
    Status.running: ExecutionPhase.EXECUTING,
    Status.terminating: ExecutionPhase.EXECUTING,
    Status.succeeded: ExecutionPhase.COMPLETED,
    Status.failed: ExecutionPhase.ERROR,
    Status.error: ExecutionPhase.ERROR,
}
STATE_PHASES = {
    JobState.held: ExecutionPhase.PENDING,
    JobState.aborted: ExecutionPhase.ABORTED,
    JobState.archived: ExecutionPhase.ARCHIVED,
}
WAIT_LIMIT = 60
"""The longest a `WAIT` blocks, in seconds (also what `WAIT=-1` means)."""
SESSION_POLL = 1.0
"""How often a `WAIT` on an interactive session asks the hub again (the hub tells the service
nothing by itself)."""


@dataclass
class UwsJob:
    """A batch job (its record and/or its instances) or an interactive session."""

    id: str
    owner: str
    record: JobRecord | None = None
    instances: list[Instance] = field(default_factory=list)
    server: Server | None = None

    @property
    def phase(self) -> ExecutionPhase:
        if self.server is not None:
            status = self.server.status
            return ExecutionPhase.QUEUED if status == Status.pending else ExecutionPhase.EXECUTING
        if self.record is not None and self.record.state in STATE_PHASES:
            return STATE_PHASES[self.record.state]
        return STATUS_PHASES[overall(i.status for i in self.instances)]

    @property
    def created(self) -> float | None:
        if self.record is not None:
            return self.record.created
        if self.instances:
            return min(i.created for i in self.instances)
        meta = self.server.meta if self.server else None
        return meta.created if meta else self.server_started

    @property
    def server_started(self) -> float | None:
        return parse_iso(self.server.model.get("started")) if self.server else None

    @property
    def started(self) -> float | None:
        if self.server is not None:
            return self.server_started
        times = [i.started for i in self.instances if i.started]
        return min(times) if times else None

    @property
    def ended(self) -> float | None:
        if not self.instances or not all(i.status.final for i in self.instances):
            return None
        times = [i.finished for i in self.instances if i.finished]
        return max(times) if times else None

    @property
    def read_only(self) -> bool:
        return self.server is not None

    def failures(self) -> list[Instance]:
        return [i for i in self.instances if i.status in (Status.failed, Status.error)]


def from_found(found: Found, record: JobRecord | None) -> UwsJob:
    if isinstance(found, Server):
        return UwsJob(found.name, found.owner, server=found)
    if isinstance(found, JobRecord):
        return UwsJob(found.job_id, found.owner, record=found)
    return UwsJob(found[0].job_id, found[0].owner, record=record, instances=found)


async def owned(sessions: Sessions, owner: str, caller: Caller) -> list[UwsJob]:
    """Every job and session of `owner`, newest first."""
    records = await sessions.store.jobs_of(owner)
    grouped: dict[str, list[Instance]] = {}
    for instance in await sessions.store.of_owner(owner):
        grouped.setdefault(instance.job_id, []).append(instance)
    jobs = [UwsJob(job_id, owner, records.get(job_id), found)
            for job_id, found in grouped.items()]  # fmt: skip
    jobs += [UwsJob(r.job_id, owner, r) for r in records.values() if r.job_id not in grouped]
    jobs += [UwsJob(s.name, owner, server=s) for s in await sessions.servers(owner, caller)]
    jobs.sort(key=lambda j: j.created or 0, reverse=True)
    return jobs


async def find(sessions: Sessions, caller: Caller, job_id: str, owner: str | None) -> UwsJob:
    """The job or session `job_id` (404 unless it is the caller's, or the caller an admin)."""
    found = await sessions.find(caller, job_id, owner)
    record = None if isinstance(found, Server | JobRecord) else (
        await sessions.store.get_job(found[0].job_id))  # fmt: skip
    return from_found(found, record)


def writable(job: UwsJob) -> None:
    if job.read_only:
        raise ApiError(403, (
            f"{job.id} is an interactive session: UWS shows it read-only; stop it on the hub "
            "or with the sessions API"
        ))  # fmt: skip


async def wait(
    sessions: Sessions, caller: Caller, job: UwsJob, seconds: int, phase: ExecutionPhase | None
) -> UwsJob:
    """UWS 1.1 blocking: while the job stays in `phase` (default: its phase now) and that is
    an active phase, wait up to `seconds` (at most WAIT_LIMIT; -1 means WAIT_LIMIT) for it to
    change. Batch jobs wake on the job store's changes; sessions ask the hub every
    SESSION_POLL seconds."""
    start = phase or job.phase
    if start not in ACTIVE or job.phase != start:
        return job
    limit = WAIT_LIMIT if seconds < 0 else min(seconds, WAIT_LIMIT)
    deadline = time.monotonic() + limit
    while (left := deadline - time.monotonic()) > 0 and not sessions.store.closed:
        changed = sessions.store.changed()
        if job.read_only:
            await asyncio.sleep(min(SESSION_POLL, left))
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
        try:
            job = await find(sessions, caller, job.id, job.owner)
        except ApiError:
            break  # deleted meanwhile: the caller's next request says so
        if job.phase != start:
            break
    return job


def lifetime(sessions: Sessions, job: UwsJob) -> int:
    """The job's execution duration in seconds: how long each instance may run (a renewal
    through the sessions API starts that time again)."""
    if job.server is not None:
        return round(sessions.platform().sessions.lifetime_hours * 3600)
    return round(job_lifetime(sessions.platform().jobs.max_runtime_hours, job.record))


async def abort(sessions: Sessions, job: UwsJob, state: JobState = JobState.aborted) -> None:
    """Stop what runs; the job stays, `state` (ABORTED, or ARCHIVED at destruction)."""
    writable(job)
    if any(not i.status.final for i in job.instances):
        try:
            await sessions.runner.abort(job.instances)
        except JobBackendError as e:
            raise ApiError(e.status, e.message) from None
    await sessions.store.put_job(record_of(job, state=state))


async def set_times(
    sessions: Sessions, job: UwsJob, destruction: float | None = None,
    duration: float | None = None,
) -> None:
    """A new destruction time or execution duration (capped by the platform's lifetime: a
    running instance may run until `duration` after its start, and never beyond a renewal's
    end)."""
    writable(job)
    if destruction is not None:
        await sessions.store.put_job(record_of(job, destruction=destruction))
        return
    record = record_of(job, duration=duration)
    await sessions.store.put_job(record)
    seconds = job_lifetime(sessions.platform().jobs.max_runtime_hours, record)
    now = time.time()
    for instance in job.instances:
        if instance.started and not instance.status.final:
            until = min(instance.started + seconds, now + seconds)
            await sessions.runner.renew([instance], max(until, now))


async def archive_due(sessions: Sessions) -> None:
    """Archive the jobs past their destruction time (called periodically)."""
    for record in await sessions.store.past_destruction(time.time()):
        instances = await sessions.store.job(record.job_id)
        job = UwsJob(record.job_id, record.owner, record, instances)
        try:
            await abort(sessions, job, JobState.archived)
        except ApiError:
            continue  # the backend did not answer: next time


def record_of(job: UwsJob, **changes: object) -> JobRecord:
    """The job's record with `changes`; one made from its instances for a job that has none
    (started before job records existed)."""
    if job.record is not None:
        return JobRecord(**{**vars(job.record), **changes})
    first = job.instances[0]
    base = JobRecord(job_id=job.id, owner=job.owner, name=first.name, created=first.created,
                     request="")  # fmt: skip
    return JobRecord(**{**vars(base), **changes})


def error_summary(job: UwsJob) -> str:
    """One line: why the job is in ERROR or ABORTED."""
    if job.phase == ExecutionPhase.ABORTED:
        return "aborted by request"
    failed = job.failures()
    if not failed:
        return ""
    first = failed[0]
    if len(job.instances) == 1:
        return first.message or first.status.value
    return (
        f"{len(failed)} of {len(job.instances)} instances failed; "
        f"{first.id}: {first.message or first.status.value}"
    )


def error_detail(job: UwsJob) -> str:
    """Every instance's end, one per line."""
    lines = [
        f"{i.id}: {i.status.value}"
        + (f" (exit code {i.exit_code})" if i.exit_code is not None else "")
        + (f": {i.message}" if i.message and i.message != ABORTED else "")
        for i in job.instances
    ]
    return "\n".join([error_summary(job), *lines]) + "\n"
