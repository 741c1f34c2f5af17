"""The UWS jobs of the storage service: a sync transfer's negotiated endpoints, and moves,
recursive deletes and recursive property changes, which run when their client sets the phase
to RUN. Ids are unguessable; a job is only shown to the caller who made it; jobs are forgotten
after `KEEP` seconds, at most `PER_CALLER` are made by one caller in that time, and at most
`LIMIT` are kept (the oldest go first).

Jobs are kept in SQLite in the service's own state directory (`jobs_path`), every change
committed before the service answers, so a restart loses none: a PENDING job can still be run,
COMPLETED and ERROR jobs keep their results and errors, and a job the service was running when
it stopped is ERROR with a message saying so and what the files may look like (`interrupted`).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arcade_hub.jobs.sqlite import DatabaseThread, Transaction, connect
from arcade_hub.storage.fsops import Refused

KEEP = 3600.0
LIMIT = 20_000
PER_CALLER = 1000
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    phase TEXT NOT NULL,
    error TEXT,
    results TEXT NOT NULL,
    document BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, created);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created);
"""
RESTARTED = "the storage service restarted while this job ran"


def jobs_path(state_dir: Path) -> Path:
    """Where the service keeps its jobs: under its state directory (the hub's data directory
    on one machine, the service's own volume on Kubernetes), in a directory of its own, never
    under a user's path."""
    return state_dir / "vospace" / "jobs.sqlite"


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
    created: float = field(default_factory=time.time)

    def fail(self, refused: Refused) -> None:
        self.phase = "ERROR"
        self.error = refused.fault if refused.fault != "InternalFault" else refused.message


def interrupted(kind: str, payload: dict[str, Any]) -> str:
    """The error of a job that was EXECUTING when the service stopped: what happened and what
    the files may look like, so the user knows what to do."""

    def node(key: str) -> str:
        return "/" + "/".join(str(p) for p in payload.get(key) or ())

    if kind == "move":
        return (
            f"{RESTARTED}: a move is one rename, so {node('source')} is either still where "
            f"it was or already at {node('dest')}; look (vls) and move it again if it is not"
        )
    if kind == "delete":
        return (
            f"{RESTARTED}: part of {node('path')} may already be deleted and the rest still "
            "there; delete it again to finish"
        )
    if kind == "props":
        return (
            f"{RESTARTED}: some nodes in {node('path')} may have the new properties and others "
            "the old; set them again (it is safe to repeat)"
        )
    return f"{RESTARTED}; nothing was transferred: start the transfer again"


class JobTable:
    """The jobs' SQLite table; every method blocks (see `Jobs`)."""

    def __init__(
        self,
        path: Path,
        keep: float = KEEP,
        limit: int = LIMIT,
        per_caller: int = PER_CALLER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keep, self.limit, self.per_caller, self.clock = keep, limit, per_caller, clock
        self._db = connect(path, SCHEMA, private=True)

    def close(self) -> None:
        self._db.close()

    def recover(self) -> int:
        """At start: forget expired jobs; a job left EXECUTING, or a sync transfer whose
        negotiation was cut off (PENDING: it is never RUN), is ERROR (`interrupted`).
        Returns how many."""
        with Transaction(self._db):
            self._prune()
            rows = self._db.execute(
                "SELECT id, kind, payload FROM jobs WHERE phase = 'EXECUTING' "
                "OR (kind = 'sync' AND phase = 'PENDING')"
            ).fetchall()
            self._db.executemany(
                "UPDATE jobs SET phase = 'ERROR', error = ? WHERE id = ?",
                [(interrupted(r["kind"], json.loads(r["payload"])), r["id"]) for r in rows],
            )
        return len(rows)

    def create(self, owner: str | None, kind: str, payload: dict[str, Any]) -> Job:
        with Transaction(self._db):
            self._prune()
            (mine,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE owner IS ?", (owner,)
            ).fetchone()
            if mine >= self.per_caller:
                raise Refused(
                    429,
                    "InternalFault",
                    f"more than {self.per_caller} transfers in the last hour; wait a little",
                )
            job = Job(secrets.token_urlsafe(18), owner, kind, payload, created=self.clock())
            self._db.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    owner,
                    kind,
                    json.dumps(payload),
                    job.phase,
                    job.error,
                    json.dumps(job.results),
                    job.document,
                    job.created,
                ),
            )
        return job

    def get(self, job_id: str, caller: str | None) -> Job:
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or row["owner"] != caller or self._expired(row["created"]):
            raise Refused(404, "NodeNotFound", "no such job")
        return _job(row)

    def save(self, job: Job) -> None:
        """The job's phase, error, results and document as they are now."""
        with Transaction(self._db):
            self._db.execute(
                "UPDATE jobs SET phase = ?, error = ?, results = ?, document = ? WHERE id = ?",
                (job.phase, job.error, json.dumps(job.results), job.document, job.id),
            )

    def move_on(self, job: Job, before: str, after: str) -> bool:
        """`job` goes from phase `before` to `after` if it is still in `before` (one caller
        wins when two RUN it at once)."""
        with Transaction(self._db):
            moved = self._db.execute(
                "UPDATE jobs SET phase = ? WHERE id = ? AND phase = ?", (after, job.id, before)
            ).rowcount
        if moved:
            job.phase = after
        return bool(moved)

    def _expired(self, created: float) -> bool:
        return self.clock() - created > self.keep

    def _prune(self) -> None:
        self._db.execute("DELETE FROM jobs WHERE created < ?", (self.clock() - self.keep,))
        (count,) = self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()
        if count >= self.limit:
            self._db.execute(
                "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs ORDER BY created LIMIT ?)",
                (count - self.limit + 1,),
            )


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        owner=row["owner"],
        kind=row["kind"],
        payload=json.loads(row["payload"]),
        phase=row["phase"],
        error=row["error"],
        results=json.loads(row["results"]),
        document=bytes(row["document"]),
        created=row["created"],
    )


class Jobs:
    """`JobTable` for the service: its calls run in a thread of its own, in order."""

    def __init__(self, path: Path, **bounds: Any) -> None:
        self._thread = DatabaseThread("storage-jobs")
        self._table = self._thread.call(JobTable, path, **bounds)
        self.interrupted = self._thread.call(self._table.recover)
        self.closed = False

    async def create(self, owner: str | None, kind: str, payload: dict[str, Any]) -> Job:
        return await self._thread.run(self._table.create, owner, kind, payload)

    async def get(self, job_id: str, caller: str | None) -> Job:
        return await self._thread.run(self._table.get, job_id, caller)

    async def save(self, job: Job) -> None:
        if not self.closed:  # stopping: the next start finds the job as it was (`recover`)
            await self._thread.run(self._table.save, job)

    async def move_on(self, job: Job, before: str, after: str) -> bool:
        return await self._thread.run(self._table.move_on, job, before, after)

    def close(self) -> None:
        self.closed = True
        self._thread.call(self._table.close)
        self._thread.shutdown()
