"""What the sessions API needs from a job runner, whatever runs the instances.

`JobRunner` (the embedded backend: local processes) and `KubeJobRunner` (Kubernetes Jobs)
both implement `Runner`; `arcade_hub.service.sessions.Sessions` only talks to this interface,
and both keep the job store as the record of every instance.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from arcade_hub.jobs.model import Instance, JobRecord, Status
from arcade_hub.jobs.store import JobStore
from arcade_hub.launch.spec import LaunchSpec


class JobBackendError(Exception):
    """The backend could not do what was asked (not the request's fault): `status` is what
    the API answers (502 when the backend refused, 503 when it could not be reached)."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class JobIdTaken(JobBackendError):
    """Something of the backend's already carries this job id (pick another one)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 409)


def job_lifetime(max_runtime_hours: float, record: JobRecord | None) -> float:
    """How long each instance of a job may run, in seconds: the platform's lifetime, or the
    job's own shorter `duration`."""
    limit = max_runtime_hours * 3600
    if record is not None and record.duration:
        return min(limit, record.duration)
    return limit


ABORTED = "aborted"
"""The message of an instance stopped by `Runner.abort` (it ends `Failed`)."""


@dataclass(frozen=True)
class ResultFile:
    """A file a job wrote to its results folder."""

    name: str
    size: int


class ResultUnavailable(JobBackendError):
    """A result file that cannot be served: missing (404), or larger than the service serves
    (413); the message says which."""


class Runner(Protocol):
    """Runs the instances of batch jobs and keeps their records in `store` up to date."""

    store: JobStore

    async def submit(self, owner: str, name: str, job_id: str, specs: list[LaunchSpec]) -> None:
        """Record the job's instances and start them; raises `JobBackendError` (nothing is
        recorded then) or `LaunchRefused` when the backend cannot run it."""
        ...

    async def delete(self, instances: list[Instance]) -> None:
        """Stop what runs and forget the records; raises `JobBackendError`."""
        ...

    async def renew(self, instances: list[Instance], expires: float | None = None) -> None:
        """Start a new lifetime (`jobs.max_runtime_hours`) from now, or end the instances'
        lifetime at `expires` (an earlier time the caller has already capped)."""
        ...

    async def abort(self, instances: list[Instance]) -> None:
        """Stop what runs, and end every instance that has not ended as `Failed` with the
        message ABORTED; the records stay. Raises `JobBackendError`."""
        ...

    async def result_files(self, instances: list[Instance]) -> list[ResultFile]:
        """The files the job wrote to its results folder (none where the service cannot
        read the user's home)."""
        ...

    async def read_result(self, instances: list[Instance], name: str) -> bytes:
        """One result file, whole; raises `ResultUnavailable`."""
        ...

    async def reap_expired(self) -> None:
        """Stop instances past their lifetime (called periodically)."""
        ...

    async def read_log(self, instance: Instance) -> str:
        """The instance's output so far ("" before it starts)."""
        ...

    def describe(self, instance: Instance) -> str:
        """Where a started instance runs, for the events view (a pid, a pod)."""
        ...

    async def recover(self) -> None:
        """After a restart of the service: pick up the instances in the store."""
        ...

    async def close(self) -> None:
        """Stop watching; the instances themselves keep running."""
        ...


def new_instances(
    owner: str,
    name: str,
    job_id: str,
    specs: list[LaunchSpec],
    log_of: Callable[[LaunchSpec, int], str],
    expires: float | None = None,
    command_prefix: Sequence[str] = (),
) -> list[Instance]:
    """The records of a new job's instances (Pending), one per spec, numbered from 1;
    `command_prefix` is what the backend runs before `cmd args` that the spec does not
    carry (Kubernetes' `commands.headless`), for the record's `command`."""
    now = time.time()
    return [
        Instance(
            id=spec.server_name,
            job_id=job_id,
            owner=owner,
            name=name if len(specs) == 1 else f"{name}-{spec.env.get('REPLICA_ID', '')}",
            replica=index,
            replicas=len(specs),
            status=Status.pending,
            created=now,
            spec=spec.model_dump_json(),
            log=log_of(spec, index),
            command=[*command_prefix, *spec.cmd, *spec.args],
            expires=expires,
        )
        for index, spec in enumerate(specs, start=1)
    ]
