"""Job and instance records, and the status words the API uses (skaha's)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """Session and job status, in skaha's words."""

    pending = "Pending"
    running = "Running"
    terminating = "Terminating"
    succeeded = "Succeeded"
    failed = "Failed"
    error = "Error"

    @property
    def final(self) -> bool:
        return self in (Status.succeeded, Status.failed, Status.error)


ALIASES = {"completed": Status.succeeded}
"""Other clients' words for the same status: the `canfar` client filters on `Completed`."""


def parse_status(value: str) -> Status:
    """A status from a query parameter, case-insensitively; ValueError names the choices."""
    lowered = value.strip().lower()
    for status in Status:
        if status.value.lower() == lowered:
            return status
    if lowered in ALIASES:
        return ALIASES[lowered]
    raise ValueError(
        f"unknown status {value!r} (one of: {', '.join(s.value for s in Status)}, Completed)"
    )


@dataclass
class Instance:
    """One instance of a job: a process (embedded backend) with its own log."""

    id: str
    job_id: str
    owner: str
    name: str
    replica: int
    replicas: int
    status: Status
    created: float
    spec: str
    """The instance's LaunchSpec as JSON."""
    log: str
    """Where its log is kept: the path inside the user's home."""
    command: list[str] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    expires: float | None = None
    exit_code: int | None = None
    pid: int | None = None
    pid_start: int | None = None
    message: str = ""


def overall(statuses: Iterable[Status]) -> Status:
    """A job's status from its instances' statuses."""
    found = set(statuses)
    if not found:
        return Status.succeeded
    for live in (Status.terminating, Status.running, Status.pending):
        if live in found:
            return live
    if Status.error in found:
        return Status.error
    if Status.failed in found:
        return Status.failed
    return Status.succeeded


class JobState(StrEnum):
    """What was asked of a job as a whole (its instances' statuses say what they do)."""

    held = "held"
    """Planned, not started: it starts when its owner runs it (UWS `PHASE=RUN`)."""
    submitted = "submitted"
    """Its instances were handed to the backend."""
    aborted = "aborted"
    """Stopped on its owner's request; its records stay."""
    archived = "archived"
    """Past its destruction time: stopped, its results no longer served; its records stay."""


@dataclass
class JobRecord:
    """A job besides its instances: who asked for what, when, and what was asked of it since.

    A held job has this record only; a started one also has its instances' records. Jobs
    started before these records existed have none (their instances say everything)."""

    job_id: str
    owner: str
    name: str
    created: float
    request: str
    """The `LaunchRequest` as JSON, as asked (a held job is planned again from it to start)."""
    state: JobState = JobState.submitted
    run_id: str = ""
    """The client's own label for the job (UWS `RUNID`)."""
    destruction: float | None = None
    """When the job is archived (UWS `DESTRUCTION`); None: never."""
    duration: float | None = None
    """How long its instances may run, in seconds (UWS `EXECUTIONDURATION`); None: the
    platform's lifetime (`jobs.max_runtime_hours`), which also caps it."""
