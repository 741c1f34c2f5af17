"""The UWS jobs of the storage service, in memory: a sync transfer's negotiated endpoints, and
moves, recursive deletes and recursive property changes, which run when their client sets the
phase to RUN. Ids are unguessable; a job is only shown to the caller who made it; jobs are
forgotten after `KEEP` seconds, and at most `LIMIT` are kept (the oldest go first)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from arcade_hub.storage.fsops import Refused

KEEP = 3600.0
LIMIT = 20_000
PER_CALLER = 1000


@dataclass
class Job:
    id: str
    owner: str | None
    kind: str
    """`sync` (a negotiated transfer), `move`, `delete` or `props`."""
    payload: dict[str, Any]
    phase: str = "PENDING"
    error: str | None = None
    """What the client reads at `<job>/error`: a VOSpace fault name or a message."""
    results: dict[str, str] = field(default_factory=dict)
    document: bytes = b""
    """A sync transfer's negotiated transfer document."""
    created: float = field(default_factory=time.monotonic)

    def fail(self, refused: Refused) -> None:
        self.phase = "ERROR"
        self.error = refused.fault if refused.fault != "InternalFault" else refused.message


class Jobs:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}

    def create(self, owner: str | None, kind: str, payload: dict[str, Any]) -> Job:
        self._prune()
        mine = sum(1 for j in self._jobs.values() if j.owner == owner)
        if mine >= PER_CALLER:
            raise Refused(
                429,
                "InternalFault",
                f"more than {PER_CALLER} transfers in the last hour; wait a little",
            )
        job = Job(secrets.token_urlsafe(18), owner, kind, payload)
        self._jobs[job.id] = job
        return job

    def get(self, job_id: str, caller: str | None, kind: str | None = None) -> Job:
        job = self._jobs.get(job_id)
        if job is None or job.owner != caller or (kind is not None and job.kind != kind):
            raise Refused(404, "NodeNotFound", "no such job")
        return job

    def _prune(self) -> None:
        now = time.monotonic()
        for job_id, job in list(self._jobs.items()):
            if now - job.created > KEEP:
                del self._jobs[job_id]
        while len(self._jobs) >= LIMIT:
            del self._jobs[next(iter(self._jobs))]
