"""Job records and interactive-session metadata in SQLite under the data directory.

Every change is committed before the API answers, so a restart of the service or the hub
loses no job. One writer (the arcade service); reads are cheap enough for 1,000s of records.
The service uses `JobStore`, whose calls run in the store's own thread so that the event loop
never waits for the disk; `JobDatabase` is the same store without the thread, for tools and
tests, and the hub only reads (`unfinished_instances`).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from arcade_hub.jobs.model import Instance, JobRecord, JobState, Status
from arcade_hub.jobs.sqlite import DatabaseThread, P, T, Transaction, connect
from arcade_hub.launch.spec import LaunchSpec

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    replica INTEGER NOT NULL,
    replicas INTEGER NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    spec TEXT NOT NULL,
    log TEXT NOT NULL,
    command TEXT NOT NULL,
    started REAL,
    finished REAL,
    expires REAL,
    exit_code INTEGER,
    pid INTEGER,
    pid_start INTEGER,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_owner ON instances (owner);
CREATE INDEX IF NOT EXISTS instances_job ON instances (job_id);
CREATE TABLE IF NOT EXISTS sessions (
    owner TEXT NOT NULL,
    server TEXT NOT NULL,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL,
    PRIMARY KEY (owner, server)
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    run_id TEXT NOT NULL,
    destruction REAL,
    duration REAL
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner);
"""

COLUMNS = [f.name for f in fields(Instance)]
JOB_COLUMNS = [f.name for f in fields(JobRecord)]
LIVE = (Status.pending, Status.running, Status.terminating)


def store_path(data_dir: Path) -> Path:
    """Where the arcade service keeps the job store."""
    return data_dir / "jobs" / "jobs.sqlite"


def unfinished_instances(data_dir: Path, owner: str) -> list[tuple[str, LaunchSpec]]:
    """(job id, spec) of `owner`'s instances that have not ended, for the hub (which only
    reads the store); nothing when there is no store yet."""
    path = store_path(data_dir)
    if not path.exists():
        return []
    db = sqlite3.connect(path, timeout=10)
    try:
        marks = ", ".join("?" for _ in LIVE)
        rows = db.execute(
            f"SELECT job_id, spec FROM instances WHERE owner = ? AND status IN ({marks})",
            [owner, *(s.value for s in LIVE)],
        ).fetchall()
    finally:
        db.close()
    return [(job_id, LaunchSpec.model_validate_json(spec)) for job_id, spec in rows]


@dataclass(frozen=True)
class SessionMeta:
    """What the API remembers about an interactive session besides the hub's server model."""

    owner: str
    server: str
    name: str
    created: float
    expires: float | None


class JobDatabase:
    """The store's SQLite connection; every method blocks (see `JobStore`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = connect(path, SCHEMA)

    def close(self) -> None:
        self._db.close()

    # --- instances ----------------------------------------------------------------------

    def add(self, instances: list[Instance]) -> None:
        marks = ", ".join("?" for _ in COLUMNS)
        with self._tx():
            self._db.executemany(
                f"INSERT INTO instances ({', '.join(COLUMNS)}) VALUES ({marks})",
                [_row(i) for i in instances],
            )

    def update(self, instance: Instance) -> None:
        sets = ", ".join(f"{c} = ?" for c in COLUMNS if c != "id")
        values = [v for c, v in zip(COLUMNS, _row(instance), strict=True) if c != "id"]
        with self._tx():
            self._db.execute(f"UPDATE instances SET {sets} WHERE id = ?", [*values, instance.id])

    def get(self, instance_id: str) -> Instance | None:
        row = self._db.execute("SELECT * FROM instances WHERE id = ?", (instance_id,)).fetchone()
        return _instance(row) if row else None

    def job(self, job_id: str) -> list[Instance]:
        rows = self._db.execute(
            "SELECT * FROM instances WHERE job_id = ? ORDER BY replica", (job_id,)
        ).fetchall()
        return [_instance(r) for r in rows]

    def of_owner(self, owner: str) -> list[Instance]:
        rows = self._db.execute(
            "SELECT * FROM instances WHERE owner = ? ORDER BY created, replica", (owner,)
        ).fetchall()
        return [_instance(r) for r in rows]

    def all(self) -> list[Instance]:
        rows = self._db.execute("SELECT * FROM instances ORDER BY created, replica").fetchall()
        return [_instance(r) for r in rows]

    def with_status(self, *statuses: Status) -> list[Instance]:
        marks = ", ".join("?" for _ in statuses)
        rows = self._db.execute(
            f"SELECT * FROM instances WHERE status IN ({marks}) ORDER BY created, replica",
            [s.value for s in statuses],
        ).fetchall()
        return [_instance(r) for r in rows]

    def unfinished(self, owner: str) -> list[tuple[str, LaunchSpec]]:
        """(job id, spec) of `owner`'s instances that have not ended."""
        return [
            (i.job_id, LaunchSpec.model_validate_json(i.spec))
            for i in self.of_owner(owner)
            if i.status in LIVE
        ]

    def remove(self, instance_ids: list[str]) -> None:
        with self._tx():
            self._db.executemany("DELETE FROM instances WHERE id = ?", [(i,) for i in instance_ids])

    def exists(self, some_id: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM instances WHERE id = ? OR job_id = ? "
            "UNION ALL SELECT 1 FROM jobs WHERE job_id = ? LIMIT 1",
            (some_id, some_id, some_id),
        ).fetchone()
        return row is not None

    # --- interactive sessions -----------------------------------------------------------

    def put_session(self, meta: SessionMeta) -> None:
        with self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?)",
                (meta.owner, meta.server, meta.name, meta.created, meta.expires),
            )

    def sessions(self, owner: str | None = None) -> dict[tuple[str, str], SessionMeta]:
        if owner is None:
            rows = self._db.execute("SELECT * FROM sessions").fetchall()
        else:
            rows = self._db.execute("SELECT * FROM sessions WHERE owner = ?", (owner,)).fetchall()
        return {(r["owner"], r["server"]): SessionMeta(**dict(r)) for r in rows}

    def remove_session(self, owner: str, server: str) -> None:
        with self._tx():
            self._db.execute("DELETE FROM sessions WHERE owner = ? AND server = ?", (owner, server))

    # --- jobs as a whole -------------------------------------------------------------------

    def put_job(self, record: JobRecord) -> None:
        values = [getattr(record, c) for c in JOB_COLUMNS]
        marks = ", ".join("?" for _ in JOB_COLUMNS)
        with self._tx():
            self._db.execute(f"INSERT OR REPLACE INTO jobs VALUES ({marks})", values)

    def get_job(self, job_id: str) -> JobRecord | None:
        row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return _job_record(row) if row else None

    def jobs_of(self, owner: str | None = None) -> dict[str, JobRecord]:
        """`owner`'s job records (everyone's without), by job id."""
        if owner is None:
            rows = self._db.execute("SELECT * FROM jobs").fetchall()
        else:
            rows = self._db.execute("SELECT * FROM jobs WHERE owner = ?", (owner,)).fetchall()
        return {r["job_id"]: _job_record(r) for r in rows}

    def past_destruction(self, now: float) -> list[JobRecord]:
        rows = self._db.execute(
            "SELECT * FROM jobs WHERE destruction < ? AND state != ?",
            (now, JobState.archived.value),
        ).fetchall()
        return [_job_record(r) for r in rows]

    def remove_job(self, job_id: str) -> None:
        with self._tx():
            self._db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))

    def _tx(self) -> Transaction:
        return Transaction(self._db)


class JobStore:
    """`JobDatabase` for the service: one thread owns the connection and runs every call, in
    order; the event loop awaits the result."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = DatabaseThread("job-store")
        self._db = self._thread.call(JobDatabase, path)
        self._changed = asyncio.Event()
        self.closed = False

    async def _run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._thread.run(call, *args, **kwargs)

    async def _change(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A call that changes records: whoever waits for a change (`changed`) is woken."""
        try:
            return await self._run(call, *args, **kwargs)
        finally:
            self._wake()

    def changed(self) -> asyncio.Event:
        """Set at the next change of any record (or when the store closes): take it before
        reading what to compare, then wait on it."""
        return self._changed

    def _wake(self) -> None:
        self._changed.set()
        if not self.closed:  # once closed, the set event stays: nobody waits any more
            self._changed = asyncio.Event()

    def close(self) -> None:
        self.closed = True
        self._wake()
        self._thread.call(self._db.close)
        self._thread.shutdown()

    async def add(self, instances: list[Instance]) -> None:
        await self._change(self._db.add, instances)

    async def update(self, instance: Instance) -> None:
        await self._change(self._db.update, instance)

    async def get(self, instance_id: str) -> Instance | None:
        return await self._run(self._db.get, instance_id)

    async def job(self, job_id: str) -> list[Instance]:
        return await self._run(self._db.job, job_id)

    async def of_owner(self, owner: str) -> list[Instance]:
        return await self._run(self._db.of_owner, owner)

    async def all(self) -> list[Instance]:
        return await self._run(self._db.all)

    async def with_status(self, *statuses: Status) -> list[Instance]:
        return await self._run(self._db.with_status, *statuses)

    async def unfinished(self, owner: str) -> list[tuple[str, LaunchSpec]]:
        return await self._run(self._db.unfinished, owner)

    async def remove(self, instance_ids: list[str]) -> None:
        await self._change(self._db.remove, instance_ids)

    async def exists(self, some_id: str) -> bool:
        return await self._run(self._db.exists, some_id)

    async def put_session(self, meta: SessionMeta) -> None:
        await self._run(self._db.put_session, meta)

    async def sessions(self, owner: str | None = None) -> dict[tuple[str, str], SessionMeta]:
        return await self._run(self._db.sessions, owner)

    async def remove_session(self, owner: str, server: str) -> None:
        await self._run(self._db.remove_session, owner, server)

    async def put_job(self, record: JobRecord) -> None:
        await self._change(self._db.put_job, record)

    async def get_job(self, job_id: str) -> JobRecord | None:
        return await self._run(self._db.get_job, job_id)

    async def jobs_of(self, owner: str | None = None) -> dict[str, JobRecord]:
        return await self._run(self._db.jobs_of, owner)

    async def past_destruction(self, now: float) -> list[JobRecord]:
        return await self._run(self._db.past_destruction, now)

    async def remove_job(self, job_id: str) -> None:
        await self._change(self._db.remove_job, job_id)


def _row(instance: Instance) -> list[Any]:
    values: list[Any] = []
    for name in COLUMNS:
        value = getattr(instance, name)
        if name == "command":
            value = json.dumps(value)
        elif name == "status":
            value = value.value
        values.append(value)
    return values


def _job_record(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    data["state"] = JobState(data["state"])
    return JobRecord(**data)


def _instance(row: sqlite3.Row) -> Instance:
    data = dict(row)
    data["command"] = json.loads(data["command"])
    data["status"] = Status(data["status"])
    return Instance(**data)
